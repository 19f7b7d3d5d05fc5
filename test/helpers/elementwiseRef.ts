/** Plain-JS references of Keras elementwise formulas (keras 2.3.1 / tf.keras semantics) on channels-last tensors. */
import { tensor, type Tensor } from '../../src/core/tensor.js';

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
export const elu = (x: number, a = 1) => (x > 0 ? x : a * (Math.exp(x) - 1));
export const relu = (x: number) => Math.max(x, 0);
export const clip = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

/** Keras backend relu(x, alpha, max_value, threshold) (keras/backend/tensorflow_backend.py 2.3.1). */
export function kerasRelu(x: number, alpha = 0, maxValue: number | null = null, threshold = 0): number {
  const t = Math.fround(threshold); // Keras compares in float32
  const negative = alpha !== 0 ? relu(t - x) : 0;
  let y = t !== 0 ? x * (x > t ? 1 : 0) : relu(x);
  if (maxValue !== null) y = clip(y, 0, maxValue);
  return alpha !== 0 ? y - alpha * negative : y;
}

const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

/** Elementwise Keras activations by name. */
export const ACTIVATIONS: Record<string, (x: number) => number> = {
  linear: (x) => x,
  relu,
  sigmoid,
  tanh: Math.tanh,
  elu: (x) => elu(x),
  selu: (x) => SELU_SCALE * elu(x, SELU_ALPHA),
  softplus,
  relu6: (x) => clip(x, 0, 6),
  hard_sigmoid: (x) => clip(0.2 * x + 0.5, 0, 1),
  swish: (x) => x * sigmoid(x),
  silu: (x) => x * sigmoid(x),
  exponential: Math.exp,
  softsign: (x) => x / (1 + Math.abs(x)),
  mish: (x) => x * Math.tanh(softplus(x)),
  leaky_relu: (x) => (x > 0 ? x : 0.2 * x),
  hard_silu: (x) => (x * clip(x + 3, 0, 6)) / 6,
};

/** Row-major strides of a shape. */
function strides(shape: number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Softmax over `axis` (0-based, no batch) of a row-major tensor. */
export function softmax(t: Tensor, axis = t.shape.length - 1): Tensor {
  const st = strides(t.shape);
  const n = t.shape[axis];
  const step = st[axis];
  const out = new Float32Array(t.data.length);
  for (let base = 0; base < t.data.length; base++) {
    if (Math.floor(base / step) % n !== 0) continue; // first element along the axis
    let m = -Infinity;
    for (let k = 0; k < n; k++) m = Math.max(m, t.data[base + k * step]);
    let sum = 0;
    for (let k = 0; k < n; k++) sum += Math.exp(t.data[base + k * step] - m);
    for (let k = 0; k < n; k++) out[base + k * step] = Math.exp(t.data[base + k * step] - m) / sum;
  }
  return tensor([...t.shape], out);
}

/** numpy-style broadcast of elementwise `f` over tensors aligned at the end. */
export function broadcast(ts: Tensor[], f: (xs: number[]) => number): Tensor {
  const rank = Math.max(...ts.map((t) => t.shape.length));
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(Math.max(...ts.map((t) => t.shape[t.shape.length - rank + i] ?? 1)));
  const total = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(total);
  const os = strides(shape);
  const tstr = ts.map((t) => {
    const aligned = [...new Array(rank - t.shape.length).fill(1), ...t.shape];
    const s = strides(aligned);
    return aligned.map((d, i) => (d === 1 ? 0 : s[i]));
  });
  for (let k = 0; k < total; k++) {
    const idx = os.map((s, i) => Math.floor(k / s) % shape[i]);
    out[k] = f(ts.map((t, j) => t.data[idx.reduce((acc, v, i) => acc + v * tstr[j][i], 0)]));
  }
  return tensor(shape, out);
}

/** Concatenation along `axis` (0-based, no batch). */
export function concat(ts: Tensor[], axis: number): Tensor {
  const shape = [...ts[0].shape];
  shape[axis] = ts.reduce((a, t) => a + t.shape[axis], 0);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (const t of ts) {
      const len = t.data.length / outer;
      out.set(t.data.subarray(i * len, (i + 1) * len), o);
      o += len;
    }
  return tensor(shape, out);
}
