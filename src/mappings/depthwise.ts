/**
 * DepthwiseConv2D and SeparableConv2D → grouped Caffe Convolution (+ 1×1 Convolution).
 *
 * TensorFlow's depthwise_conv2d gives output channel c·mult + m from input channel c filtered by
 * k[:, :, c, m]. A Caffe Convolution with group = C and num_output = C·mult splits its outputs into
 * C contiguous chunks of `mult`, chunk c reading input channel c: the same order
 * (layout.ts, depthwiseToGroupedOihw). tf.nn.separable_conv2d is that depthwise conv (with the
 * layer's strides, padding and dilation) followed by a 1×1 'valid' conv with the pointwise kernel,
 * then the bias and the activation.
 */
import { depthwiseToGroupedOihw, hwioToOihw } from '../core/layout.js';
import type { Tensor } from '../core/tensor.js';
import { activationLayers, mapped, outputRef, refused, requireRank, shapeText, ShapeError } from './common.js';
import { convGeometry, convOutputHW, emitConvolution, type ConvGeometry } from './conv2d.js';
import { addPads, effectiveKernel } from './padding.js';
import type { LayerMapping, MappingContext, MappingResult, Pads, WeightMapping } from './types.js';

/**
 * Keras on Theano pads 'same' symmetrically by floor(k_eff / 2) (border_mode 'half') and, for
 * even kernels, crops the extra last output (theano_backend.py, _postprocess_conv2d_output):
 * per axis that is begin = floor(k_eff/2), end = k_eff − 1 − begin, whatever the stride.
 * TensorFlow instead pads from the stride (padding.ts). Returns null where Theano's padding is
 * not known exactly here (an even kernel with dilation).
 */
export function theanoSamePads(k: number, dilation: number): [number, number] | null {
  if (k % 2 === 0 && dilation > 1) return null;
  const kEff = effectiveKernel(k, dilation);
  const begin = Math.floor(kEff / 2);
  return [begin, kEff - 1 - begin];
}

/**
 * A view of `ctx` in which the first input is already padded by `pads` (as pending pads, which
 * emitConvolution applies exactly), so a 'valid' convolution of it gives the wanted windows.
 * Used for Theano's 'same' and Conv1D's 'causal' padding.
 */
export function withExplicitPads(ctx: MappingContext, pads: Pads): MappingContext {
  const input = ctx.inputs[0];
  const [h, w, c] = input.shape;
  return {
    ...ctx,
    inputs: [{ ...input, shape: [h + pads[0] + pads[1], w + pads[2] + pads[3], c], pendingPad: addPads(input.pendingPad ?? [0, 0, 0, 0], pads) }, ...ctx.inputs.slice(1)],
  };
}

/**
 * The context and geometry to give emitConvolution for a conv of this backend: for a Theano file
 * with 'same' padding, Theano's symmetric pads become explicit pads of a 'valid' conv.
 */
export function backendConv(ctx: MappingContext, g: ConvGeometry): { ctx: MappingContext; geometry: ConvGeometry; note?: string } | string {
  if (ctx.backend !== 'theano' || g.padding !== 'same') return { ctx, geometry: g };
  const ph = theanoSamePads(g.kernel[0], g.dilation[0]);
  const pw = theanoSamePads(g.kernel[1], g.dilation[1]);
  if (!ph || !pw) return "Keras on Theano pads 'same' for an even dilated kernel in a way not modelled here";
  const pads: Pads = [ph[0], ph[1], pw[0], pw[1]];
  return {
    ctx: withExplicitPads(ctx, pads),
    geometry: { ...g, padding: 'valid' },
    note: `The file was saved by Keras on Theano, which pads 'same' by floor(k/2) on each side (an even kernel's extra last output cropped): top ${pads[0]}, bottom ${pads[1]}, left ${pads[2]}, right ${pads[3]}.`,
  };
}

function depthwiseShape(config: Record<string, any>, inputs: number[][], what: string): [number, number, number, ConvGeometry] {
  requireRank(inputs, 3, what);
  const g = convGeometry(config);
  const [oh, ow] = convOutputHW([inputs[0][0], inputs[0][1]], g);
  const mult = config.depth_multiplier ?? 1;
  if (!Number.isInteger(mult) || mult < 1) throw new ShapeError(`depth_multiplier must be a positive integer, got ${JSON.stringify(mult)}`);
  return [oh, ow, inputs[0][2] * mult, g];
}

