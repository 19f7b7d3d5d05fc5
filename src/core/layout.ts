/**
 * Weight layout transforms between Keras (TensorFlow, channels-last) and Caffe (NCHW).
 * Each function returns a new tensor; inputs are never modified.
 */
import { tensor, type Tensor } from './tensor.js';

/** Conv kernel (kh, kw, in, out) HWIO → Caffe (out, in, kh, kw) OIHW. */
export function hwioToOihw(k: Tensor): Tensor {
  const [kh, kw, ci, co] = k.shape;
  const out = new Float32Array(k.data.length);
  const src = k.data;
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) {
        const base = ((y * kw + x) * ci + i) * co;
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = src[base + o];
      }
  return tensor([co, ci, kh, kw], out);
}

/**
 * Spatially flips a kernel (kh, kw, ...) in place order: k[::-1, ::-1]. Keras on Theano stores
 * Conv1D/2D/3D/Conv2DTranspose kernels flipped relative to TensorFlow (keras/engine/saving.py,
 * preprocess_weights_for_loading → conv_utils.convert_kernel).
 */
export function flipKernelHW(k: Tensor): Tensor {
  const [kh, kw] = k.shape;
  const inner = k.data.length / (kh * kw);
  const out = new Float32Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++) {
      const from = (y * kw + x) * inner;
      const to = ((kh - 1 - y) * kw + (kw - 1 - x)) * inner;
      out.set(k.data.subarray(from, from + inner), to);
    }
  return tensor([...k.shape], out);
}

/** Dense kernel (in, out) → Caffe InnerProduct weights (out, in). */
export function denseToInnerProduct(k: Tensor): Tensor {
  const [ni, no] = k.shape;
  const out = new Float32Array(k.data.length);
  for (let i = 0; i < ni; i++) {
    const row = i * no;
    for (let o = 0; o < no; o++) out[o * ni + i] = k.data[row + o];
  }
  return tensor([no, ni], out);
}

/**
 * Reorders the input rows of a Dense kernel (in, out) that follows a Flatten of an [H, W, C]
 * tensor: Keras flattens in HWC order, Caffe's Flatten of an NCHW blob in CHW order.
 * Row (h, w, c) of the Keras kernel becomes row (c, h, w).
 */
export function permuteFlattenRowsHwcToChw(k: Tensor, [h, w, c]: [number, number, number]): Tensor {
  const [ni, no] = k.shape;
  if (ni !== h * w * c) throw new Error(`Dense kernel has ${ni} input rows, Flatten of [${h},${w},${c}] gives ${h * w * c}`);
  const out = new Float32Array(k.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        const from = ((y * w + x) * c + ch) * no;
        const to = ((ch * h + y) * w + x) * no;
        out.set(k.data.subarray(from, from + no), to);
      }
  return tensor([ni, no], out);
}

/**
 * DepthwiseConv2D kernel (kh, kw, in, mult) → grouped Convolution weights (in*mult, 1, kh, kw):
 * output channel c*mult + m is input channel c filtered by k[:, :, c, m] (TensorFlow's order).
 */
export function depthwiseToGroupedOihw(k: Tensor): Tensor {
  const [kh, kw, ci, mult] = k.shape;
  const out = new Float32Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < ci; c++)
        for (let m = 0; m < mult; m++) out[((c * mult + m) * kh + y) * kw + x] = k.data[((y * kw + x) * ci + c) * mult + m];
  return tensor([ci * mult, 1, kh, kw], out);
}

/** Keras NHWC activations [H, W, C] → Caffe CHW (batch of one). */
export function hwcToChw(t: Tensor): Tensor {
  const [h, w, c] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = t.data[(y * w + x) * c + ch];
  return tensor([c, h, w], out);
}

/** Caffe CHW → Keras HWC (batch of one). */
export function chwToHwc(t: Tensor): Tensor {
  const [c, h, w] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) out[(y * w + x) * c + ch] = t.data[(ch * h + y) * w + x];
  return tensor([h, w, c], out);
}
