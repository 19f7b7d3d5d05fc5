import { mapped } from './common.js';
import type { LayerMapping } from './types.js';

/** Layers that are the identity at inference time. */
export const dropoutMapping: LayerMapping = {
  kerasClasses: ['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'SpatialDropout3D', 'GaussianDropout', 'GaussianNoise', 'AlphaDropout', 'ActivityRegularization'],
  doc: { caffe: '(none)', restrictions: 'identity at inference: dropped' },
  inferShapes: (_c, inputs) => [inputs[0]],
  map(ctx) {
    return mapped([], [ctx.inputs[0]], {
      summary: `${ctx.layer.className} does nothing at inference time, so it is dropped.`,
      params: [],
      weights: [],
      notes: ['Keras applies dropout and noise only in training; Caffe deploy nets omit them.'],
    });
  },
};
