/**
 * 1-D layers on the [S, C] ↔ 1×C×1×S blob, as H = 1 2-D layers: Conv1D → Convolution 1×k,
 * MaxPooling1D/AveragePooling1D → Pooling 1×p (pooling.ts, with its 'same' handling),
 * GlobalAveragePooling1D/GlobalMaxPooling1D → global Pooling (+ Flatten), ZeroPadding1D → the
 * exact one-hot pad layer.
 *
 * Conv1D padding (keras/layers/convolutional.py, Conv1D.call): 'causal' left-pads by
 * dilation·(k − 1) (K.temporal_padding) and runs a 'valid' conv; 'same'/'valid' are TF's
 * (padding.ts). Asymmetric pads ('causal', and 'same' where TF puts the odd pixel on the right)
 * are made exact by emitConvolution (grown kernel or exact pad layer, a decision).
 */
import { conv1dToOihw, flipKernel1d } from '../core/layout.js';
import { activationLayers, mapped, outputRef, pair, refused, requireRank, shapeText, ShapeError } from './common.js';
import { emitConvolution, type ConvGeometry } from './conv2d.js';
import { backendConv, depthwiseConv2dMapping, separableConv2dMapping, withExplicitPads } from './depthwise.js';
import { tensor, type Tensor } from '../core/tensor.js';
import { effectiveKernel, validOutput, zeroPadLayer } from './padding.js';
import { poolingMapping } from './pooling.js';
import type { BlobRef, LayerMapping, MappingContext, MappingResult, Pads, WeightMapping } from './types.js';

function int1(v: unknown, what: string): number {
  return pair(v, what)[0];
}

/** A view of a 1-D context as an H = 1 image: [S, C] inputs become [1, S, C]. */
function as2d(ctx: MappingContext, outputShapes?: number[][]): MappingContext {
  return {
    ...ctx,
    inputs: ctx.inputs.map((r) => ({ ...r, shape: [1, r.shape[0], r.shape[1]] })),
    outputShapes: outputShapes ?? ctx.outputShapes.map((s) => (s.length === 2 ? [1, s[0], s[1]] : s)),
  };
}

interface Conv1dGeometry {
  k: number;
  s: number;
  d: number;
  padding: 'valid' | 'same' | 'causal';
}

function geometry1d(config: Record<string, any>): Conv1dGeometry {
  const padding = config.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same' && padding !== 'causal') throw new ShapeError(`padding '${padding}' is not supported`);
  const g = { k: int1(config.kernel_size, 'kernel_size'), s: int1(config.strides ?? 1, 'strides'), d: int1(config.dilation_rate ?? 1, 'dilation_rate'), padding };
  if (g.s > 1 && g.d > 1) throw new ShapeError('strides > 1 with dilation_rate > 1 is rejected by Keras');
  return g;
}

function conv1dSteps(steps: number, g: Conv1dGeometry): number {
  if (g.padding === 'same') return Math.ceil(steps / g.s);
  const n = g.padding === 'causal' ? steps + effectiveKernel(g.k, g.d) - 1 : steps;
  const o = validOutput(n, g.k, g.s, g.d);
  if (o <= 0) throw new ShapeError(`the kernel of ${g.k} does not fit the ${steps} steps`);
  return o;
}

