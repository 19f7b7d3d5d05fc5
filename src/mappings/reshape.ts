/**
 * Keras Reshape. Keras reshapes in row-major channels-last order; a Caffe Reshape keeps the blob's
 * own (channels-first) order. Element k of a Keras tensor of shape [.., C] (spatial size P = N/C)
 * sits at Caffe position (k mod C)·P + ⌊k/C⌋ ("π"), the identity when C = 1 or P = 1. A Caffe
 * Reshape is therefore exact exactly when π is the same for the input and the output shape:
 * both identities, or the same channel count C (and P > 1) — e.g. [H,W,C] ↔ [H·W, C] ↔ [H',W',C],
 * [C] ↔ [1,1,C]. Reshapes to 1-D behave like Flatten (a reordered `flat-chw` layout that the next
 * Dense absorbs). Any other reshape needs a transpose: Permute where the target has it, else refused.
 */
import type { CaffeLayer } from '../caffe/net.js';
import { caffeInputDims, mapped, refused, shapeText, ShapeError } from './common.js';
import { flattenMapping } from './flatten.js';
import type { BlobRef, LayerMapping, MappingContext, MappingResult, Shape } from './types.js';

const count = (s: Shape) => s.reduce((a, b) => a * b, 1);
const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Keras Reshape's output shape: target_shape with at most one −1 filled in. */
export function reshapeTarget(targetShape: unknown, input: Shape): Shape {
  if (!Array.isArray(targetShape) || targetShape.some((d) => d !== null && typeof d !== 'number'))
    throw new ShapeError(`target_shape ${JSON.stringify(targetShape)} is not a list of integers`);
  const dims = targetShape.map((d) => (d === null ? -1 : Number(d)));
  const unknown = dims.filter((d) => d === -1).length;
  if (unknown > 1) throw new ShapeError(`target_shape ${JSON.stringify(targetShape)} has more than one unknown (−1) dimension`);
  if (dims.some((d) => d !== -1 && (!Number.isInteger(d) || d <= 0))) throw new ShapeError(`target_shape ${JSON.stringify(targetShape)} has an invalid dimension`);
  const total = count(input);
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  if (unknown) {
    if (total % known !== 0) throw new ShapeError(`cannot reshape ${shapeText(input)} (${total} values) to ${shapeText(targetShape as number[])}`);
    return dims.map((d) => (d === -1 ? total / known : d));
  }
  if (known !== total) throw new ShapeError(`cannot reshape ${shapeText(input)} (${total} values) to ${shapeText(dims)} (${known} values)`);
  return dims;
}

/** The (C, P) of π for a Keras shape; null when π is the identity. */
function shuffleOf(s: Shape): [number, number] | null {
  const c = s.length >= 2 ? s[s.length - 1] : 1;
  const p = count(s) / c;
  return c === 1 || p === 1 ? null : [c, p];
}

/** Whether Keras order and Caffe blob order relate the same way for both shapes. */
export function sameElementOrder(a: Shape, b: Shape): boolean {
  const x = shuffleOf(a);
  const y = shuffleOf(b);
  if (!x || !y) return !x && !y;
  return x[0] === y[0] && x[1] === y[1];
}

function pass(input: BlobRef, shape: Shape, summary: string, notes: string[]): MappingResult {
  return mapped([], [{ ...input, shape }], { summary, params: [['target_shape', shapeText(shape)]], weights: [], notes });
}

