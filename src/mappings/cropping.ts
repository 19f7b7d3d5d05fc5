/**
 * Cropping2D / Cropping1D → Caffe Slice layers (one per cropped axis).
 *
 * Slice needs no reference blob (Caffe's Crop does: its second bottom must already have the
 * target shape, which no blob of the net generally has). A Slice with slice points
 * [begin, size − end] cuts the axis into up to three tops; the middle one is the crop, the others
 * are left unused (Caffe and OpenCV accept unconsumed tops). Exact: values are copied.
 */
import type { CaffeLayer } from '../caffe/net.js';
import { mapped, pair, refused, requireRank, ShapeError } from './common.js';
import type { LayerMapping, MappingContext, MappingResult } from './types.js';

/**
 * A Slice keeping [begin, size − end) of Caffe axis `axis` of `bottom` as `top`, or no layer
 * when nothing is cut. `name(suffix)` makes the names of the discarded tops.
 */
export function sliceKeep(name: string, bottom: string, top: string, axis: number, size: number, begin: number, end: number, extra: (suffix: string) => string): CaffeLayer | null {
  if (begin === 0 && end === 0) return null;
  const points: number[] = [];
  const tops: string[] = [];
  if (begin > 0) {
    points.push(begin);
    tops.push(extra(axis === 2 ? 'cut_top' : 'cut_left'));
  }
  tops.push(top);
  if (end > 0) {
    points.push(size - end);
    tops.push(extra(axis === 2 ? 'cut_bottom' : 'cut_right'));
  }
  return { name, type: 'Slice', bottom: [bottom], top: tops, params: { slice_param: { axis, slice_point: points } } };
}

/** ((top, bottom), (left, right)) of a Cropping2D config (int, pair of ints, or pair of pairs). */
export function cropping2dAmounts(cropping: unknown): [number, number, number, number] {
  if (typeof cropping === 'number') return [cropping, cropping, cropping, cropping];
  if (Array.isArray(cropping) && cropping.length === 2) {
    const [a, b] = cropping;
    if (typeof a === 'number' && typeof b === 'number') return [a, a, b, b];
    const pa = pair(a, 'cropping'),
      pb = pair(b, 'cropping');
    if (Array.isArray(a) && a.length === 2 && Array.isArray(b) && b.length === 2) return [pa[0], pa[1], pb[0], pb[1]];
  }
  throw new ShapeError(`cropping ${JSON.stringify(cropping)} is not an int, a pair or a pair of pairs`);
}

function crop(ctx: MappingContext, cuts: [number, number, number, number]): MappingResult {
  const input = ctx.inputs[0];
  if (input.layout.kind !== 'nchw') return refused('Cropping of a reordered (flattened) tensor');
  if (input.pendingPad && input.pendingPad.some((x) => x)) return refused('a folded ZeroPadding2D before Cropping cannot be applied');
  const is2d = input.shape.length === 3;
  const [h, w] = is2d ? [input.shape[0], input.shape[1]] : [1, input.shape[0]];
  const out = ctx.name();
  const layers: CaffeLayer[] = [];
  const cutRows = cuts[0] + cuts[1] > 0;
  const cutCols = cuts[2] + cuts[3] > 0;
  if (!cutRows && !cutCols)
    return mapped([], [{ ...input, shape: ctx.outputShapes[0] }], { summary: 'Cropping by 0 is the identity: no Caffe layer.', params: [], weights: [], notes: [] });
  let cur = input.blob;
  if (cutRows) {
    const top = cutCols ? ctx.name('rows') : out;
    layers.push(sliceKeep(top, cur, top, 2, h, cuts[0], cuts[1], (s) => ctx.name(s))!);
    cur = top;
  }
  if (cutCols) layers.push(sliceKeep(out, cur, out, 3, w, cuts[2], cuts[3], (s) => ctx.name(s))!);
  return mapped(layers, [{ blob: out, shape: ctx.outputShapes[0], layout: { kind: 'nchw' }, ...(input.nonNegative ? { nonNegative: true } : {}) }], {
    summary: `${ctx.layer.className} → ${layers.length === 2 ? 'two Slice layers (rows, then columns)' : 'a Slice layer'} keeping the middle part.`,
    params: [['cropping', is2d ? `top ${cuts[0]}, bottom ${cuts[1]}, left ${cuts[2]}, right ${cuts[3]}` : `start ${cuts[2]}, end ${cuts[3]}`]],
    weights: [],
    notes: ['Slice copies values, so the crop is exact; the cut-off tops are left unused. (Crop would need a reference blob of the target shape.)'],
  });
}

export const cropping2dMapping: LayerMapping = {
  kerasClasses: ['Cropping2D'],
  doc: { caffe: 'Slice (axis 2 and/or 3)', restrictions: 'any crop; the cut parts become unused Slice tops' },
  inferShapes(config, inputs) {
    requireRank(inputs, 3, 'Cropping2D');
    const c = cropping2dAmounts(config.cropping ?? [[0, 0], [0, 0]]);
    const [h, w, ch] = inputs[0];
    const oh = h - c[0] - c[1];
    const ow = w - c[2] - c[3];
    if (c.some((x) => !Number.isInteger(x) || x < 0)) throw new ShapeError(`cropping must be non-negative integers, got ${JSON.stringify(config.cropping)}`);
    if (oh <= 0 || ow <= 0) throw new ShapeError(`cropping ${JSON.stringify(config.cropping)} leaves nothing of the ${h}×${w} input`);
    return [[oh, ow, ch]];
  },
  map(ctx) {
    return crop(ctx, cropping2dAmounts(ctx.config.cropping ?? [[0, 0], [0, 0]]));
  },
};

export const cropping1dMapping: LayerMapping = {
  kerasClasses: ['Cropping1D'],
  doc: { caffe: 'Slice (axis 3 of the 1×C×1×S blob)', restrictions: 'any crop' },
  inferShapes(config, inputs) {
    requireRank(inputs, 2, 'Cropping1D');
    const [b, e] = pair(config.cropping ?? [1, 1], 'cropping');
    if (b < 0 || e < 0) throw new ShapeError('cropping must be non-negative');
    const n = inputs[0][0] - b - e;
    if (n <= 0) throw new ShapeError(`cropping leaves nothing of the ${inputs[0][0]} steps`);
    return [[n, inputs[0][1]]];
  },
  map(ctx) {
    const [b, e] = pair(ctx.config.cropping ?? [1, 1], 'cropping');
    return crop(ctx, [0, 0, b, e]);
  },
};
