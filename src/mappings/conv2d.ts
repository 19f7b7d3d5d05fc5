import type { CaffeLayer } from '../caffe/net.js';
import { flipKernelHW, hwioToOihw } from '../core/layout.js';
import { tensor, type Tensor } from '../core/tensor.js';
import { THEANO_FLIPPED_CLASSES } from '../keras/backend.js';
import { activationLayers, mapped, outputRef, pair, refused, requireRank, shapeText, ShapeError } from './common.js';
import { addPads, effectiveKernel, isSymmetric, isZero, kerasPads, padDiagram, padsText, validOutput, zeroPadLayer } from './padding.js';
import type { LayerMapping, MappingContext, MappingResult, Pads, WeightMapping } from './types.js';

export interface ConvGeometry {
  kernel: [number, number];
  strides: [number, number];
  dilation: [number, number];
  padding: 'valid' | 'same';
}

export function convGeometry(config: Record<string, any>): ConvGeometry {
  const padding = config.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new ShapeError(`padding '${padding}' is not supported (only 'valid' and 'same')`);
  return {
    kernel: pair(config.kernel_size, 'kernel_size'),
    strides: pair(config.strides ?? 1, 'strides'),
    dilation: pair(config.dilation_rate ?? 1, 'dilation_rate'),
    padding,
  };
}

/** NHWC output shape of a conv-like window op (TF semantics). */
export function convOutputHW([h, w]: [number, number], g: ConvGeometry): [number, number] {
  if (g.padding === 'same') return [Math.ceil(h / g.strides[0]), Math.ceil(w / g.strides[1])];
  const oh = validOutput(h, g.kernel[0], g.strides[0], g.dilation[0]);
  const ow = validOutput(w, g.kernel[1], g.strides[1], g.dilation[1]);
  if (oh <= 0 || ow <= 0) throw new ShapeError(`the ${g.kernel.join('×')} window does not fit the ${h}×${w} input`);
  return [oh, ow];
}

/**
 * Grows a Caffe kernel (O, I, kh, kw) with zero rows/columns so that symmetric Caffe padding of
 * max(begin, end) per axis equals TF's asymmetric (begin, end): with pad = e > b, prepending e − b
 * zero rows moves every window start from i·s − e to i·s − b, TF's start; the output size
 * floor((in + 2e − (k + e − b))/s) + 1 = floor((in + b + e − k)/s) + 1 is TF's too.
 * Valid for dilation 1 only (a zero row shifts by one dilation step).
 */
export function growKernelForPads(k: Tensor, p: Pads): Tensor {
  const [o, i, kh, kw] = k.shape;
  const top = Math.max(p[1] - p[0], 0);
  const bottom = Math.max(p[0] - p[1], 0);
  const left = Math.max(p[3] - p[2], 0);
  const right = Math.max(p[2] - p[3], 0);
  const nh = kh + top + bottom;
  const nw = kw + left + right;
  const out = tensor([o, i, nh, nw]);
  for (let a = 0; a < o * i; a++)
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++) out.data[(a * nh + y + top) * nw + x + left] = k.data[(a * kh + y) * kw + x];
  return out;
}

/**
 * Leading and trailing kernel taps of one axis that read only padding in every output window of
 * a Caffe convolution (input n, symmetric pad p, kernel k, dilation d, stride s), as [leading,
 * trailing]; [0, 0] unless dropping them (pad p − leading·d, kernel k − leading − trailing) keeps
 * Caffe's output size and every window's taps on real pixels.
 */
export function deadTaps(n: number, p: number, k: number, d: number, s: number): [number, number] {
  const out = Math.floor((n + 2 * p - effectiveKernel(k, d)) / s) + 1;
  const live = (i: number) => {
    for (let j = 0; j < out; j++) {
      const x = j * s - p + i * d;
      if (x >= 0 && x < n) return true;
    }
    return false;
  };
  let a = 0;
  while (a < k && !live(a)) a++;
  if (a === k) return [0, 0];
  let b = 0;
  while (!live(k - 1 - b)) b++;
  const fits = (l: number, t: number) => p - l * d >= 0 && Math.floor((n + 2 * (p - l * d) - effectiveKernel(k - l - t, d)) / s) + 1 === out;
  if (fits(a, b)) return [a, b];
  const m = Math.min(a, b);
  return fits(m, m) ? [m, m] : [0, 0];
}