function mapReshape(ctx: MappingContext): MappingResult {
  const input = ctx.inputs[0];
  if (input.pendingPad?.some((p) => p)) return refused('Reshape of a folded ZeroPadding2D output (the padding is not applied yet)');
  if (input.shape.length > 3) return refused(`Reshape of a rank-${input.shape.length} tensor ${shapeText(input.shape)} is not supported`);
  const o = ctx.outputShapes[0];
  if (o.length > 3) return refused(`Reshape to a rank-${o.length} tensor ${shapeText(o)} has no Caffe blob layout here (at most H×W×C)`);
  const nonNeg = input.nonNegative ? { nonNegative: true as const } : {};
  const out = ctx.name();

  // The Keras shape whose standard Caffe blob holds the input's values in its blob order.
  let from: Shape = input.shape;
  if (input.layout.kind === 'flat-chw') {
    if (o.length === 1) return pass(input, o, `Reshape to ${shapeText(o)} of a flattened vector changes nothing; it is dropped.`, ['The vector keeps the C,H,W order of the Flatten before it.']);
    from = input.layout.from;
  } else if (sameShape(input.shape, o)) {
    return pass(input, o, `Reshape to the same shape ${shapeText(o)} is dropped.`, []);
  }

  if (sameElementOrder(from, o)) {
    const dims = caffeInputDims(o);
    const notes =
      input.layout.kind === 'flat-chw'
        ? [`The input is a Flatten of ${shapeText(from)} held in C,H,W order; ${shapeText(o)} has that same order in Caffe, so a Caffe Reshape restores it exactly.`]
        : [`Keras (H,W,C order) and Caffe (C,H,W order) agree on which element goes where for ${shapeText(input.shape)} → ${shapeText(o)}, so a Caffe Reshape is exact.`];
    if (sameShape(caffeInputDims(from), dims) && input.layout.kind === 'nchw')
      return mapped([], [{ blob: input.blob, shape: o, layout: { kind: 'nchw' }, ...nonNeg }], {
        summary: `Reshape ${shapeText(input.shape)} → ${shapeText(o)} has the same Caffe blob ${shapeText(dims)}; it is dropped.`,
        params: [['target_shape', shapeText(o)]],
        weights: [],
        notes,
      });
    return mapped(
      [{ name: out, type: 'Reshape', bottom: [input.blob], top: [out], params: { reshape_param: { shape: { dim: [0, ...dims.slice(1)] } } } }],
      [{ blob: out, shape: o, layout: { kind: 'nchw' }, ...nonNeg }],
      {
        summary: `Reshape ${shapeText(input.shape)} → ${shapeText(o)} → Caffe Reshape to ${shapeText(dims)}.`,
        params: [['target_shape', `reshape_param.shape.dim = [0, ${dims.slice(1).join(', ')}] (0 keeps the batch)`]],
        weights: [],
        notes,
      },
    );
  }

  if (o.length === 1 && input.layout.kind === 'nchw') {
    // Like Flatten: Caffe flattens in C,H,W order and the consumer (Dense) permutes its rows.
    const r = flattenMapping.map(ctx);
    if (r.kind !== 'mapped') return r;
    return {
      ...r,
      explanation: { ...r.explanation, summary: `Reshape ${shapeText(input.shape)} → ${shapeText(o)} flattens: ${r.explanation.summary}` },
    };
  }

  if (ctx.target.has('Permute')) {
    // Into Keras order (N,H,W,C), reshape there, back to Caffe order.
    const layers: CaffeLayer[] = [];
    let cur = input.blob;
    if (input.layout.kind === 'flat-chw') {
      const t = ctx.name('unflat');
      layers.push({ name: t, type: 'Reshape', bottom: [cur], top: [t], params: { reshape_param: { shape: { dim: [0, ...caffeInputDims(from).slice(1)] } } } });
      cur = t;
    }
    if (shuffleOf(from)) {
      const t = ctx.name('nhwc');
      layers.push({ name: t, type: 'Permute', bottom: [cur], top: [t], params: { permute_param: { order: [0, 2, 3, 1] } } });
      cur = t;
    }
    const kerasDims = o.length === 3 ? [0, o[0], o[1], o[2]] : o.length === 2 ? [0, 1, o[0], o[1]] : [0, o[0]];
    const needBack = !!shuffleOf(o);
    const rTop = needBack ? ctx.name('keras_order') : out;
    layers.push({ name: rTop, type: 'Reshape', bottom: [cur], top: [rTop], params: { reshape_param: { shape: { dim: needBack ? kerasDims : [0, ...caffeInputDims(o).slice(1)] } } } });
    if (needBack) layers.push({ name: out, type: 'Permute', bottom: [rTop], top: [out], params: { permute_param: { order: [0, 3, 1, 2] } } });
    return mapped(layers, [{ blob: out, shape: o, layout: { kind: 'nchw' }, ...nonNeg }], {
      summary: `Reshape ${shapeText(input.shape)} → ${shapeText(o)} reorders elements between channels-last and channels-first → Permute to N,H,W,C, Reshape, Permute back.`,
      params: [['target_shape', shapeText(o)]],
      weights: [],
      notes: [`Keras reshapes in H,W,C order; a plain Caffe Reshape would use C,H,W order and scramble ${shapeText(input.shape)} → ${shapeText(o)}. Permute (on ${ctx.target.name}) moves to Keras order and back.`],
    });
  }
  return refused(
    `Reshape ${shapeText(input.layout.kind === 'flat-chw' ? from : input.shape)}${input.layout.kind === 'flat-chw' ? ' (flattened)' : ''} → ${shapeText(o)} moves elements between the channel and spatial axes (Keras reshapes in H,W,C order, Caffe in C,H,W order); target '${ctx.target.name}' has no Permute layer to reorder them (--target opencv has)`,
  );
}

export const reshapeMapping: LayerMapping = {
  kerasClasses: ['Reshape'],
  doc: {
    caffe: 'Reshape, Flatten, or nothing; Permute + Reshape + Permute where the element order changes',
    restrictions:
      'exact when channels-last and channels-first orders agree ([C] ↔ [1,1,C], [H,W,C] ↔ [H·W,C] ↔ [H\',W\',C], same Caffe blob → dropped); to 1-D like Flatten; other reshapes need Permute',
    perTarget: { opencv: 'reshapes that reorder channels and positions → Permute(0,2,3,1), Reshape, Permute(0,3,1,2)' },
  },
  inferShapes(config, inputs) {
    return [reshapeTarget(config.target_shape, inputs[0])];
  },
  map: mapReshape,
};
