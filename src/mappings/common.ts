/** Helpers shared by the per-layer mappings. */
import type { CaffeLayer } from '../caffe/net.js';
import type { TargetProfile } from '../core/targets.js';
import type { BlobRef, Explanation, MappedLayer, RefusedLayer, Shape } from './types.js';

/** Impossible input shapes for a layer: becomes an "unsupported" row of the plan. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** Caffe blob dims (batch 1) of a Keras shape: [H,W,C] → [1,C,H,W], [C] → [1,C], [S,C] → [1,C,1,S]. */
export function caffeInputDims(shape: Shape): number[] {
  if (shape.length === 3) return [1, shape[2], shape[0], shape[1]];
  if (shape.length === 1) return [1, shape[0]];
  if (shape.length === 2) return [1, shape[1], 1, shape[0]];
  return [1, ...shape];
}

/** A Keras int-or-tuple argument as a pair. */
export function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0]];
  throw new ShapeError(`${what} must be an int or a pair, got ${JSON.stringify(v)}`);
}

export function requireRank(shapes: Shape[], rank: number, what: string): void {
  for (const s of shapes)
    if (s.length !== rank) throw new ShapeError(`${what} needs a ${rank === 3 ? 'H×W×C image tensor' : `rank-${rank} tensor`}, got shape [${s}]`);
}

/** Maps a Keras axis (batch = 0, negative from the end) of a tensor of `shape` to its Caffe blob axis. */
export function caffeAxis(axis: number, shape: Shape): number {
  const rank = shape.length + 1;
  const a = axis < 0 ? axis + rank : axis;
  if (a <= 0 || a >= rank) throw new ShapeError(`axis ${axis} is out of range for shape [${shape}]`);
  if (shape.length === 3) return [0, 2, 3, 1][a];
  if (shape.length === 2) return [0, 3, 1][a];
  return a;
}

export function mapped(layers: CaffeLayer[], outputs: BlobRef[], explanation: Explanation, inexact?: string): MappedLayer {
  return { kind: 'mapped', layers, outputs, explanation, ...(inexact ? { inexact } : {}) };
}

export function refused(reason: string): RefusedLayer {
  return { kind: 'unsupported', reason };
}

/** A BlobRef for a layer's own output, in the standard layout. */
export function outputRef(blob: string, shape: Shape, nonNegative = false): BlobRef {
  return { blob, shape, layout: { kind: 'nchw' }, ...(nonNegative ? { nonNegative: true } : {}) };
}

export function shapeText(s: number[]): string {
  return `(${s.join(',')})`;
}

/** What an activation chain needs from its layer's mapping context (a MappingContext is one). */
export interface ActivationEnv {
  /** A unique name for an intermediate blob. */
  name(suffix: string): string;
  target: TargetProfile;
  keras3: boolean;
}

export interface ActivationChain {
  layers: CaffeLayer[];
  nonNegative: boolean;
  /** How the activation maps, for the explanation. */
  note: string;
}

/** Keras activation names that map to nothing. */
const LINEAR = new Set(['linear', undefined, null, '']);

/**
 * Caffe layers that apply a Keras activation function from `bottom` into `top`.
 * Returns a refusal reason for activations with no exact Caffe form on this target.
 * `name(suffix)` makes unique names for intermediate blobs.
 * `softmaxAxis` is the Caffe axis of the channel dimension (1 for NCHW blobs).
 */