/** Drops [leading, trailing] taps per spatial axis from a Caffe kernel (O, I, kh, kw). */
export function trimKernel(k: Tensor, trim: [number, number][]): Tensor {
  if (trim.every(([a, b]) => a + b === 0)) return k;
  const [o, i, kh, kw] = k.shape;
  const nh = kh - trim[0][0] - trim[0][1];
  const nw = kw - trim[1][0] - trim[1][1];
  const out = tensor([o, i, nh, nw]);
  for (let c = 0; c < o * i; c++)
    for (let y = 0; y < nh; y++)
      for (let x = 0; x < nw; x++) out.data[(c * nh + y) * nw + x] = k.data[(c * kh + y + trim[0][0]) * kw + x + trim[1][0]];
  return out;
}

export interface ConvEmitOptions {
  ctx: MappingContext;
  geometry: ConvGeometry;
  numOutput: number;
  group: number;
  /** Caffe weights (O, I/group, kh, kw) and bias, read lazily. */
  weights: () => { kernel: Tensor; bias?: Tensor };
  kernelShape: number[];
  biasTerm: boolean;
  /** Final blob name of the convolution (before activation). */
  top: string;
  layerName: string;
}

export interface ConvEmit {
  layers: CaffeLayer[];
  /** The Caffe kernel blob's shape (grown by zero rows/columns where the padding needed it). */
  kernelShape: number[];
  /** `, growKernelForPads` when the kernel was grown, else ''. */
  kernelTransform: string;
  params: [string, string][];
  notes: string[];
}

/**
 * Emits a Caffe Convolution with TF padding made exact: symmetric pads directly; asymmetric
 * pads by a grown kernel (dilation 1) or a standalone zero-pad layer, as decided.
 */