export const conv1dMapping: LayerMapping = {
  kerasClasses: ['Conv1D', 'Convolution1D'],
  doc: {
    caffe: 'Convolution 1×k on the 1×C×1×S blob (+ activation)',
    restrictions: "'valid', 'same' and 'causal' (left pad (k−1)·d: grown kernel or exact pad layer); strides, dilation, groups",
  },
  inferShapes(config, inputs) {
    requireRank(inputs, 2, 'Conv1D');
    return [[conv1dSteps(inputs[0][0], geometry1d(config)), config.filters]];
  },
  map(ctx): MappingResult {
    const c = ctx.config;
    const g = geometry1d(c);
    const groups = c.groups ?? 1;
    const input = ctx.inputs[0];
    if (input.layout.kind !== 'nchw') return refused('Conv1D of a reordered tensor');
    const kshape = ctx.weightShapes.get('kernel');
    if (!kshape) return refused('the file has no kernel weights for this layer');
    const [k, ci, co] = kshape;
    if (kshape.length !== 3 || k !== g.k || co !== c.filters || ci * groups !== input.shape[1])
      return refused(`kernel ${shapeText(kshape)} does not match the config (kernel ${g.k}, ${input.shape[1]} input channels, ${c.filters} filters, groups ${groups})`);
    const useBias = c.use_bias !== false;
    const act = c.activation ?? 'linear';
    const hasAct = act !== 'linear';
    const out = ctx.name();
    const convTop = hasAct ? ctx.name('conv') : out;
    let view = as2d(ctx);
    let geometry: ConvGeometry = { kernel: [1, g.k], strides: [1, g.s], dilation: [1, g.d], padding: g.padding === 'same' ? 'same' : 'valid' };
    const notes: string[] = ['Keras [steps, channels] is the Caffe blob 1×C×1×steps: Conv1D is a 1×k Convolution.'];
    if (g.padding === 'causal') {
      const left = effectiveKernel(g.k, g.d) - 1;
      view = withExplicitPads(view, [0, 0, left, 0] as Pads);
      notes.push(`'causal' padding pads ${left} zero steps on the left only (K.temporal_padding), then convolves 'valid'.`);
    } else {
      const bc = backendConv(view, geometry);
      if (typeof bc === 'string') return refused(bc);
      view = bc.ctx;
      geometry = bc.geometry;
      if (bc.note) notes.push(bc.note);
    }
    const theano = ctx.backend === 'theano';
    const conv = emitConvolution({
      ctx: view,
      geometry,
      numOutput: co,
      group: groups,
      kernelShape: [co, ci, 1, k],
      biasTerm: useBias,
      top: convTop,
      layerName: convTop,
      weights: () => {
        const raw = ctx.weights().require('kernel');
        return { kernel: conv1dToOihw(theano ? flipKernel1d(raw) : raw), bias: useBias ? ctx.weights().require('bias') : undefined };
      },
    });
    if (typeof conv === 'string') return refused(conv);
    const chain = activationLayers(act, convTop, out, ctx);
    if (typeof chain === 'string') return refused(chain);
    const weights: WeightMapping[] = [
      {
        from: `kernel ${shapeText(kshape)} (k,in,out)${theano ? ' (Theano-flipped, unflipped first)' : ''}`,
        to: `blobs[0] ${shapeText(conv.kernelShape)} OIHW`,
        transform: (theano ? 'flipKernel1d, conv1dToOihw' : 'conv1dToOihw') + conv.kernelTransform,
      },
    ];
    if (useBias) weights.push({ from: `bias (${co})`, to: `blobs[1] (${co})`, transform: 'copy' });
    return mapped([...conv.layers, ...chain.layers], [outputRef(out, ctx.outputShapes[0], chain.nonNegative)], {
      summary: `Conv1D k=${g.k}/${g.s} '${g.padding}' with ${co} filters → Caffe Convolution 1×${g.k}${hasAct ? ` + ${chain.note}` : ''}.`,
      params: conv.params,
      weights,
      notes: [...notes, ...conv.notes],
    });
  },
};

function pool1dConfig(config: Record<string, any>) {
  const p = int1(config.pool_size ?? 2, 'pool_size');
  const s = int1(config.strides ?? config.pool_size ?? 2, 'strides');
  return { ...config, pool_size: [1, p], strides: [1, s] };
}

