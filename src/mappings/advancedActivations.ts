/**
 * Keras "advanced activation" layers: ReLU, LeakyReLU, ELU, PReLU, ThresholdedReLU, Softmax.
 *
 * Semantics (keras 2.3.1 keras/layers/advanced_activations.py + backend relu; tf.keras 2.x and
 * Keras 3 compute the same):
 *   ReLU(max_value m, negative_slope α, threshold t):
 *     pos = t ≠ 0 ? x·[x > t] : relu(x);  pos = clip(pos, 0, m) when m is given;
 *     y   = pos − α·relu(t − x)   (the last term only when α ≠ 0)
 *   LeakyReLU(α) = x > 0 ? x : α·x;  ELU(α) = x > 0 ? x : α·(eˣ − 1)
 *   PReLU: y = relu(x) − alpha·relu(−x), alpha of the input's shape with shared_axes set to 1
 *   ThresholdedReLU(θ) = x·[x > θ];  Softmax(axis) = exp(x − max) / Σ exp(x − max) over axis
 */
import type { CaffeLayer } from '../caffe/net.js';
import { permuteFlattenRowsHwcToChw } from '../core/layout.js';
import { tensor, type Tensor } from '../core/tensor.js';
import { caffeAxis, mapped, refused, relu6Layers, shapeText, ShapeError } from './common.js';
import type { BlobRef, LayerMapping, MappingContext, MappingResult, WeightMapping } from './types.js';

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function pendingPadRefusal(input: BlobRef): string | undefined {
  return input.pendingPad?.some((p) => p) ? 'an activation after a folded ZeroPadding2D (the padded zeros would not be activated)' : undefined;
}

/** An elementwise result: the input's layout (element order) carries over. */
function elementwiseOut(input: BlobRef, blob: string, shape: number[], nonNegative: boolean): BlobRef {
  return { blob, shape, layout: input.layout, ...(nonNegative ? { nonNegative: true } : {}) };
}

function fmt(x: number): string {
  return String(Math.fround(x) === x ? x : Number(x.toPrecision(7)));
}

// ---------------------------------------------------------------------------------------------
// ReLU

