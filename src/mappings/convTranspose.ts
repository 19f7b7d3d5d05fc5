/**
 * Conv2DTranspose → one Caffe Deconvolution, exact for 'valid' and 'same', odd and even kernels,
 * strides, output_padding and dilation.
 *
 * Keras's output size (keras/utils/conv_utils.py, deconv_output_length; the same formula in
 * tf.keras and Keras 3), per axis with k = (k − 1)·d + 1:
 *   output_padding None: valid → in·s + max(k − s, 0);  same → in·s
 *   output_padding op:   (in − 1)·s + k − 2·pad + op, pad = k // 2 (same) or 0 (valid)
 * Keras then calls tf.nn.conv2d_transpose(x, kernel, output_shape=O, strides, padding), which is
 * conv2d_backprop_input: the gradient of a conv2d that maps an O-long input to the in-long x with
 * TF's padding for that geometry (tensorflow/core/kernels/conv_grad_shape_utils.cc,
 * ConvBackpropComputeDimensionsV2 → GetWindowedOutputSizeVerbose): valid → pad_before 0;
 * same → total = max((in − 1)·s + k − O, 0), pad_before = floor(total / 2). TF checks that the
 * forward size of O is `in` and fails otherwise. The gradient scatters x[i] through w[t] to
 *   out[o] for o = i·s − pad_before + t, o ∈ [0, O)
 * i.e. out[o] = full[o + pad_before], with full the un-padded transposed conv of length
 * F = (in − 1)·s + k (and zeros past F). The odd row of an odd `total` is therefore cut at the
 * bottom/right (pad_after = total − pad_before ≥ pad_before), and valid with k < s or
 * output_padding adds zero rows (+ bias) at the bottom/right.
 * (tf.nn.atrous_conv2d_transpose, used for dilation, is the same with the dilated kernel:
 * batch_to_space crops pad_top = (k − 1) // 2 first.)
 *
 * Keras on Theano (theano_backend.py, conv2d_transpose): AbstractConv2d_gradInputs with border
 * mode 'half' (pad floor(k/2), odd kernels only: Keras raises for even kernels with 'same'), i.e.
 * the same scatter with pad_before = floor(k/2).
 *
 * Caffe Deconvolution (deconv_layer.cpp) with kernel K, pad p: out[o] = full_K[o + p], length
 * (in − 1)·s + K − 2p. Instead of a Deconvolution + Crop (which needs a reference blob of the
 * target shape, which generally does not exist) or + Slice layers, the kernel is grown by zero
 * rows: prepending z zero rows shifts full by z, appending rows lengthens it with zeros. With
 * D = O + 2·pad_before − F: D ≥ 0 → append D rows, p = pad_before; D < 0 → prepend −D rows,
 * p = pad_before − D. Then the Caffe output is full[o + pad_before] for o ∈ [0, O): exact, one
 * layer, no Crop/Slice. Dilation is written out as a dense kernel with zeros between the taps.
 */
import { convTransposeToIohw, dilateKernelHW, zeroPadKernelHW } from '../core/layout.js';
import { activationLayers, mapped, outputRef, pair, refused, requireRank, shapeText, ShapeError } from './common.js';
import { tfKernel } from './conv2d.js';
import { effectiveKernel } from './padding.js';
import type { LayerMapping, MappingResult, WeightMapping } from './types.js';

export interface TransposeAxis {
  in: number;
  k: number;
  s: number;
  d: number;
  /** Keras output size. */
  out: number;
}

/** Keras deconv_output_length (keras/utils/conv_utils.py). */
export function deconvOutputLength(input: number, k: number, padding: 'same' | 'valid', outputPadding: number | null, s: number, d = 1): number {
  const kEff = effectiveKernel(k, d);
  if (outputPadding === null) return padding === 'valid' ? input * s + Math.max(kEff - s, 0) : input * s;
  const pad = padding === 'same' ? Math.floor(kEff / 2) : 0;
  return (input - 1) * s + kEff - 2 * pad + outputPadding;
}

/** The backend's pad_before of the scatter, or a refusal reason. */
export function transposePadBefore(a: TransposeAxis, padding: 'same' | 'valid', backend: string): number | string {
  const kEff = effectiveKernel(a.k, a.d);
  if (backend === 'theano') {
    if (padding === 'valid') return 0;
    if (a.k % 2 === 0) return "Keras on Theano rejects even kernels with padding 'same' in Conv2DTranspose";
    const pb = Math.floor(kEff / 2);
    if (Math.floor((a.out + 2 * pb - kEff) / a.s) + 1 !== a.in) return `Theano cannot produce a ${a.out}-long output from ${a.in} inputs with this geometry`;
    return pb;
  }
  if (padding === 'valid') {
    if (a.out < kEff || Math.floor((a.out - kEff) / a.s) + 1 !== a.in)
      return `TensorFlow rejects this Conv2DTranspose: a 'valid' conv of ${a.out} gives ${a.out < kEff ? 0 : Math.floor((a.out - kEff) / a.s) + 1}, not ${a.in}`;
    return 0;
  }
  if (Math.ceil(a.out / a.s) !== a.in) return `TensorFlow rejects this Conv2DTranspose: a 'same' conv of ${a.out} gives ${Math.ceil(a.out / a.s)}, not ${a.in}`;
  const total = Math.max((a.in - 1) * a.s + kEff - a.out, 0);
  return Math.floor(total / 2);
}