/** Checks the depthwise kernel against the config; returns [kh, kw, C, mult] or a refusal reason. */
function depthwiseKernelShape(ctx: MappingContext, g: ConvGeometry): number[] | string {
  const kshape = ctx.weightShapes.get('depthwise_kernel');
  if (!kshape) return 'the file has no depthwise_kernel weights for this layer';
  const mult = ctx.config.depth_multiplier ?? 1;
  const channels = ctx.inputs[0].shape[2];
  if (kshape.length !== 4 || kshape[0] !== g.kernel[0] || kshape[1] !== g.kernel[1] || kshape[2] !== channels || kshape[3] !== mult)
    return `depthwise_kernel ${shapeText(kshape)} does not match the config (kernel ${g.kernel.join('×')}, ${channels} channels, depth_multiplier ${mult})`;
  return kshape;
}

export const depthwiseConv2dMapping: LayerMapping = {
  kerasClasses: ['DepthwiseConv2D'],
  doc: {
    caffe: 'Convolution with group = C (+ activation)',
    restrictions: "depth_multiplier, strides, dilation, use_bias; 'valid' and 'same' (asymmetric 'same' by a grown kernel or an exact pad layer)",
  },
  inferShapes(config, inputs) {
    const [oh, ow, co] = depthwiseShape(config, inputs, 'DepthwiseConv2D');
    return [[oh, ow, co]];
  },
  map(ctx): MappingResult {
    const c = ctx.config;
    const g = convGeometry(c);
    const kshape = depthwiseKernelShape(ctx, g);
    if (typeof kshape === 'string') return refused(kshape);
    const [kh, kw, channels, mult] = kshape;
    const co = channels * mult;
    const useBias = c.use_bias !== false;
    const act = c.activation ?? 'linear';
    const hasAct = act !== 'linear';
    const out = ctx.name();
    const convTop = hasAct ? ctx.name('conv') : out;
    const bc = backendConv(ctx, g);
    if (typeof bc === 'string') return refused(bc);
    const conv = emitConvolution({
      ctx: bc.ctx,
      geometry: bc.geometry,
      numOutput: co,
      group: channels,
      kernelShape: [co, 1, kh, kw],
      biasTerm: useBias,
      top: convTop,
      layerName: convTop,
      weights: () => ({ kernel: depthwiseToGroupedOihw(ctx.weights().require('depthwise_kernel')), bias: useBias ? ctx.weights().require('bias') : undefined }),
    });
    if (typeof conv === 'string') return refused(conv);
    const chain = activationLayers(act, convTop, out, ctx);
    if (typeof chain === 'string') return refused(chain);
    const weights: WeightMapping[] = [
      { from: `depthwise_kernel ${shapeText(kshape)} (kh,kw,C,mult)`, to: `blobs[0] ${shapeText(conv.kernelShape)} OIHW, output c·mult+m`, transform: `depthwiseToGroupedOihw${conv.kernelTransform}` },
    ];
    if (useBias) weights.push({ from: `bias (${co})`, to: `blobs[1] (${co})`, transform: 'copy' });
    return mapped([...conv.layers, ...chain.layers], [outputRef(out, ctx.outputShapes[0], chain.nonNegative)], {
      summary: `DepthwiseConv2D ${g.kernel.join('×')}/${g.strides.join('×')} ×${mult} → Caffe Convolution with group ${channels}${hasAct ? ` + ${chain.note}` : ''}.`,
      params: [['depth_multiplier', `num_output = ${channels}·${mult}, group = ${channels}`], ...conv.params.filter(([k]) => k !== 'filters')],
      weights,
      notes: [
        'TensorFlow orders depthwise outputs c·mult + m; Caffe groups take contiguous output chunks, so the order is the same.',
        ...(bc.note ? [bc.note] : []),
        ...conv.notes,
      ],
    });
  },
};