export function emitConvolution(o: ConvEmitOptions): ConvEmit | string {
  const { ctx, geometry: g } = o;
  const input = ctx.inputs[0];
  const pending: Pads = input.pendingPad ?? [0, 0, 0, 0];
  const unpadded: [number, number] = [input.shape[0] - pending[0] - pending[1], input.shape[1] - pending[2] - pending[3]];
  const own = kerasPads(g.padding, [input.shape[0], input.shape[1]], g.kernel, g.strides, g.dilation);
  const pads = addPads(pending, own);
  const notes: string[] = [];
  let bottom = input.blob;
  const layers: CaffeLayer[] = [];
  let grow = false;
  let caffePad: [number, number] = [pads[0], pads[2]];
  if (!isSymmetric(pads)) {
    const dilated = g.dilation[0] > 1 || g.dilation[1] > 1;
    const options = [
      ...(dilated ? [] : [{ id: 'grow-kernel', label: 'Grow the kernel by zero rows/columns and pad the larger side', exact: true, detail: 'one Convolution, no extra layer' }]),
      { id: 'pad-layer', label: 'Pad exactly with a one-hot Deconvolution, then convolve without padding', exact: true, detail: 'adds one cheap layer' },
    ];
    const choice = ctx.decide({
      id: 'padding',
      question: `Keras pads ${padsText(pads)}, which Caffe's symmetric pad cannot express. How should it be made exact?`,
      options,
      default: options[0].id,
      diagram: padDiagram(pads, unpadded[0], unpadded[1]),
    });
    if (choice === 'grow-kernel') {
      grow = true;
      caffePad = [Math.max(pads[0], pads[1]), Math.max(pads[2], pads[3])];
      notes.push(`Asymmetric padding (${padsText(pads)}): the kernel grows by zero rows/columns on the smaller side and Caffe pads ${caffePad[0]}×${caffePad[1]} symmetrically, which gives TensorFlow's windows exactly.`);
    } else {
      const padName = ctx.name('pad');
      layers.push(zeroPadLayer(padName, bottom, padName, input.shape[2], pads));
      bottom = padName;
      caffePad = [0, 0];
      notes.push(`Asymmetric padding (${padsText(pads)}): a grouped Deconvolution with a one-hot kernel pads exactly, then the Convolution runs unpadded.`);
    }
  } else if (!isZero(pads)) notes.push(`Padding ${padsText(pads)} is symmetric, so Caffe's pad_h=${pads[0]}, pad_w=${pads[2]} is exact.`);
  if (!isZero(pending)) notes.push(`The preceding ZeroPadding2D (${padsText(pending)}) is folded into this layer's padding.`);

  const grownShape = grow ? [o.kernelShape[0], o.kernelShape[1], o.kernelShape[2] + Math.abs(pads[1] - pads[0]), o.kernelShape[3] + Math.abs(pads[3] - pads[2])] : o.kernelShape;
  // Kernel taps that only ever read padding (a kernel larger than its padded input, e.g. 3×3
  // 'same' on a 1×1 map) are dropped, with the padding reduced to match: the same output exactly,
  // and it avoids OpenCV DNN's depthwise 3×3 fast path, which is wrong on 1×1 inputs.
  const caffeIn: [number, number] = bottom === input.blob ? unpadded : [unpadded[0] + pads[0] + pads[1], unpadded[1] + pads[2] + pads[3]];
  const trim = [0, 1].map((ax) => deadTaps(caffeIn[ax], caffePad[ax], grownShape[2 + ax], g.dilation[ax], g.strides[ax]));
  if (trim.some(([a, b]) => a + b > 0)) {
    caffePad = [caffePad[0] - trim[0][0] * g.dilation[0], caffePad[1] - trim[1][0] * g.dilation[1]];
    notes.push(`Kernel rows/columns that only ever see padding are dropped (top ${trim[0][0]}, bottom ${trim[0][1]}, left ${trim[1][0]}, right ${trim[1][1]}) and Caffe pads ${caffePad.join('×')}: the same output exactly.`);
  }
  const kshape = [grownShape[0], grownShape[1], grownShape[2] - trim[0][0] - trim[0][1], grownShape[3] - trim[1][0] - trim[1][1]];
  const cp: Record<string, unknown> = { num_output: o.numOutput };
  if (!o.biasTerm) cp.bias_term = false;
  if (caffePad[0] === caffePad[1] && kshape[2] === kshape[3]) {
    if (caffePad[0]) cp.pad = [caffePad[0]];
    cp.kernel_size = [kshape[2]];
  } else {
    cp.pad_h = caffePad[0];
    cp.pad_w = caffePad[1];
    cp.kernel_h = kshape[2];
    cp.kernel_w = kshape[3];
  }
  if (g.strides[0] === g.strides[1]) {
    if (g.strides[0] !== 1) cp.stride = [g.strides[0]];
  } else {
    cp.stride_h = g.strides[0];
    cp.stride_w = g.strides[1];
  }
  if (o.group !== 1) cp.group = o.group;
  if (g.dilation[0] !== 1 || g.dilation[1] !== 1) cp.dilation = g.dilation[0] === g.dilation[1] ? [g.dilation[0]] : [g.dilation[0], g.dilation[1]];
  layers.push({
    name: o.layerName,
    type: 'Convolution',
    bottom: [bottom],
    top: [o.top],
    params: { convolution_param: cp },
    blobShapes: o.biasTerm ? [kshape, [o.numOutput]] : [kshape],
    blobs: () => {
      const w = o.weights();
      const kernel = trimKernel(grow ? growKernelForPads(w.kernel, pads) : w.kernel, trim);
      return w.bias ? [kernel, w.bias] : [kernel];
    },
  });
  return {
    layers,
    kernelShape: kshape,
    kernelTransform: grow ? ', growKernelForPads' : '',
    params: [
      ['filters', 'num_output'],
      ['kernel_size', grow ? 'kernel_size (grown by zero rows/columns)' : 'kernel_size / kernel_h, kernel_w'],
      ['strides', 'stride'],
      ['dilation_rate', 'dilation'],
      ['padding', `pad ${caffePad.join('×')}`],
      ['use_bias', 'bias_term'],
    ],
    notes,
  };
}

