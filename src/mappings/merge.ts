/**
 * Keras merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.
 *
 * Keras (keras 2.3.1 keras/layers/merge.py _Merge) broadcasts numpy-style: shapes are aligned at
 * the end, a dimension of 1 stretches. Caffe's Eltwise needs equal blob shapes, so a broadcast
 * operand is first stretched exactly: Scale(ones, b) where `ones` is Power(scale 0, shift 1) of a
 * full-size input (Caffe power_layer.cpp fills 1 for scale 0 whatever the input) and the
 * two-bottom Scale multiplies each element by b broadcast over the axes it lacks
 * (scale_layer.cpp: bottom[1]'s shape must equal bottom[0]'s dims axis..axis+k). Multiply uses
 * that Scale directly.
 */
import type { CaffeLayer } from '../caffe/net.js';
import { caffeAxis, caffeInputDims, mapped, refused, shapeText, ShapeError } from './common.js';
import type { BlobLayout, BlobRef, LayerMapping, MappingContext, MappingResult, Shape } from './types.js';

type ElementwiseOp = 'Add' | 'Subtract' | 'Multiply' | 'Average' | 'Maximum' | 'Minimum';

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);
const isScalar = (s: Shape) => s.every((d) => d === 1);

/** numpy/Keras broadcasting of shapes aligned at the end. */
export function broadcastShapes(shapes: Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && v !== d) throw new ShapeError(`shapes ${shapes.map(shapeText).join(', ')} do not broadcast`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

/**
 * How a broadcast operand of Keras shape `s` becomes a Scale's second bottom against a full blob
 * of Keras shape `full`: the operand's blob is reshaped to `dims` and applied at Caffe `axis`.
 * Null when its non-1 axes are not one contiguous run of the Caffe blob (Scale cannot express it).
 */
export function scaleBroadcast(s: Shape, full: Shape): { axis: number; dims: number[] } | null {
  const aligned = [...new Array(full.length - s.length).fill(1), ...s];
  const D = caffeInputDims(full);
  const B = caffeInputDims(aligned);
  if (D.length !== B.length) return null;
  const kept: number[] = [];
  for (let i = 1; i < D.length; i++) if (B[i] !== 1) kept.push(i);
  if (kept.length === 0) return { axis: 0, dims: [1] };
  const a = kept[0];
  const e = kept[kept.length - 1] + 1;
  for (let i = a; i < e; i++) if (B[i] !== D[i]) return null;
  // Starting at the channel axis, keep the batch axis too (stays right for any batch size).
  if (a === 1) return { axis: 0, dims: D.slice(0, e) };
  return { axis: a, dims: D.slice(a, e) };
}

function pendingPadRefusal(inputs: BlobRef[]): string | undefined {
  return inputs.some((i) => i.pendingPad?.some((p) => p)) ? 'a merge of a folded ZeroPadding2D output (the padding is not applied yet)' : undefined;
}

/** The common layout of elementwise operands, or a refusal. Scalars fit any layout. */
function elementwiseLayout(inputs: BlobRef[], out: Shape): BlobLayout | string {
  const shaped = inputs.filter((i) => !isScalar(i.shape));
  if (shaped.every((i) => i.layout.kind === 'nchw')) return { kind: 'nchw' };
  const first = shaped.find((i) => i.layout.kind === 'flat-chw')!.layout as Extract<BlobLayout, { kind: 'flat-chw' }>;
  const ok = shaped.every(
    (i) => i.layout.kind === 'flat-chw' && i.layout.from.every((d, k) => d === first.from[k]) && sameShape(i.shape, out),
  );
  if (ok) return first;
  return `the inputs hold their elements in different orders in Caffe (${inputs
    .map((i) => (i.layout.kind === 'flat-chw' ? `Flatten of ${shapeText(i.layout.from)} in C,H,W order` : `${shapeText(i.shape)} standard`))
    .join(' vs ')}), so an elementwise merge would pair the wrong elements`;
}

function inferElementwise(config: Record<string, any>, inputs: Shape[], cls: string): Shape[] {
  if (inputs.length < 2) throw new ShapeError(`${cls} needs at least 2 inputs, got ${inputs.length}`);
  if (cls === 'Subtract' && inputs.length !== 2) throw new ShapeError(`Subtract needs exactly 2 inputs, got ${inputs.length}`);
  return [broadcastShapes(inputs)];
}

function mapElementwise(ctx: MappingContext): MappingResult {
  const op = ctx.layer.className as ElementwiseOp;
  const inputs = ctx.inputs;
  const n = inputs.length;
  const pad = pendingPadRefusal(inputs);
  if (pad) return refused(pad);
  const o = ctx.outputShapes[0];
  const layout = elementwiseLayout(inputs, o);
  if (typeof layout === 'string') return refused(layout);
  const full = inputs.findIndex((i) => sameShape(i.shape, o));
  if (full < 0)
    return refused(`no input has the full output shape ${shapeText(o)} (inputs ${inputs.map((i) => shapeText(i.shape)).join(', ')}); Caffe cannot broadcast two operands against each other`);
  const plans = inputs.map((i) => (sameShape(i.shape, o) ? null : scaleBroadcast(i.shape, o)));
  for (let k = 0; k < n; k++)
    if (!sameShape(inputs[k].shape, o) && !plans[k])
      return refused(`input ${shapeText(inputs[k].shape)} broadcasts to ${shapeText(o)} over axes that are not one contiguous run of the Caffe blob ${shapeText(caffeInputDims(o))}; Caffe's Scale cannot stretch it`);

  const out = ctx.name();
  const layers: CaffeLayer[] = [];
  const notes: string[] = [];
  const broadcasting = plans.some((p) => p);

  /** The operand's blob, reshaped for use as a Scale's second bottom. */
  const scaleOperand = (k: number): string => {
    const p = plans[k]!;
    const have = caffeInputDims(inputs[k].shape);
    if (sameShape(have, p.dims)) return inputs[k].blob;
    const r = ctx.name(`in${k}_dims`);
    layers.push({ name: r, type: 'Reshape', bottom: [inputs[k].blob], top: [r], params: { reshape_param: { shape: { dim: p.dims } } } });
    return r;
  };
  if (broadcasting) {
    const stretched = inputs.filter((i) => !sameShape(i.shape, o)).map((i) => shapeText(i.shape));
    notes.push(`Keras broadcasts ${stretched.join(', ')} to ${shapeText(o)}; Caffe's Eltwise needs equal shapes, so a two-bottom Scale stretches ${stretched.length > 1 ? 'them' : 'it'} exactly.`);
    if (plans.some((p) => p && p.axis > 0))
      notes.push('The stretched operand is applied from a non-batch axis, which assumes batch size 1 (as the deploy net declares).');
  }

  const nonNeg = inputs.map((i) => !!i.nonNegative);
  let nonNegative = false;
  let summary: string;
  const params: [string, string][] = [];

  if (op === 'Multiply') {
    const equal = inputs.map((_, k) => k).filter((k) => !plans[k]);
    const bcast = inputs.map((_, k) => k).filter((k) => plans[k]);
    let cur = inputs[full].blob;
    if (equal.length >= 2) {
      cur = bcast.length ? ctx.name('prod') : out;
      layers.push({ name: cur, type: 'Eltwise', bottom: equal.map((k) => inputs[k].blob), top: [cur], params: { eltwise_param: { operation: 'PROD' } } });
    }
    bcast.forEach((k, j) => {
      const b = scaleOperand(k);
      const top = j === bcast.length - 1 ? out : ctx.name(`scale${k}`);
      layers.push({ name: top, type: 'Scale', bottom: [cur, b], top: [top], params: { scale_param: { axis: plans[k]!.axis } } });
      cur = top;
    });
    nonNegative = nonNeg.every(Boolean);
    summary = broadcasting
      ? `Multiply → ${equal.length >= 2 ? 'Caffe Eltwise PROD, then ' : ''}Scale with the broadcast operand${bcast.length > 1 ? 's' : ''} as second bottom.`
      : `Multiply of ${n} inputs → Caffe Eltwise PROD.`;
    params.push(['(operation)', 'eltwise_param.operation = PROD']);
    if (broadcasting) params.push(['(broadcast)', `scale_param.axis = ${bcast.map((k) => plans[k]!.axis).join(', ')}`]);
    if (broadcasting && n > 2) notes.push('The products are taken in another order than Keras\'s, which can differ in the last bit.');
  } else {
    // Stretch broadcast operands to the full shape: ones · b.
    let ones: string | undefined;
    const blobs = inputs.map((inp, k) => {
      if (!plans[k]) return inp.blob;
      if (!ones) {
        ones = ctx.name('ones');
        layers.push({ name: ones, type: 'Power', bottom: [inputs[full].blob], top: [ones], params: { power_param: { power: 1, scale: 0, shift: 1 } } });
      }
      const b = scaleOperand(k);
      const top = ctx.name(`in${k}_full`);
      layers.push({ name: top, type: 'Scale', bottom: [ones, b], top: [top], params: { scale_param: { axis: plans[k]!.axis } } });
      return top;
    });
    if (ones) notes.push('`ones` = Power(scale 0, shift 1) of a full-size input: Caffe fills it with 1 without reading the input.');
    switch (op) {
      case 'Add':
        layers.push({ name: out, type: 'Eltwise', bottom: blobs, top: [out], params: { eltwise_param: { operation: 'SUM' } } });
        nonNegative = nonNeg.every(Boolean);
        summary = `Add of ${n} inputs → Caffe Eltwise SUM.`;
        params.push(['(operation)', 'eltwise_param.operation = SUM']);
        break;
      case 'Subtract':
        layers.push({ name: out, type: 'Eltwise', bottom: blobs, top: [out], params: { eltwise_param: { operation: 'SUM', coeff: [1, -1] } } });
        summary = 'Subtract → Caffe Eltwise SUM with coeff [1, −1].';
        params.push(['(operation)', 'eltwise_param { operation: SUM, coeff: [1, −1] }']);
        notes.push('1·a + (−1)·b is a − b with no extra rounding.');
        break;
      case 'Average': {
        const coeff = new Array(n).fill(1 / n);
        layers.push({ name: out, type: 'Eltwise', bottom: blobs, top: [out], params: { eltwise_param: { operation: 'SUM', coeff } } });
        nonNegative = nonNeg.every(Boolean);
        summary = `Average of ${n} inputs → Caffe Eltwise SUM with coeff 1/${n} each.`;
        params.push(['(operation)', `eltwise_param { operation: SUM, coeff: ${n} × 1/${n} }`]);
        notes.push(`Keras sums then divides by ${n}; Caffe sums the inputs times 1/${n}${(n & (n - 1)) === 0 ? ' (a power of two: the same floats)' : ', which can differ in the last bit'}.`);
        break;
      }
      case 'Maximum':
        layers.push({ name: out, type: 'Eltwise', bottom: blobs, top: [out], params: { eltwise_param: { operation: 'MAX' } } });
        nonNegative = nonNeg.some(Boolean);
        summary = `Maximum of ${n} inputs → Caffe Eltwise MAX.`;
        params.push(['(operation)', 'eltwise_param.operation = MAX']);
        break;
      case 'Minimum': {
        const negs = blobs.map((b, k) => {
          const t = ctx.name(`neg${k}`);
          layers.push({ name: t, type: 'Power', bottom: [b], top: [t], params: { power_param: { power: 1, scale: -1, shift: 0 } } });
          return t;
        });
        const mx = ctx.name('max_of_neg');
        layers.push({ name: mx, type: 'Eltwise', bottom: negs, top: [mx], params: { eltwise_param: { operation: 'MAX' } } });
        layers.push({ name: out, type: 'Power', bottom: [mx], top: [out], params: { power_param: { power: 1, scale: -1, shift: 0 } } });
        nonNegative = nonNeg.every(Boolean);
        summary = `Minimum of ${n} inputs = −max(−a, −b, …) → Power(scale −1) on each, Eltwise MAX, Power(scale −1).`;
        params.push(['(operation)', 'Power −1, eltwise_param.operation = MAX, Power −1']);
        notes.push('Caffe Eltwise has no MIN; negation is exact, so −max(−a, −b) is min(a, b) bit for bit.');
        break;
      }
    }
    if (broadcasting) summary = summary!.replace(/\.$/, ' (broadcast operands stretched by Power(0·x+1) · Scale).');
  }
  return mapped(layers, [{ blob: out, shape: o, layout, ...(nonNegative ? { nonNegative: true } : {}) }], {
    summary: summary!,
    params,
    weights: [],
    notes,
  });
}

function concatAxis(config: Record<string, any>): number {
  const a = config.axis ?? -1;
  if (typeof a !== 'number' || !Number.isInteger(a)) throw new ShapeError(`Concatenate axis ${JSON.stringify(a)} is not an integer`);
  return a;
}

export const elementwiseMergeMapping: LayerMapping = {
  kerasClasses: ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum'],
  doc: {
    caffe: 'Eltwise SUM / SUM coeff [1,−1] / PROD / SUM coeff 1/n / MAX; Minimum = Power(−1), Eltwise MAX, Power(−1)',
    restrictions:
      'any number of inputs (Subtract: 2); Keras broadcasting of an operand whose non-1 axes are contiguous in the Caffe blob (e.g. (1,1,C) against (H,W,C)): Multiply → two-bottom Scale, others → stretched by Scale(ones, b) first',
  },
  inferShapes: (config, inputs, layer) => inferElementwise(config, inputs, layer.className),
  map: mapElementwise,
};

export const concatenateMapping: LayerMapping = {
  kerasClasses: ['Concatenate'],
  doc: { caffe: 'Concat', restrictions: 'the Keras axis is mapped to the Caffe blob axis (channels → 1); inputs after a reordering Flatten are refused' },
  inferShapes(config, inputs) {
    if (inputs.length < 1) throw new ShapeError('Concatenate needs inputs');
    const rank = inputs[0].length;
    if (inputs.some((s) => s.length !== rank)) throw new ShapeError(`Concatenate needs inputs of one rank, got ${inputs.map(shapeText).join(', ')}`);
    const axis = concatAxis(config);
    const a = axis < 0 ? axis + rank + 1 : axis;
    if (a <= 0 || a > rank) throw new ShapeError(`Concatenate axis ${axis} is out of range for rank-${rank} inputs`);
    const k = a - 1;
    for (const s of inputs)
      if (s.some((d, i) => i !== k && d !== inputs[0][i]))
        throw new ShapeError(`Concatenate on axis ${axis} needs equal other dimensions, got ${inputs.map(shapeText).join(', ')}`);
    const out = [...inputs[0]];
    out[k] = inputs.reduce((sum, s) => sum + s[k], 0);
    return [out];
  },
  map(ctx) {
    const inputs = ctx.inputs;
    const pad = pendingPadRefusal(inputs);
    if (pad) return refused(pad);
    const reordered = inputs.find((i) => i.layout.kind !== 'nchw');
    if (reordered)
      return refused(
        `an input is a Flatten of ${reordered.layout.kind === 'flat-chw' ? shapeText(reordered.layout.from) : '?'} whose elements Caffe holds in C,H,W order; the concatenation would have no single Keras-matching order (add a Dense before concatenating, or flatten after it)`,
      );
    const axis = concatAxis(ctx.config);
    const a = caffeAxis(axis, inputs[0].shape);
    const out = ctx.name();
    return mapped(
      [{ name: out, type: 'Concat', bottom: inputs.map((i) => i.blob), top: [out], params: { concat_param: { axis: a } } }],
      [{ blob: out, shape: ctx.outputShapes[0], layout: { kind: 'nchw' }, ...(inputs.every((i) => i.nonNegative) ? { nonNegative: true } : {}) }],
      {
        summary: `Concatenate(axis=${axis}) of ${inputs.length} inputs → Caffe Concat axis ${a}.`,
        params: [['axis', `concat_param.axis = ${a}`]],
        weights: [],
        notes: [`Keras axis ${axis} of ${shapeText(inputs[0].shape)} (channels last) is Caffe blob axis ${a} (${['N', 'C', 'H', 'W'][a] ?? a}).`],
      },
    );
  },
};
