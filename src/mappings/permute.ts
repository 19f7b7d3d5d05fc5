/**
 * Permute(dims) → Caffe Permute (PermuteParameter, field 202 of the SSD fork of Caffe, as read by
 * OpenCV's importer): output axis j takes input axis order[j], the batch axis 0 included.
 * BVLC Caffe (1.0 and master) has no Permute layer, so other targets refuse.
 *
 * Keras dims are 1-based over the non-batch axes: output axis i is input axis dims[i−1]. Both
 * blobs keep the standard layout ([H,W,C] ↔ 1×C×H×W, [S,C] ↔ 1×C×1×S), so the Caffe order is
 * order[caffeAxisOut(i)] = caffeAxisIn(dims[i−1]), with the batch (and the S-blob's H = 1 axis)
 * kept in place.
 */
import { mapped, refused, ShapeError } from './common.js';
import type { LayerMapping, MappingResult, Shape } from './types.js';

/** Keras axis (1-based, no batch) → Caffe blob axis, for a tensor of rank `rank`. */
function caffeAxisOf(axis: number, rank: number): number {
  if (rank === 3) return [0, 2, 3, 1][axis];
  if (rank === 2) return [0, 3, 1][axis];
  return axis;
}

/** Caffe blob rank of a Keras tensor of rank `rank` (batch included). */
function blobRank(rank: number): number {
  return rank === 2 || rank === 3 ? 4 : rank + 1;
}

export function permuteDims(config: Record<string, any>, shape: Shape): number[] {
  const dims = config.dims;
  const r = shape.length;
  if (!Array.isArray(dims) || dims.length !== r || [...dims].sort((a, b) => a - b).some((d, i) => d !== i + 1))
    throw new ShapeError(`dims ${JSON.stringify(dims)} is not a permutation of 1..${r} for an input of shape [${shape}]`);
  return dims;
}

/** The Caffe Permute order for Keras dims on a tensor of rank r. */
export function caffePermuteOrder(dims: number[]): number[] {
  const r = dims.length;
  const n = blobRank(r);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 1; i <= r; i++) order[caffeAxisOf(i, r)] = caffeAxisOf(dims[i - 1], r);
  return order;
}

export const permuteMapping: LayerMapping = {
  kerasClasses: ['Permute'],
  doc: {
    caffe: 'Permute (SSD-fork/OpenCV extension)',
    restrictions: 'only on targets with a Permute layer; BVLC Caffe has none',
    perTarget: { opencv: 'Permute with the batch axis first', 'caffe-1.0': 'refused (no Permute layer)', bvlc: 'refused (no Permute layer)' },
  },
  inferShapes(config, inputs) {
    if (inputs.length !== 1) throw new ShapeError('Permute takes one input');
    const dims = permuteDims(config, inputs[0]);
    return [dims.map((d) => inputs[0][d - 1])];
  },
  map(ctx): MappingResult {
    const input = ctx.inputs[0];
    if (input.layout.kind !== 'nchw') return refused('Permute of a reordered (flattened) tensor');
    if (input.pendingPad && input.pendingPad.some((x) => x)) return refused('a folded ZeroPadding2D before Permute cannot be applied');
    const dims = permuteDims(ctx.config, input.shape);
    const order = caffePermuteOrder(dims);
    const out = ctx.name();
    if (order.every((a, i) => a === i))
      return mapped([], [{ ...input, shape: ctx.outputShapes[0] }], { summary: 'Permute with the identity order: no Caffe layer.', params: [['dims', JSON.stringify(dims)]], weights: [], notes: [] });
    if (!ctx.target.has('Permute'))
      return refused(`Permute ${JSON.stringify(dims)} needs a Caffe Permute layer, which target '${ctx.target.name}' does not have (BVLC Caffe has none; it is an SSD-fork extension that OpenCV reads): use --target opencv`);
    return mapped(
      [{ name: out, type: 'Permute', bottom: [input.blob], top: [out], params: { permute_param: { order } } }],
      [{ blob: out, shape: ctx.outputShapes[0], layout: { kind: 'nchw' }, ...(input.nonNegative ? { nonNegative: true } : {}) }],
      {
        summary: `Permute ${JSON.stringify(dims)} → Caffe Permute order [${order.join(', ')}] (batch axis first).`,
        params: [['dims', `order [${order.join(', ')}]`]],
        weights: [],
        notes: [
          'Keras dims count the non-batch axes from 1 in NHWC; the Caffe order counts blob axes from 0 (N, C, H, W) and includes the batch.',
          'Both blobs keep the standard layout, so the order composes the permutation with the NHWC ↔ NCHW mapping.',
        ],
      },
    );
  },
};