/** Caffe layers computing Keras's ReLU(max_value, negative_slope, threshold) from bottom into top. */
export function kerasReluLayers(
  ctx: MappingContext,
  bottom: string,
  top: string,
  maxValue: number | null,
  alpha: number,
  threshold: number,
): { layers: CaffeLayer[]; nonNegative: boolean; note: string; notes: string[] } | string {
  const name = (s: string) => ctx.name(s);
  const notes: string[] = [];
  if (threshold === 0) {
    if (maxValue === null) {
      if (alpha === 0) return { layers: [{ name: top, type: 'ReLU', bottom: [bottom], top: [top] }], nonNegative: true, note: 'ReLU', notes };
      return {
        layers: [{ name: top, type: 'ReLU', bottom: [bottom], top: [top], params: { relu_param: { negative_slope: alpha } } }],
        nonNegative: false,
        note: `ReLU negative_slope ${fmt(alpha)}`,
        notes: ['Caffe ReLU computes max(x, 0) + negative_slope·min(x, 0), which is relu(x) − α·relu(−x).'],
      };
    }
    if (alpha === 0) {
      const chain = relu6Layers(bottom, top, name, ctx.target, maxValue);
      return { layers: chain.layers, nonNegative: true, note: chain.note, notes };
    }
    // clip(relu(x), 0, m) − α·relu(−x) = min(leaky(x), m) for α ≥ 0, m ≥ 0 (Keras rejects negative ones):
    // below 0 the leaky part α·x ≤ 0 ≤ m is never capped. min(b, m) = m − relu(m − b).
    const leaky = ctx.name('leaky');
    const flip = ctx.name('flip');
    const cap = ctx.name('relu_cap');
    notes.push(`min(b, ${fmt(maxValue)}) = ${fmt(maxValue)} − relu(${fmt(maxValue)} − b) caps the leaky ReLU from above only (a Clip would also cut the negative slope).`);
    return {
      layers: [
        { name: leaky, type: 'ReLU', bottom: [bottom], top: [leaky], params: { relu_param: { negative_slope: alpha } } },
        { name: flip, type: 'Power', bottom: [leaky], top: [flip], params: { power_param: { power: 1, scale: -1, shift: maxValue } } },
        { name: cap, type: 'ReLU', bottom: [flip], top: [cap] },
        { name: top, type: 'Power', bottom: [cap], top: [top], params: { power_param: { power: 1, scale: -1, shift: maxValue } } },
      ],
      nonNegative: false,
      note: `ReLU negative_slope ${fmt(alpha)} capped at ${fmt(maxValue)} → ReLU(slope), Power(−1,+${fmt(maxValue)}), ReLU, Power(−1,+${fmt(maxValue)})`,
      notes,
    };
  }
  // threshold ≠ 0: x·[x > t] needs a step function: Caffe's Threshold layer gives (x > t ? 1 : 0).
  if (!ctx.target.has('Threshold'))
    return `ReLU(threshold=${fmt(threshold)}) needs x·[x > ${fmt(threshold)}], a step function; target '${ctx.target.name}' has no Threshold layer`;
  const layers: CaffeLayer[] = [];
  const mask = ctx.name('mask');
  const needClip = maxValue !== null;
  const needNeg = alpha !== 0;
  const gated = needClip || needNeg ? ctx.name('gated') : top;
  layers.push({ name: mask, type: 'Threshold', bottom: [bottom], top: [mask], params: { threshold_param: { threshold } } });
  layers.push({ name: gated, type: 'Eltwise', bottom: [bottom, mask], top: [gated], params: { eltwise_param: { operation: 'PROD' } } });
  let pos = gated;
  const parts = [`Threshold(${fmt(threshold)}) + Eltwise PROD`];
  if (needClip) {
    const clipped = needNeg ? ctx.name('clipped') : top;
    const chain = relu6Layers(gated, clipped, name, ctx.target, maxValue);
    layers.push(...chain.layers);
    pos = clipped;
    parts.push(chain.layers.length === 1 ? `Clip(0, ${fmt(maxValue)})` : `capped-ReLU chain (0..${fmt(maxValue)})`);
  }
  if (needNeg) {
    // − α·relu(t − x): Power(scale −1, shift t), ReLU, then Eltwise SUM coeff [1, −α].
    const shifted = ctx.name('t_minus_x');
    const negPart = ctx.name('neg_part');
    layers.push({ name: shifted, type: 'Power', bottom: [bottom], top: [shifted], params: { power_param: { power: 1, scale: -1, shift: threshold } } });
    layers.push({ name: negPart, type: 'ReLU', bottom: [shifted], top: [negPart] });
    layers.push({ name: top, type: 'Eltwise', bottom: [pos, negPart], top: [top], params: { eltwise_param: { operation: 'SUM', coeff: [1, -alpha] } } });
    parts.push(`− ${fmt(alpha)}·relu(${fmt(threshold)} − x) by Power, ReLU, Eltwise SUM`);
  }
  notes.push(`Keras computes x·[x > ${fmt(threshold)}]${needClip ? `, clipped to [0, ${fmt(maxValue!)}]` : ''}${needNeg ? `, minus ${fmt(alpha)}·relu(${fmt(threshold)} − x)` : ''}; Caffe's Threshold layer gives the 0/1 mask [x > t] exactly.`);
  if (!needClip && threshold < 0) notes.push('With a negative threshold and no max_value, Keras passes x in (threshold, 0] through unchanged (no ReLU), and so does this chain.');
  return { layers, nonNegative: !needNeg && (needClip || threshold >= 0), note: parts.join(', '), notes };
}