/** Zero rows to prepend/append to the (dense) kernel and the Caffe pad, for one axis. */
export function transposeCaffeAxis(a: TransposeAxis, padBefore: number): { front: number; back: number; pad: number; kernel: number } {
  const kEff = effectiveKernel(a.k, a.d);
  const full = (a.in - 1) * a.s + kEff;
  const D = a.out + 2 * padBefore - full;
  const front = Math.max(-D, 0);
  const back = Math.max(D, 0);
  return { front, back, pad: padBefore + front, kernel: kEff + front + back };
}

function geometry(config: Record<string, any>) {
  const padding = config.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new ShapeError(`padding '${padding}' is not supported (only 'valid' and 'same')`);
  const k = pair(config.kernel_size, 'kernel_size');
  const s = pair(config.strides ?? 1, 'strides');
  const d = pair(config.dilation_rate ?? 1, 'dilation_rate');
  const op = config.output_padding === null || config.output_padding === undefined ? null : pair(config.output_padding, 'output_padding');
  if ((d[0] > 1 || d[1] > 1) && (s[0] > 1 || s[1] > 1)) throw new ShapeError('strides > 1 with dilation_rate > 1 is rejected by Keras');
  if (op && (op[0] >= s[0] || op[1] >= s[1])) throw new ShapeError(`output_padding ${op.join('×')} must be smaller than the strides ${s.join('×')}`);
  return { padding: padding as 'same' | 'valid', k, s, d, op };
}

function axes(config: Record<string, any>, input: number[]): [TransposeAxis, TransposeAxis] {
  const g = geometry(config);
  return [0, 1].map((i) => ({
    in: input[i],
    k: g.k[i],
    s: g.s[i],
    d: g.d[i],
    out: deconvOutputLength(input[i], g.k[i], g.padding, g.op ? g.op[i] : null, g.s[i], g.d[i]),
  })) as [TransposeAxis, TransposeAxis];
}

