import type { LayerMapping } from './types.js';

/** InputLayer is planned by the planner itself (it has no bottom); this entry documents it. */
export const inputMapping: LayerMapping = {
  kerasClasses: ['InputLayer'],
  doc: { caffe: 'Input', restrictions: 'NHWC shape → NCHW dims, batch 1; unknown H×W need --input-shape' },
  inferShapes: (_c, inputs) => inputs,
  map: () => ({ kind: 'unsupported', reason: 'InputLayer is planned by the planner' }),
};