/** Reads a conv kernel in TF convention (HWIO), undoing Theano's flip where the file has it. */
export function tfKernel(ctx: MappingContext, name = 'kernel'): Tensor {
  const k = ctx.weights().require(name);
  return ctx.backend === 'theano' && THEANO_FLIPPED_CLASSES.has(ctx.layer.className) ? flipKernelHW(k) : k;
}

export const conv2dMapping: LayerMapping = {
  kerasClasses: ['Conv2D', 'Convolution2D'],
  doc: {
    caffe: 'Convolution (+ activation)',
    restrictions: "strides, dilation, groups, use_bias; 'valid' and 'same' (asymmetric 'same' by a grown kernel or an exact pad layer)",
  },
  inferShapes(config, inputs) {
    requireRank(inputs, 3, 'Conv2D');
    const g = convGeometry(config);
    const [oh, ow] = convOutputHW([inputs[0][0], inputs[0][1]], g);
    return [[oh, ow, config.filters]];
  },
  map(ctx): MappingResult {
    const c = ctx.config;
    const g = convGeometry(c);
    const groups = c.groups ?? 1;
    const kshape = ctx.weightShapes.get('kernel');
    if (!kshape) return refused('the file has no kernel weights for this layer');
    const [kh, kw, ci, co] = kshape;
    if (kh !== g.kernel[0] || kw !== g.kernel[1] || co !== c.filters || ci * groups !== ctx.inputs[0].shape[2])
      return refused(`kernel weights ${shapeText(kshape)} do not match the config (kernel ${g.kernel.join('×')}, ${ctx.inputs[0].shape[2]} input channels, ${c.filters} filters, groups ${groups})`);
    const useBias = c.use_bias !== false;
    const act = c.activation ?? 'linear';
    const hasAct = act !== 'linear';
    const out = ctx.name();
    const convTop = hasAct ? ctx.name('conv') : out;
    const conv = emitConvolution({
      ctx,
      geometry: g,
      numOutput: co,
      group: groups,
      kernelShape: [co, ci, kh, kw],
      biasTerm: useBias,
      top: convTop,
      layerName: convTop,
      weights: () => ({ kernel: hwioToOihw(tfKernel(ctx)), bias: useBias ? ctx.weights().require('bias') : undefined }),
    });
    if (typeof conv === 'string') return refused(conv);
    const chain = activationLayers(act, convTop, out, ctx);
    if (typeof chain === 'string') return refused(chain);
    const weights: WeightMapping[] = [
      {
        from: `kernel ${shapeText(kshape)} HWIO${ctx.backend === 'theano' ? ' (Theano-flipped, unflipped first)' : ''}`,
        to: `blobs[0] ${shapeText(conv.kernelShape)} OIHW`,
        transform: (ctx.backend === 'theano' ? 'flipKernelHW, hwioToOihw' : 'hwioToOihw') + conv.kernelTransform,
      },
    ];
    if (useBias) weights.push({ from: `bias (${co})`, to: `blobs[1] (${co})`, transform: 'copy' });
    return mapped([...conv.layers, ...chain.layers], [outputRef(out, ctx.outputShapes[0], chain.nonNegative)], {
      summary: `Conv2D ${g.kernel.join('×')}/${g.strides.join('×')} with ${co} filters → Caffe Convolution${hasAct ? ` + ${chain.note}` : ''}.`,
      params: conv.params,
      weights,
      notes: conv.notes,
    });
  },
};