const reluMapping: Pick<LayerMapping, 'map'> = {
  map(ctx) {
    const input = ctx.inputs[0];
    const pad = pendingPadRefusal(input);
    if (pad) return refused(pad);
    const c = ctx.config;
    const maxValue = c.max_value === null || c.max_value === undefined ? null : Number(c.max_value);
    const alpha = num(c.negative_slope, 0);
    const threshold = num(c.threshold, 0);
    if (maxValue !== null && !(maxValue >= 0)) return refused(`max_value ${c.max_value} is not a number ≥ 0`);
    const out = ctx.name();
    const r = kerasReluLayers(ctx, input.blob, out, maxValue, alpha, threshold);
    if (typeof r === 'string') return refused(r);
    return mapped(r.layers, [elementwiseOut(input, out, ctx.outputShapes[0], r.nonNegative)], {
      summary: `ReLU(${[maxValue !== null ? `max_value=${fmt(maxValue)}` : '', alpha ? `negative_slope=${fmt(alpha)}` : '', threshold ? `threshold=${fmt(threshold)}` : ''].filter(Boolean).join(', ')}) → ${r.note}.`,
      params: [
        ['max_value', maxValue === null ? '(none)' : `cap ${fmt(maxValue)}`],
        ['negative_slope', alpha ? `relu_param.negative_slope / coeff −${fmt(alpha)}` : '0 (none)'],
        ['threshold', threshold ? `threshold_param.threshold ${fmt(threshold)}` : '0 (none)'],
      ],
      weights: [],
      notes: r.notes,
    });
  },
};

// ---------------------------------------------------------------------------------------------
// PReLU

/** Keras PReLU's alpha (H',W',C') broadcast to the input's Caffe (C,H,W) order (or (C,1,S) for [S,C]). */
export function broadcastAlphaToChw(alpha: Tensor, inputShape: number[]): Tensor {
  const r = inputShape.length;
  const [H, W, C] = r === 3 ? inputShape : r === 2 ? [1, inputShape[0], inputShape[1]] : [1, 1, inputShape[0]];
  const a = alpha.shape.length === 3 ? alpha.shape : alpha.shape.length === 2 ? [1, alpha.shape[0], alpha.shape[1]] : [1, 1, alpha.shape[0]];
  const [ah, aw, ac] = a;
  const out = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        out[(c * H + h) * W + w] = alpha.data[((ah === 1 ? 0 : h) * aw + (aw === 1 ? 0 : w)) * ac + (ac === 1 ? 0 : c)];
  return tensor(r === 3 ? [C, H, W] : r === 2 ? [C, 1, W] : [C], out);
}

function alphaWeightName(ctx: MappingContext): string | undefined {
  if (ctx.weightShapes.has('alpha')) return 'alpha';
  const names = [...ctx.weightShapes.keys()];
  return names.length === 1 ? names[0] : undefined;
}