export const separableConv2dMapping: LayerMapping = {
  kerasClasses: ['SeparableConv2D', 'SeparableConvolution2D'],
  doc: {
    caffe: 'Convolution group = C (depthwise) + Convolution 1×1 (pointwise) (+ activation)',
    restrictions: "depth_multiplier, strides, dilation, use_bias; 'valid' and 'same' (asymmetric 'same' by a grown kernel or an exact pad layer)",
  },
  inferShapes(config, inputs) {
    const [oh, ow] = depthwiseShape(config, inputs, 'SeparableConv2D');
    return [[oh, ow, config.filters]];
  },
  map(ctx): MappingResult {
    const c = ctx.config;
    const g = convGeometry(c);
    const kshape = depthwiseKernelShape(ctx, g);
    if (typeof kshape === 'string') return refused(kshape);
    const [kh, kw, channels, mult] = kshape;
    const mid = channels * mult;
    const pshape = ctx.weightShapes.get('pointwise_kernel');
    if (!pshape) return refused('the file has no pointwise_kernel weights for this layer');
    if (pshape.length !== 4 || pshape[0] !== 1 || pshape[1] !== 1 || pshape[2] !== mid || pshape[3] !== c.filters)
      return refused(`pointwise_kernel ${shapeText(pshape)} does not match (1,1,${mid},${c.filters})`);
    const co = pshape[3];
    const useBias = c.use_bias !== false;
    const act = c.activation ?? 'linear';
    const hasAct = act !== 'linear';
    const out = ctx.name();
    const dwTop = ctx.name('depthwise');
    const pwTop = hasAct ? ctx.name('pointwise') : out;
    const bc = backendConv(ctx, g);
    if (typeof bc === 'string') return refused(bc);
    const conv = emitConvolution({
      ctx: bc.ctx,
      geometry: bc.geometry,
      numOutput: mid,
      group: channels,
      kernelShape: [mid, 1, kh, kw],
      biasTerm: false,
      top: dwTop,
      layerName: dwTop,
      weights: () => ({ kernel: depthwiseToGroupedOihw(ctx.weights().require('depthwise_kernel')) }),
    });
    if (typeof conv === 'string') return refused(conv);
    const pointwise = {
      name: pwTop,
      type: 'Convolution',
      bottom: [dwTop],
      top: [pwTop],
      params: { convolution_param: { num_output: co, ...(useBias ? {} : { bias_term: false }), kernel_size: [1] } },
      blobShapes: useBias ? [[co, mid, 1, 1], [co]] : [[co, mid, 1, 1]],
      blobs: (): Tensor[] => {
        const w = ctx.weights();
        const k = hwioToOihw(w.require('pointwise_kernel'));
        return useBias ? [k, w.require('bias')] : [k];
      },
    };
    const chain = activationLayers(act, pwTop, out, ctx);
    if (typeof chain === 'string') return refused(chain);
    const weights: WeightMapping[] = [
      { from: `depthwise_kernel ${shapeText(kshape)} (kh,kw,C,mult)`, to: `${dwTop} blobs[0] ${shapeText(conv.kernelShape)} OIHW`, transform: `depthwiseToGroupedOihw${conv.kernelTransform}` },
      { from: `pointwise_kernel ${shapeText(pshape)} HWIO`, to: `${pwTop} blobs[0] ${shapeText([co, mid, 1, 1])} OIHW`, transform: 'hwioToOihw' },
    ];
    if (useBias) weights.push({ from: `bias (${co})`, to: `${pwTop} blobs[1] (${co})`, transform: 'copy' });
    return mapped([...conv.layers, pointwise, ...chain.layers], [outputRef(out, ctx.outputShapes[0], chain.nonNegative)], {
      summary: `SeparableConv2D ${g.kernel.join('×')}/${g.strides.join('×')} → Caffe grouped Convolution (group ${channels}, ${mid} outputs) + 1×1 Convolution to ${co}${hasAct ? ` + ${chain.note}` : ''}.`,
      params: [
        ['depth_multiplier', `depthwise num_output = ${channels}·${mult}, group = ${channels}`],
        ['filters', 'pointwise num_output'],
        ...conv.params.filter(([k]) => k !== 'filters' && k !== 'use_bias'),
        ['use_bias', 'pointwise bias_term (the depthwise part has none)'],
      ],
      weights,
      notes: [
        'tf.nn.separable_conv2d is a depthwise conv (strides, padding, dilation) followed by a 1×1 conv; the bias is added after the pointwise part.',
        ...(bc.note ? [bc.note] : []),
        ...conv.notes,
      ],
    });
  },
};
