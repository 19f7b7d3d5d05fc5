/**
 * Plain-JS references of Keras activation functions, for the activation mapping tests.
 *
 * NOTE (from the depthwise/conv-transpose/upsampling engineer): this file was accidentally
 * overwritten by a file-create at 17:26 while its author was writing it; it was reconstructed
 * from its uses in test/mappings-activation.test.ts (ACTIVATIONS[name], softmax(t)). Please
 * check it against your own definitions. The conv-family references now live in convRef.ts.
 */
import { tensor, type Tensor } from '../../src/core/tensor.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const relu6 = (x: number) => Math.min(Math.max(x, 0), 6);

/** Keras activation functions by name (Keras 2 definitions; Keras 3 for the names it added). */
export const ACTIVATIONS: Record<string, (x: number) => number> = {
  linear: (x) => x,
  relu: (x) => Math.max(x, 0),
  sigmoid,
  tanh: Math.tanh,
  elu: (x) => (x > 0 ? x : Math.expm1(x)),
  // selu = scale · elu(x, alpha) (keras/activations.py)
  selu: (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * Math.expm1(x)),
  softplus,
  relu6,
  // Keras 2: clip(0.2·x + 0.5, 0, 1)
  hard_sigmoid: (x) => Math.min(Math.max(0.2 * x + 0.5, 0), 1),
  swish: (x) => x * sigmoid(x),
  silu: (x) => x * sigmoid(x),
  exponential: Math.exp,
  softsign: (x) => x / (1 + Math.abs(x)),
  mish: (x) => x * Math.tanh(softplus(x)),
  // Keras 3 leaky_relu default negative_slope = 0.2
  leaky_relu: (x) => (x >= 0 ? x : 0.2 * x),
  // Keras 3: hard_silu(x) = x · relu6(x + 3) / 6
  hard_silu: (x) => (x * relu6(x + 3)) / 6,
};

/** Softmax over the last axis (Keras's default axis = -1). */
export function softmax(t: Tensor): Tensor {
  const n = t.shape[t.shape.length - 1];
  const out = tensor([...t.shape]);
  for (let base = 0; base < t.data.length; base += n) {
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, t.data[base + i]);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(t.data[base + i] - m);
    for (let i = 0; i < n; i++) out.data[base + i] = Math.exp(t.data[base + i] - m) / s;
  }
  return out;
}
