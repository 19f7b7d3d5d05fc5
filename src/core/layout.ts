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

/**
 * Conv2DTranspose kernel (kh, kw, out, in) → Caffe Deconvolution weights (in, out, kh, kw).
 * Caffe's Deconvolution is the transpose (gradient) of its correlation-style Convolution with the
 * same weights, and TF's conv2d_transpose is conv2d_backprop_input with the same filter: both
 * scatter input (i, c_in) through w[t, c_out, c_in] to output i·s − pad + t, so no spatial flip.
 */
export function convTransposeToIohw(k: Tensor): Tensor {
  const [kh, kw, co, ci] = k.shape;
  const out = new Float32Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let o = 0; o < co; o++) {
        const base = ((y * kw + x) * co + o) * ci;
        for (let i = 0; i < ci; i++) out[((i * co + o) * kh + y) * kw + x] = k.data[base + i];
      }
  return tensor([ci, co, kh, kw], out);
}

/** Conv1D kernel (k, in, out) → Caffe Convolution weights (out, in, 1, k) on the 1×C×1×S blob. */
export function conv1dToOihw(k: Tensor): Tensor {
  const [kw, ci, co] = k.shape;
  return hwioToOihw(tensor([1, kw, ci, co], k.data));
}

/** Reverses the first (time) axis of a Conv1D kernel (k, in, out): Theano's flip, undone. */
export function flipKernel1d(k: Tensor): Tensor {
  const [kw] = k.shape;
  const inner = k.data.length / kw;
  const out = new Float32Array(k.data.length);
  for (let t = 0; t < kw; t++) out.set(k.data.subarray(t * inner, (t + 1) * inner), (kw - 1 - t) * inner);
  return tensor([...k.shape], out);
}

/**
 * A 4-D kernel (A, B, kh, kw) grown by zero rows/columns: `top` rows before, `bottom` after,
 * `left` columns before, `right` after. Values keep their place relative to each other.
 */
export function zeroPadKernelHW(k: Tensor, [top, bottom, left, right]: [number, number, number, number]): Tensor {
  const [a, b, kh, kw] = k.shape;
  const nh = kh + top + bottom;
  const nw = kw + left + right;
  const out = tensor([a, b, nh, nw]);
  for (let p = 0; p < a * b; p++)
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++) out.data[(p * nh + y + top) * nw + x + left] = k.data[(p * kh + y) * kw + x];
  return out;
}

/**
 * A 4-D kernel (A, B, kh, kw) with dilation (dh, dw) written out densely: taps at multiples of the
 * dilation, zeros between, size ((kh − 1)·dh + 1) × ((kw − 1)·dw + 1). Same result, dilation 1.
 */
export function dilateKernelHW(k: Tensor, [dh, dw]: [number, number]): Tensor {
  const [a, b, kh, kw] = k.shape;
  const nh = (kh - 1) * dh + 1;
  const nw = (kw - 1) * dw + 1;
  const out = tensor([a, b, nh, nw]);
  for (let p = 0; p < a * b; p++)
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++) out.data[(p * nh + y * dh) * nw + x * dw] = k.data[(p * kh + y) * kw + x];
  return out;
}

/**
 * A Keras activation (batch of one; with or without the batch axis) in Caffe's blob layout:
 * [H,W,C] → 1×C×H×W, [C] → 1×C, [S,C] → 1×C×1×S.
 */
export function kerasToCaffeBlob(t: Tensor): Tensor {
  const s = t.shape[0] === 1 && t.shape.length >= 2 ? t.shape.slice(1) : t.shape;
  const body = tensor(s, t.data);
  if (s.length === 3) {
    const c = hwcToChw(body);
    return tensor([1, ...c.shape], c.data);
  }
  if (s.length === 2) {
    const c = hwcToChw(tensor([1, s[0], s[1]], t.data));
    return tensor([1, s[1], 1, s[0]], c.data);
  }
  return tensor([1, ...s], t.data);
}

/**
 * A Caffe blob back in Keras's layout (without the batch axis), for a tensor of Keras shape
 * `kerasShape`. `flatFrom` is set for a Flatten output that Caffe holds in C,H,W order.
 */
export function caffeBlobToKeras(t: Tensor, kerasShape: number[], flatFrom?: [number, number, number]): Tensor {
  if (flatFrom) {
    const [h, w, c] = flatFrom;
    const hwc = chwToHwc(tensor([c, h, w], t.data));
    return tensor([...kerasShape], hwc.data);
  }
  if (kerasShape.length === 3) {
    const [h, w, c] = kerasShape;
    return chwToHwc(tensor([c, h, w], t.data));
  }
  if (kerasShape.length === 2) {
    const [s, c] = kerasShape;
    return tensor([s, c], chwToHwc(tensor([c, 1, s], t.data)).data);
  }
  return tensor([...kerasShape], t.data);
}