export const pooling1dMapping: LayerMapping = {
  kerasClasses: ['MaxPooling1D', 'AveragePooling1D', 'MaxPool1D', 'AvgPool1D'],
  doc: { caffe: 'Pooling 1×p MAX/AVE (+ Slice, + Scale)', restrictions: "as 2-D pooling with H = 1: 'valid' and 'same'" },
  inferShapes(config, inputs, layer) {
    requireRank(inputs, 2, '1-D pooling');
    const [[, s, c]] = poolingMapping.inferShapes(pool1dConfig(config), [[1, inputs[0][0], inputs[0][1]]], layer);
    return [[s, c]];
  },
  map(ctx): MappingResult {
    const cfg = pool1dConfig(ctx.config);
    const view = { ...as2d(ctx), config: cfg };
    const r = poolingMapping.map(view);
    if (r.kind !== 'mapped') return r;
    return { ...r, outputs: r.outputs.map((o: BlobRef) => ({ ...o, shape: ctx.outputShapes[0] })), explanation: { ...r.explanation, notes: ['Keras [steps, channels] is the Caffe blob 1×C×1×steps: 1-D pooling is a 1×p Pooling.', ...r.explanation.notes] } };
  },
};

export const globalPooling1dMapping: LayerMapping = {
  kerasClasses: ['GlobalAveragePooling1D', 'GlobalMaxPooling1D', 'GlobalAvgPool1D', 'GlobalMaxPool1D'],
  doc: { caffe: 'Pooling global_pooling (+ Flatten)', restrictions: 'no masking' },
  inferShapes(config, inputs) {
    requireRank(inputs, 2, '1-D global pooling');
    return config.keepdims ? [[1, inputs[0][1]]] : [[inputs[0][1]]];
  },
  map(ctx): MappingResult {
    const isMax = ctx.layer.className.includes('Max');
    const input = ctx.inputs[0];
    if (input.layout.kind !== 'nchw') return refused('global pooling of a reordered tensor');
    const keep = !!ctx.config.keepdims;
    const out = ctx.name();
    const poolTop = keep ? out : ctx.name('pool');
    const layers = [
      { name: poolTop, type: 'Pooling', bottom: [input.blob], top: [poolTop], params: { pooling_param: { pool: isMax ? 'MAX' : 'AVE', global_pooling: true } } },
      ...(keep ? [] : [{ name: out, type: 'Flatten', bottom: [poolTop], top: [out] }]),
    ];
    return mapped(layers, [outputRef(out, ctx.outputShapes[0], isMax && !!input.nonNegative)], {
      summary: `${ctx.layer.className} → Caffe Pooling ${isMax ? 'MAX' : 'AVE'} with global_pooling over the 1×steps plane${keep ? '' : ', then Flatten to a C-vector'}.`,
      params: [['(global)', 'global_pooling: true']],
      weights: [],
      notes: ['The steps axis is the W axis of the 1×C×1×S blob; global pooling over H×W = 1×S is the pooling over steps.'],
    });
  },
};

export const zeroPadding1dMapping: LayerMapping = {
  kerasClasses: ['ZeroPadding1D'],
  doc: { caffe: 'Deconvolution (exact one-hot pad layer)', restrictions: 'any padding' },
  inferShapes(config, inputs) {
    requireRank(inputs, 2, 'ZeroPadding1D');
    const [l, r] = pair(config.padding ?? 1, 'padding');
    return [[inputs[0][0] + l + r, inputs[0][1]]];
  },
  map(ctx): MappingResult {
    const [l, r] = pair(ctx.config.padding ?? 1, 'padding');
    const input = ctx.inputs[0];
    if (input.layout.kind !== 'nchw') return refused('ZeroPadding1D of a reordered tensor');
    const out = ctx.name();
    const channels = input.shape[1];
    return mapped([zeroPadLayer(out, input.blob, out, channels, [0, 0, l, r])], [outputRef(out, ctx.outputShapes[0], !!input.nonNegative)], {
      summary: 'ZeroPadding1D → a grouped Deconvolution with a one-hot kernel, which shifts each step and fills the ends with zeros.',
      params: [['padding', `left ${l}, right ${r}`]],
      weights: [{ from: '(none)', to: `blobs[0] (${channels},1,1,${1 + l + r})`, transform: 'one-hot at (0, left)' }],
      notes: ['Deconvolution with stride 1 and no pad grows W by kernel_w − 1; the single 1 at column `left` places the input at that offset.'],
    });
  },
};