export function activationLayers(
  activation: unknown,
  bottom: string,
  top: string,
  env: ActivationEnv,
  softmaxAxis = 1,
): ActivationChain | string {
  const { target, keras3 } = env;
  const name = (suffix: string) => env.name(suffix);
  const act = typeof activation === 'string' ? activation : (activation as any)?.class_name ?? (activation as any)?.config?.name;
  if (LINEAR.has(act)) return { layers: [], nonNegative: false, note: 'linear: no Caffe layer' };
  const one = (type: string, params?: CaffeLayer['params'], nonNegative = false, note = `${act} → ${type}`): ActivationChain => ({
    layers: [{ name: top, type, bottom: [bottom], top: [top], ...(params ? { params } : {}) }],
    nonNegative,
    note,
  });
  switch (act) {
    case 'relu':
      return one('ReLU', undefined, true);
    case 'sigmoid':
      return one('Sigmoid', undefined, true);
    case 'tanh':
      return one('TanH');
    case 'elu':
      return one('ELU', { elu_param: { alpha: 1 } });
    case 'softplus':
      // BNLL computes log(1 + exp(x)), which is softplus (caffe/layers/bnll_layer.cpp).
      return one('BNLL', undefined, true, 'softplus → BNLL (log(1 + eˣ))');
    case 'softmax':
      return one('Softmax', { softmax_param: { axis: softmaxAxis } }, true, `softmax over channels → Softmax axis ${softmaxAxis}`);
    case 'selu': {
      // selu(x) = scale * elu(x, alpha), alpha = 1.6732632423543772, scale = 1.0507009873554805 (Klambauer et al. 2017; keras/activations.py).
      const mid = name('elu');
      return {
        layers: [
          { name: mid, type: 'ELU', bottom: [bottom], top: [mid], params: { elu_param: { alpha: 1.6732632423543772 } } },
          { name: top, type: 'Power', bottom: [mid], top: [top], params: { power_param: { power: 1, scale: 1.0507009873554805, shift: 0 } } },
        ],
        nonNegative: false,
        note: 'selu → ELU(α=1.6733) then Power(scale=1.0507)',
      };
    }
    case 'relu6':
      return relu6Layers(bottom, top, name, target);
    case 'hard_sigmoid': {
      // Keras 2 and tf.keras: clip(0.2 x + 0.5, 0, 1) (keras/backend/tensorflow_backend.py).
      // Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1) (keras/src/backend/tensorflow/nn.py).
      const slope = keras3 ? 1 / 6 : 0.2;
      const formula = keras3 ? 'relu6(x+3)/6 = clip(x/6+0.5, 0, 1)' : 'clip(0.2x+0.5, 0, 1)';
      const lin = name('lin');
      const r1 = name('relu_low');
      const neg = name('neg');
      const r2 = name('relu_high');
      return {
        layers: [
          { name: lin, type: 'Power', bottom: [bottom], top: [lin], params: { power_param: { power: 1, scale: slope, shift: 0.5 } } },
          { name: r1, type: 'ReLU', bottom: [lin], top: [r1] },
          { name: neg, type: 'Power', bottom: [r1], top: [neg], params: { power_param: { power: 1, scale: -1, shift: 1 } } },
          { name: r2, type: 'ReLU', bottom: [neg], top: [r2] },
          { name: top, type: 'Power', bottom: [r2], top: [top], params: { power_param: { power: 1, scale: -1, shift: 1 } } },
        ],
        nonNegative: true,
        note: `hard_sigmoid = ${formula} → Power, ReLU, Power(−1,+1), ReLU, Power(−1,+1)`,
      };
    }
    case 'swish':
    case 'silu':
      if (target.has('Swish')) return one('Swish', undefined, false, `${act} → Swish`);
      {
        const sig = name('sigmoid');
        return {
          layers: [
            { name: sig, type: 'Sigmoid', bottom: [bottom], top: [sig] },
            { name: top, type: 'Eltwise', bottom: [bottom, sig], top: [top], params: { eltwise_param: { operation: 'PROD' } } },
          ],
          nonNegative: false,
          note: `${act} = x·sigmoid(x) → Sigmoid then Eltwise PROD (no Swish layer on ${target.name})`,
        };
      }
    case 'exponential':
      return one('Exp', undefined, true);
    default:
      return `activation '${String(act)}' has no Caffe mapping`;
  }
}

/** min(max(x, 0), 6). Clip where the target has it, else an exact Caffe 1.0 chain. */
export function relu6Layers(bottom: string, top: string, name: (suffix: string) => string, target: TargetProfile, maxValue = 6): ActivationChain {
  if (target.has('Clip'))
    return {
      layers: [{ name: top, type: 'Clip', bottom: [bottom], top: [top], params: { clip_param: { min: 0, max: maxValue } } }],
      nonNegative: true,
      note: `ReLU capped at ${maxValue} → Clip(0, ${maxValue})`,
    };
  // min(relu(x), m) = m − relu(m − relu(x)).
  const r1 = name('relu');
  const neg = name('flip');
  const r2 = name('relu_cap');
  return {
    layers: [
      { name: r1, type: 'ReLU', bottom: [bottom], top: [r1] },
      { name: neg, type: 'Power', bottom: [r1], top: [neg], params: { power_param: { power: 1, scale: -1, shift: maxValue } } },
      { name: r2, type: 'ReLU', bottom: [neg], top: [r2] },
      { name: top, type: 'Power', bottom: [r2], top: [top], params: { power_param: { power: 1, scale: -1, shift: maxValue } } },
    ],
    nonNegative: true,
    note: `ReLU capped at ${maxValue} = ${maxValue} − relu(${maxValue} − relu(x)) → ReLU, Power(−1,+${maxValue}), ReLU, Power(−1,+${maxValue}) (no Clip on ${target.name})`,
  };
}

/** Whether an activation function's output is ≥ 0. */
export function activationIsNonNegative(activation: unknown): boolean {
  return ['relu', 'sigmoid', 'softmax', 'softplus', 'relu6', 'hard_sigmoid', 'exponential'].includes(String(activation));
}