function mapPrelu(ctx: MappingContext): MappingResult {
  const input = ctx.inputs[0];
  const pad = pendingPadRefusal(input);
  if (pad) return refused(pad);
  const shape = input.shape;
  const wname = alphaWeightName(ctx);
  if (!wname) return refused('the file has no alpha weights for this PReLU');
  const ashape = ctx.weightShapes.get(wname)!;
  const aligned = ashape.length === shape.length && ashape.every((d, i) => d === 1 || d === shape[i]);
  if (!aligned) return refused(`PReLU alpha ${shapeText(ashape)} does not broadcast to the input ${shapeText(shape)}`);
  const C = shape[shape.length - 1];
  const ac = ashape[ashape.length - 1];
  const spatialShared = ashape.slice(0, -1).every((d) => d === 1);
  const out = ctx.name();
  const total = ashape.reduce((a, b) => a * b, 1);
  const flatFrom = input.layout.kind === 'flat-chw' && total > 1 ? input.layout.from : null;
  if (spatialShared) {
    const shared = ac === 1;
    return mapped(
      [
        {
          name: out,
          type: 'PReLU',
          bottom: [input.blob],
          top: [out],
          // One slope for all channels is written as C equal slopes: Caffe's channel_shared wants a
          // 0-axis blob (prelu_layer.cpp), which OpenCV DNN cannot load.
          blobShapes: [[C]],
          blobs: () => {
            const a = ctx.weights().require(wname);
            if (shared) return [tensor([C], new Float32Array(C).fill(a.data[0]))];
            // After a reordered Flatten, element i of the Caffe vector is Keras element perm(i): permute alpha alike.
            const data = flatFrom ? permuteFlattenRowsHwcToChw(tensor([C, 1], a.data), flatFrom).data : a.data;
            return [tensor([C], data)];
          },
        },
      ],
      [elementwiseOut(input, out, ctx.outputShapes[0], false)],
      {
        summary: `PReLU with ${shared ? 'one shared slope' : 'one slope per channel'} → Caffe PReLU.`,
        params: [['shared_axes', shared ? 'all axes shared: the slope repeated per channel' : 'per channel (axis 1)']],
        weights: [
          {
            from: `alpha ${shapeText(ashape)}`,
            to: `blobs[0] (${C})`,
            transform: shared ? 'repeat the single slope C times' : flatFrom ? 'permuteFlattenRowsHwcToChw (the input is a reordered Flatten)' : 'reshape (drop the size-1 axes)',
          },
        ],
        notes: [
          'Caffe PReLU computes max(x, 0) + a_c·min(x, 0), Keras relu(x) − alpha·relu(−x): the same function.',
          ...(shared ? ["A single slope is written per channel rather than as channel_shared, whose 0-axis blob OpenCV DNN cannot load."] : []),
          ...(flatFrom ? [`The input is a Flatten of ${shapeText(flatFrom)} held in C,H,W order, so the per-element alpha is reordered from H,W,C to C,H,W.`] : []),
        ],
      },
    );
  }
  // alpha varies over H/W: Caffe PReLU has one slope per channel only. Exact form:
  //   y = relu(x) + alpha ⊙ (x − relu(x))   (x − relu(x) = min(x, 0) exactly in floating point)
  const cdims = shape.length === 3 ? [shape[2], shape[0], shape[1]] : [shape[1], 1, shape[0]];
  const pos = ctx.name('pos');
  const neg = ctx.name('neg');
  const scaled = ctx.name('neg_scaled');
  const layers: CaffeLayer[] = [
    { name: pos, type: 'ReLU', bottom: [input.blob], top: [pos] },
    { name: neg, type: 'Eltwise', bottom: [input.blob, pos], top: [neg], params: { eltwise_param: { operation: 'SUM', coeff: [1, -1] } } },
    {
      name: scaled,
      type: 'Scale',
      bottom: [neg],
      top: [scaled],
      params: { scale_param: { axis: 1, num_axes: -1, bias_term: false } },
      blobShapes: [cdims],
      blobs: () => [broadcastAlphaToChw(ctx.weights().require(wname), shape)],
    },
    { name: out, type: 'Eltwise', bottom: [pos, scaled], top: [out], params: { eltwise_param: { operation: 'SUM' } } },
  ];
  const weights: WeightMapping[] = [
    { from: `alpha ${shapeText(ashape)} (H,W,C)`, to: `Scale blobs[0] ${shapeText(cdims)} (C,H,W)`, transform: 'broadcast over the shared axes, HWC → CHW' },
  ];
  return mapped(layers, [elementwiseOut(input, out, ctx.outputShapes[0], false)], {
    summary: `PReLU with alpha ${shapeText(ashape)} varying over the spatial axes → ReLU, Eltwise (x − relu(x)), Scale by a fixed alpha blob, Eltwise SUM.`,
    params: [['shared_axes', ashape.length === 3 ? `alpha ${shapeText(ashape)}` : shapeText(ashape)]],
    weights,
    notes: [
      "Caffe's PReLU has one slope per channel; Keras's alpha differs per position here.",
      'relu(x) + alpha·(x − relu(x)) is PReLU exactly: x − relu(x) is 0 for x > 0 and x otherwise, with no rounding.',
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Softmax layer

function mapSoftmax(ctx: MappingContext): MappingResult {
  const input = ctx.inputs[0];
  const pad = pendingPadRefusal(input);
  if (pad) return refused(pad);
  let axis: unknown = ctx.config.axis ?? -1;
  if (Array.isArray(axis)) {
    if (axis.length !== 1) return refused(`Softmax over several axes ${JSON.stringify(axis)} has no Caffe form (Caffe's Softmax normalises over one axis)`);
    axis = axis[0];
  }
  if (typeof axis !== 'number') return refused(`Softmax axis ${JSON.stringify(axis)} is not an integer`);
  const a = caffeAxis(axis, input.shape);
  const out = ctx.name();
  const notes = [`Keras axis ${axis} of ${shapeText(input.shape)} is Caffe blob axis ${a} (${['N', 'C', 'H', 'W'][a] ?? a}).`];
  if (input.layout.kind === 'flat-chw') notes.push('The input is a reordered Flatten: softmax over the whole vector does not depend on the element order.');
  return mapped(
    [{ name: out, type: 'Softmax', bottom: [input.blob], top: [out], params: { softmax_param: { axis: a } } }],
    [elementwiseOut(input, out, ctx.outputShapes[0], true)],
    { summary: `Softmax(axis=${axis}) → Caffe Softmax axis ${a}.`, params: [['axis', `softmax_param.axis = ${a}`]], weights: [], notes },
  );
}

// ---------------------------------------------------------------------------------------------

const same = (_c: Record<string, any>, inputs: number[][]) => {
  if (inputs.length !== 1) throw new ShapeError('an activation layer takes one input');
  return [inputs[0]];
};

export const reluLayerMapping: LayerMapping = {
  kerasClasses: ['ReLU'],
  doc: {
    caffe: 'ReLU (negative_slope); capped: Clip or ReLU/Power chain; threshold: Threshold + Eltwise PROD (+ Power, ReLU, Eltwise SUM)',
    restrictions: 'exact for every max_value / negative_slope / threshold; a non-zero threshold needs the Threshold layer',
    perTarget: {
      bvlc: 'max_value without negative_slope → Clip(0, max_value)',
      'caffe-1.0': 'max_value → ReLU, Power(−1,+m), ReLU, Power(−1,+m)',
      opencv: 'max_value → ReLU, Power(−1,+m), ReLU, Power(−1,+m); threshold ≠ 0 refused (OpenCV DNN has no Threshold layer)',
    },
  },
  inferShapes: same,
  map: reluMapping.map,
};

export const leakyReluMapping: LayerMapping = {
  kerasClasses: ['LeakyReLU'],
  doc: { caffe: 'ReLU negative_slope', restrictions: 'alpha (Keras 3: negative_slope), default 0.3' },
  inferShapes: same,
  map(ctx) {
    const input = ctx.inputs[0];
    const pad = pendingPadRefusal(input);
    if (pad) return refused(pad);
    const alpha = num(ctx.config.alpha ?? ctx.config.negative_slope, 0.3);
    const out = ctx.name();
    return mapped(
      [{ name: out, type: 'ReLU', bottom: [input.blob], top: [out], ...(alpha !== 0 ? { params: { relu_param: { negative_slope: alpha } } } : {}) }],
      [elementwiseOut(input, out, ctx.outputShapes[0], alpha === 0)],
      {
        summary: `LeakyReLU(${fmt(alpha)}) → Caffe ReLU negative_slope ${fmt(alpha)}.`,
        params: [[ctx.config.alpha !== undefined ? 'alpha' : 'negative_slope', `relu_param.negative_slope = ${fmt(alpha)}`]],
        weights: [],
        notes: ['Caffe ReLU computes max(x, 0) + negative_slope·min(x, 0): x for x > 0, α·x otherwise, as Keras does.'],
      },
    );
  },
};

export const eluLayerMapping: LayerMapping = {
  kerasClasses: ['ELU'],
  doc: { caffe: 'ELU', restrictions: 'alpha (default 1)' },
  inferShapes: same,
  map(ctx) {
    const input = ctx.inputs[0];
    const pad = pendingPadRefusal(input);
    if (pad) return refused(pad);
    const alpha = num(ctx.config.alpha, 1);
    const out = ctx.name();
    return mapped(
      [{ name: out, type: 'ELU', bottom: [input.blob], top: [out], params: { elu_param: { alpha } } }],
      [elementwiseOut(input, out, ctx.outputShapes[0], false)],
      {
        summary: `ELU(alpha=${fmt(alpha)}) → Caffe ELU alpha ${fmt(alpha)}.`,
        params: [['alpha', `elu_param.alpha = ${fmt(alpha)}`]],
        weights: [],
        notes: ['Both compute x for x > 0 and α·(eˣ − 1) otherwise.'],
      },
    );
  },
};

export const preluMapping: LayerMapping = {
  kerasClasses: ['PReLU'],
  doc: {
    caffe: 'PReLU (one slope per channel; a single shared slope is repeated per channel); alpha varying over H/W: ReLU + Eltwise + Scale + Eltwise',
    restrictions: 'exact for any shared_axes; per-position alpha becomes a fixed (C,H,W) Scale blob',
  },
  inferShapes: same,
  map: mapPrelu,
};

export const thresholdedReluMapping: LayerMapping = {
  kerasClasses: ['ThresholdedReLU'],
  doc: {
    caffe: 'Threshold + Eltwise PROD',
    restrictions: 'theta (default 1): x·[x > theta]; needs the Threshold layer',
    perTarget: { opencv: 'refused: OpenCV DNN has no Threshold layer' },
  },
  inferShapes: same,
  map(ctx) {
    const input = ctx.inputs[0];
    const pad = pendingPadRefusal(input);
    if (pad) return refused(pad);
    const theta = num(ctx.config.theta, 1);
    if (!ctx.target.has('Threshold'))
      return refused(`ThresholdedReLU needs x·[x > ${fmt(theta)}], a step function; target '${ctx.target.name}' has no Threshold layer`);
    const mask = ctx.name('mask');
    const out = ctx.name();
    return mapped(
      [
        { name: mask, type: 'Threshold', bottom: [input.blob], top: [mask], params: { threshold_param: { threshold: theta } } },
        { name: out, type: 'Eltwise', bottom: [input.blob, mask], top: [out], params: { eltwise_param: { operation: 'PROD' } } },
      ],
      [elementwiseOut(input, out, ctx.outputShapes[0], theta >= 0)],
      {
        summary: `ThresholdedReLU(theta=${fmt(theta)}) → Caffe Threshold (the 0/1 mask x > θ) and Eltwise PROD with x.`,
        params: [['theta', `threshold_param.threshold = ${fmt(theta)}`]],
        weights: [],
        notes: ["Keras computes x·cast(x > θ); Caffe's Threshold outputs 1 where x > θ (strictly) and 0 elsewhere, so the product is the same."],
      },
    );
  },
};

export const softmaxLayerMapping: LayerMapping = {
  kerasClasses: ['Softmax'],
  doc: { caffe: 'Softmax', restrictions: 'one axis; the Keras axis is mapped to the Caffe blob axis (channels → 1)' },
  inferShapes: same,
  map: mapSoftmax,
};

/** All advanced activation mappings, for registration. */
export const advancedActivationMappings: LayerMapping[] = [
  reluLayerMapping,
  leakyReluMapping,
  eluLayerMapping,
  preluMapping,
  thresholdedReluMapping,
  softmaxLayerMapping,
];
