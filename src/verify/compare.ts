/**
 * Numerical comparison of a Keras reference tensor with a Caffe blob.
 *
 * - max abs error: max |caffe − keras| over all elements;
 * - max rel error: max |Δ| / max(1, max |keras|) (one scale for the whole tensor, so that
 *   near-zero elements do not blow it up);
 * - pass rule: max |Δ| ≤ tolerance · max(1, max |keras|), i.e. max rel ≤ tolerance (default 1e-4);
 * - top-1 agreement for classifier-like outputs (a 1-D tensor of ≥ 2 classes): argmax of both.
 *
 * NaN/Inf: an element that is non-finite on one side only, or NaN against ±Inf, counts as an
 * infinite error (the check fails); identical non-finite values (both NaN, both +Inf) agree.
 *
 * Orientation: Keras tensors are NHWC, Caffe blobs NCHW. `kerasInCaffeOrder` rewrites a Keras
 * tensor (batch axis dropped) into the element order of its Caffe blob for a plan `BlobLayout`:
 * `nchw` ([H,W,C] ↔ C×H×W, [C] ↔ C, [S,C] ↔ C×1×S, other ranks unchanged) or `flat-chw` (a Keras
 * Flatten of [H,W,C], held by Caffe in C,H,W order).
 */
import type { Tensor } from '../core/tensor.js';
import type { BlobLayout } from '../mappings/types.js';

export const DEFAULT_TOLERANCE = 1e-4;

export interface Top1 {
  keras: number;
  caffe: number;
  agree: boolean;
}

export interface Comparison {
  maxAbs: number;
  maxRel: number;
  /** max |keras| (the scale of the relative error). */
  maxRef: number;
  /** Index (in Caffe order) of the largest error. */
  worstIndex: number;
  passed: boolean;
  top1?: Top1;
  /** Elements that are non-finite on exactly one side (or NaN vs ±Inf). */
  nonFinite: number;
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best] || (Number.isNaN(a[best]) && !Number.isNaN(a[i]))) best = i;
  return best;
}

/** Whether a Keras output shape (without batch) is classifier-like: 1-D with at least 2 classes. */
export function isClassifierShape(shape: readonly number[]): boolean {
  return shape.length === 1 && shape[0] >= 2;
}

/** Compares `caffe` against the reference `keras` (same length, same element order). */
export function compareValues(keras: Float32Array, caffe: Float32Array, tolerance = DEFAULT_TOLERANCE, classifier = false): Comparison {
  if (keras.length !== caffe.length) throw new Error(`compareValues: ${keras.length} reference values against ${caffe.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  let worst = 0;
  let nonFinite = 0;
  for (let i = 0; i < keras.length; i++) {
    const r = keras[i];
    const c = caffe[i];
    if (Number.isFinite(r)) {
      const a = Math.abs(r);
      if (a > maxRef) maxRef = a;
    }
    let d: number;
    if (Number.isFinite(r) && Number.isFinite(c)) d = Math.abs(c - r);
    else if (Object.is(r, c) || (Number.isNaN(r) && Number.isNaN(c))) d = 0;
    else {
      d = Infinity;
      nonFinite++;
    }
    if (d > maxAbs) {
      maxAbs = d;
      worst = i;
    }
  }
  const scale = Math.max(1, maxRef);
  const maxRel = maxAbs / scale;
  const out: Comparison = { maxAbs, maxRel, maxRef, worstIndex: worst, passed: maxAbs <= tolerance * scale, nonFinite };
  if (classifier && keras.length >= 2) {
    const k = argmax(keras);
    const c = argmax(caffe);
    out.top1 = { keras: k, caffe: c, agree: k === c };
  }
  return out;
}

/**
 * The values of a Keras tensor (shape without the batch axis) in the element order of its Caffe
 * blob, for the given layout. Returns null when the layout does not fit the shape.
 */
export function kerasInCaffeOrder(t: Tensor, layout: BlobLayout): Float32Array | null {
  const s = t.shape;
  if (layout.kind === 'flat-chw') {
    const [h, w, c] = layout.from;
    if (s.length !== 1 || s[0] !== h * w * c) return null;
    const out = new Float32Array(t.data.length);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = t.data[(y * w + x) * c + ch];
    return out;
  }
  if (s.length === 3) {
    const [h, w, c] = s;
    const out = new Float32Array(t.data.length);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = t.data[(y * w + x) * c + ch];
    return out;
  }
  if (s.length === 2) {
    // [steps, C] ↔ C×1×steps
    const [n, c] = s;
    const out = new Float32Array(t.data.length);
    for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) out[ch * n + i] = t.data[i * c + ch];
    return out;
  }
  return t.data;
}

/** Caffe blob dims (batch 1) a Keras shape maps to in the standard layout. */
export function caffeDimsOf(shape: readonly number[]): number[] {
  if (shape.length === 3) return [1, shape[2], shape[0], shape[1]];
  if (shape.length === 2) return [1, shape[1], 1, shape[0]];
  return [1, ...shape];
}

/** Whether Caffe dims are those of the Keras shape (trailing 1s ignored, e.g. 1×C×1×1 ↔ [C]). */
export function caffeDimsAgree(caffe: readonly number[], kerasShape: readonly number[]): boolean {
  const trim = (d: readonly number[]) => {
    const a = [...d];
    while (a.length > 1 && a[a.length - 1] === 1) a.pop();
    return a;
  };
  const a = trim(caffe);
  const b = trim(caffeDimsOf(kerasShape));
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A short label for a shape: 8×8×4. */
export function shapeLabel(shape: readonly number[]): string {
  return shape.length ? shape.join('×') : 'scalar';
}

/** A compact error figure: 0, 3.1e-7, 12.0, inf. */
export function formatError(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : 'inf';
  return x.toExponential(1);
}
