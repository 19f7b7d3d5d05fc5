import { mapped, ShapeError } from './common.js';
import type { LayerMapping } from './types.js';

export const flattenMapping: LayerMapping = {
  kerasClasses: ['Flatten'],
  doc: {
    caffe: 'Flatten',
    restrictions: 'Caffe flattens C,H,W, Keras H,W,C: the next Dense gets permuted rows; a Flatten that feeds a model output needs H=W=1',
  },
  inferShapes(_config, inputs) {
    const s = inputs[0];
    if (s.length === 0) throw new ShapeError('Flatten needs a tensor');
    return [[s.reduce((a, b) => a * b, 1)]];
  },
  map(ctx) {
    const input = ctx.inputs[0];
    const out = ctx.name();
    const s = input.shape;
    const spatial = s.length === 3 ? s[0] * s[1] : s.length === 2 ? s[0] : 1;
    const reordered = s.length >= 2 && spatial > 1;
    const layout = reordered
      ? { kind: 'flat-chw' as const, from: (s.length === 3 ? [s[0], s[1], s[2]] : [1, s[0], s[1]]) as [number, number, number] }
      : { kind: 'nchw' as const };
    return mapped(
      [{ name: out, type: 'Flatten', bottom: [input.blob], top: [out] }],
      [{ blob: out, shape: ctx.outputShapes[0], layout, ...(input.nonNegative ? { nonNegative: true } : {}) }],
      {
        summary: 'Flatten → Caffe Flatten.',
        params: [],
        weights: [],
        notes: reordered
          ? ['Keras flattens in H,W,C order; Caffe flattens its C,H,W blob in C,H,W order. The values are the same but in another order; the following Dense layer permutes its kernel rows to match.']
          : ['With a 1×1 spatial size both orders agree.'],
      },
    );
  },
};