/**
 * A view of a 1-D depthwise/separable layer as its 2-D twin on the H = 1 image: kernel_size
 * [1, k], strides [1, s], dilation [1, d], and weights with a leading 1 axis ((k, C, mult) →
 * (1, k, C, mult), (1, C·mult, out) → (1, 1, C·mult, out): the same values in the same order).
 * 'causal' becomes explicit left pads of a 'valid' conv.
 */
function as2dConvView(ctx: MappingContext): MappingContext {
  const c = ctx.config;
  const g = geometry1d(c);
  const shapes = new Map<string, number[]>();
  for (const [n, s] of ctx.weightShapes) shapes.set(n, n === 'bias' ? s : [1, ...s]);
  const lift = (t: Tensor | undefined, n: string): Tensor | undefined => (t && n !== 'bias' ? tensor([1, ...t.shape], t.data) : t);
  let view: MappingContext = {
    ...as2d(ctx),
    config: { ...c, kernel_size: [1, g.k], strides: [1, g.s], dilation_rate: [1, g.d], padding: g.padding === 'causal' ? 'valid' : g.padding },
    weightShapes: shapes,
    weights: () => {
      const w = ctx.weights();
      return { shapes, get: (n: string) => lift(w.get(n), n), require: (n: string) => lift(w.require(n), n)! };
    },
  };
  if (g.padding === 'causal') view = withExplicitPads(view, [0, 0, effectiveKernel(g.k, g.d) - 1, 0]);
  return view;
}

function mapAs2d(ctx: MappingContext, mapping: LayerMapping, what: string): MappingResult {
  if (ctx.inputs[0].layout.kind !== 'nchw') return refused(`${what} of a reordered tensor`);
  const r = mapping.map(as2dConvView(ctx));
  if (r.kind !== 'mapped') return r;
  return {
    ...r,
    outputs: r.outputs.map((o: BlobRef) => ({ ...o, shape: ctx.outputShapes[0] })),
    explanation: {
      ...r.explanation,
      summary: r.explanation.summary.replace(/^(DepthwiseConv2D|SeparableConv2D)/, what),
      notes: [
        `Keras [steps, channels] is the Caffe blob 1×C×1×steps: ${what} is its 2-D twin with a 1×k kernel.`,
        ...(ctx.config.padding === 'causal' ? [`'causal' padding pads (k−1)·dilation zero steps on the left only.`] : []),
        ...r.explanation.notes,
      ],
    },
  };
}

export const depthwiseConv1dMapping: LayerMapping = {
  kerasClasses: ['DepthwiseConv1D'],
  doc: { caffe: 'Convolution 1×k with group = C (+ activation)', restrictions: "as DepthwiseConv2D with H = 1; 'valid', 'same', 'causal'" },
  inferShapes(config, inputs) {
    requireRank(inputs, 2, 'DepthwiseConv1D');
    return [[conv1dSteps(inputs[0][0], geometry1d(config)), inputs[0][1] * (config.depth_multiplier ?? 1)]];
  },
  map: (ctx) => mapAs2d(ctx, depthwiseConv2dMapping, 'DepthwiseConv1D'),
};

export const separableConv1dMapping: LayerMapping = {
  kerasClasses: ['SeparableConv1D', 'SeparableConvolution1D'],
  doc: { caffe: 'Convolution 1×k group = C + Convolution 1×1 (+ activation)', restrictions: "as SeparableConv2D with H = 1; 'valid', 'same', 'causal'" },
  inferShapes(config, inputs) {
    requireRank(inputs, 2, 'SeparableConv1D');
    return [[conv1dSteps(inputs[0][0], geometry1d(config)), config.filters]];
  },
  map: (ctx) => mapAs2d(ctx, separableConv2dMapping, 'SeparableConv1D'),
};