export const conv2dTransposeMapping: LayerMapping = {
  kerasClasses: ['Conv2DTranspose', 'Convolution2DTranspose', 'Deconvolution2D', 'Deconv2D'],
  doc: {
    caffe: 'Deconvolution (+ activation)',
    restrictions: "'valid' and 'same', any kernel, strides, output_padding, dilation: TF's crop/extension of the full output is folded into zero rows of the kernel and the pad, so one Deconvolution is exact",
  },
  inferShapes(config, inputs) {
    requireRank(inputs, 3, 'Conv2DTranspose');
    const [ah, aw] = axes(config, inputs[0]);
    if (ah.out <= 0 || aw.out <= 0) throw new ShapeError(`the output would be ${ah.out}×${aw.out}`);
    return [[ah.out, aw.out, config.filters]];
  },
  map(ctx): MappingResult {
    const c = ctx.config;
    const input = ctx.inputs[0];
    if (input.pendingPad && input.pendingPad.some((x) => x)) return refused('a folded ZeroPadding2D before Conv2DTranspose cannot be applied');
    const g = geometry(c);
    const [ah, aw] = axes(c, input.shape);
    if (ah.out !== ctx.outputShapes[0][0] || aw.out !== ctx.outputShapes[0][1]) return refused('output shape mismatch');
    const kshape = ctx.weightShapes.get('kernel');
    if (!kshape) return refused('the file has no kernel weights for this layer');
    const [kh, kw, co, ci] = kshape;
    if (kh !== g.k[0] || kw !== g.k[1] || co !== c.filters || ci !== input.shape[2])
      return refused(`kernel ${shapeText(kshape)} does not match the config (kernel ${g.k.join('×')}, ${c.filters} filters, ${input.shape[2]} input channels)`);
    const pbh = transposePadBefore(ah, g.padding, ctx.backend);
    if (typeof pbh === 'string') return refused(pbh);
    const pbw = transposePadBefore(aw, g.padding, ctx.backend);
    if (typeof pbw === 'string') return refused(pbw);
    const ch = transposeCaffeAxis(ah, pbh);
    const cw = transposeCaffeAxis(aw, pbw);
    const useBias = c.use_bias !== false;
    const act = c.activation ?? 'linear';
    const hasAct = act !== 'linear';
    const out = ctx.name();
    const top = hasAct ? ctx.name('deconv') : out;
    const dilated = g.d[0] > 1 || g.d[1] > 1;
    const grown = ch.front + ch.back + cw.front + cw.back > 0;

    const cp: Record<string, unknown> = { num_output: co };
    if (!useBias) cp.bias_term = false;
    if (ch.pad === cw.pad && ch.kernel === cw.kernel) {
      if (ch.pad) cp.pad = [ch.pad];
      cp.kernel_size = [ch.kernel];
    } else {
      cp.pad_h = ch.pad;
      cp.pad_w = cw.pad;
      cp.kernel_h = ch.kernel;
      cp.kernel_w = cw.kernel;
    }
    if (g.s[0] === g.s[1]) {
      if (g.s[0] !== 1) cp.stride = [g.s[0]];
    } else {
      cp.stride_h = g.s[0];
      cp.stride_w = g.s[1];
    }
    const blobShape = [ci, co, ch.kernel, cw.kernel];
    const deconv = {
      name: top,
      type: 'Deconvolution',
      bottom: [input.blob],
      top: [top],
      params: { convolution_param: cp },
      blobShapes: useBias ? [blobShape, [co]] : [blobShape],
      blobs: () => {
        let k = convTransposeToIohw(tfKernel(ctx));
        if (dilated) k = dilateKernelHW(k, g.d);
        if (grown) k = zeroPadKernelHW(k, [ch.front, ch.back, cw.front, cw.back]);
        return useBias ? [k, ctx.weights().require('bias')] : [k];
      },
    };
    const chain = activationLayers(act, top, out, ctx);
    if (typeof chain === 'string') return refused(chain);

    const notes: string[] = [
      `Keras output ${ah.out}×${aw.out}; the transposed conv without padding gives ${(ah.in - 1) * ah.s + effectiveKernel(ah.k, ah.d)}×${(aw.in - 1) * aw.s + effectiveKernel(aw.k, aw.d)}, of which ${ctx.backend === 'theano' ? 'Theano' : 'TensorFlow'} keeps rows from ${pbh} and columns from ${pbw} (zeros past the end).`,
    ];
    if (grown)
      notes.push(
        `The kernel gets zero rows/columns (top ${ch.front}, bottom ${ch.back}, left ${cw.front}, right ${cw.back}) and Caffe pads ${ch.pad}×${cw.pad}: Caffe's Deconvolution then yields exactly those rows and columns (Caffe's pad is symmetric, TF's crop is not).`,
      );
    else if (ch.pad || cw.pad) notes.push(`Caffe's symmetric pad ${ch.pad}×${cw.pad} crops exactly what TensorFlow crops.`);
    if (dilated) notes.push(`Dilation ${g.d.join('×')} is written out as a dense ${effectiveKernel(g.k[0], g.d[0])}×${effectiveKernel(g.k[1], g.d[1])} kernel with zeros between the taps.`);
    notes.push('Caffe Deconvolution is the transpose of its Convolution with the same weights, as TF conv2d_transpose is of conv2d: no spatial flip.');
    if (ctx.backend === 'theano') notes.push('The Theano-flipped kernel is flipped back first.');

    const weights: WeightMapping[] = [
      {
        from: `kernel ${shapeText(kshape)} (kh,kw,out,in)${ctx.backend === 'theano' ? ' (Theano-flipped, unflipped first)' : ''}`,
        to: `blobs[0] ${shapeText(blobShape)} (in,out,kh,kw)`,
        transform: [ctx.backend === 'theano' ? 'flipKernelHW' : '', 'convTransposeToIohw', dilated ? 'dilateKernelHW' : '', grown ? 'zeroPadKernelHW' : ''].filter(Boolean).join(', '),
      },
    ];
    if (useBias) weights.push({ from: `bias (${co})`, to: `blobs[1] (${co})`, transform: 'copy' });
    return mapped([deconv, ...chain.layers], [outputRef(out, ctx.outputShapes[0], chain.nonNegative)], {
      summary: `Conv2DTranspose ${g.k.join('×')}/${g.s.join('×')} '${g.padding}' with ${co} filters → Caffe Deconvolution${grown ? ' (kernel grown by zero rows/columns)' : ''}${hasAct ? ` + ${chain.note}` : ''}.`,
      params: [
        ['filters', 'num_output'],
        ['kernel_size', `kernel ${ch.kernel}×${cw.kernel}`],
        ['strides', 'stride'],
        ['padding / output_padding', `pad ${ch.pad}×${cw.pad}`],
        ['use_bias', 'bias_term'],
      ],
      weights,
      notes,
    });
  },
};
