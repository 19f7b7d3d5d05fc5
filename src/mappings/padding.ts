/**
 * TensorFlow padding semantics and their exact Caffe forms.
 *
 * TensorFlow `same` (tensorflow/core/framework/kernel_shape_util.cc, GetWindowedOutputSize):
 *   out = ceil(in / s), total = max((out − 1)·s + k_eff − in, 0),
 *   begin = floor(total / 2), end = total − begin  (the odd pixel goes to the bottom/right).
 * Caffe Convolution (conv_layer.cpp): out = floor((in + 2·pad − k_eff) / s) + 1, symmetric pad only.
 * Caffe Pooling (pooling_layer.cpp): out = ceil((in + 2·pad − k) / s) + 1, then one less if the
 *   last window would start inside the bottom/right padding.
 */
import type { CaffeLayer } from '../caffe/net.js';
import { tensor } from '../core/tensor.js';
import type { Pads } from './types.js';

export function effectiveKernel(k: number, dilation: number): number {
  return (k - 1) * dilation + 1;
}

/** TF per-side pads [begin, end] for one spatial axis. */
export function tfSamePads(size: number, k: number, stride: number, dilation = 1): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effectiveKernel(k, dilation) - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/** Output size of a TF `valid` window op on an (already padded) axis. */
export function validOutput(size: number, k: number, stride: number, dilation = 1): number {
  return Math.floor((size - effectiveKernel(k, dilation)) / stride) + 1;
}

/** [top, bottom, left, right] for a Keras padding mode on an H×W input. */
export function kerasPads(padding: string, [h, w]: [number, number], [kh, kw]: [number, number], [sh, sw]: [number, number], [dh, dw]: [number, number] = [1, 1]): Pads {
  if (padding === 'valid') return [0, 0, 0, 0];
  const [t, b] = tfSamePads(h, kh, sh, dh);
  const [l, r] = tfSamePads(w, kw, sw, dw);
  return [t, b, l, r];
}

export function addPads(a: Pads, b: Pads): Pads {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]];
}

export function isSymmetric(p: Pads): boolean {
  return p[0] === p[1] && p[2] === p[3];
}

export function isZero(p: Pads): boolean {
  return p.every((x) => x === 0);
}

export function padsText(p: Pads): string {
  return `top ${p[0]}, bottom ${p[1]}, left ${p[2]}, right ${p[3]}`;
}

/**
 * A diagram of which rows/columns are padded: Keras's per-side padding against Caffe's
 * symmetric padding of max(begin, end) per axis. `P` marks a padded row/column, `.` data.
 */
export function padDiagram(p: Pads, h: number, w: number): string {
  const row = (before: number, n: number, after: number) => 'P'.repeat(before) + '.'.repeat(Math.min(n, 6)) + (n > 6 ? '…' : '') + 'P'.repeat(after);
  const ch = Math.max(p[0], p[1]);
  const cw = Math.max(p[2], p[3]);
  return [
    `rows    Keras: ${row(p[0], h, p[1])}   Caffe pad_h=${ch}: ${row(ch, h, ch)}`,
    `columns Keras: ${row(p[2], w, p[3])}   Caffe pad_w=${cw}: ${row(cw, w, cw)}`,
    'P = a padded row/column, . = data',
  ].join('\n');
}

/**
 * An exact standalone zero padding in plain Caffe: a per-channel (grouped) Deconvolution with a
 * one-hot kernel. With stride 1 and pad 0, Deconvolution gives out = in + K − 1; a kernel of size
 * (1 + top + bottom) × (1 + left + right) whose only 1 is at (top, left) shifts each pixel by
 * (top, left) and leaves zeros elsewhere: exactly ZeroPadding2D(((top, bottom), (left, right))).
 */
export function zeroPadLayer(name: string, bottom: string, top: string, channels: number, p: Pads): CaffeLayer {
  const kh = 1 + p[0] + p[1];
  const kw = 1 + p[2] + p[3];
  return {
    name,
    type: 'Deconvolution',
    bottom: [bottom],
    top: [top],
    params: {
      convolution_param: { num_output: channels, bias_term: false, kernel_h: kh, kernel_w: kw, group: channels },
    },
    blobShapes: [[channels, 1, kh, kw]],
    blobs: () => {
      const k = tensor([channels, 1, kh, kw]);
      for (let c = 0; c < channels; c++) k.data[(c * kh + p[0]) * kw + p[2]] = 1;
      return [k];
    },
  };
}
