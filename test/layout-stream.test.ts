/**
 * The one-pass layout transforms (src/core/layout.ts) give exactly the values of the plain
 * index formulas, for in-memory and for file-backed (streamed) kernels, with Theano's flip, and
 * inside the writer's reused per-layer memory (src/core/weightBuffers.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  conv1dToOihw,
  convTransposeToIohw,
  denseToInnerProduct,
  depthwiseToGroupedOihw,
  flipKernel1d,
  flipKernelHW,
  hwioToOihw,
  permuteFlattenRowsHwcToChw,
} from '../src/core/layout.js';
import { tensor, type Tensor } from '../src/core/tensor.js';
import { countNonFinite, fileTensor, holdLayerArena, knownNonFinite, SCRATCH_FLOATS, sourceOf, type ElementSource } from '../src/core/weightBuffers.js';
import { blobNonFinite } from '../src/core/session.js';

function seq(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = i + 0.5;
  return tensor(shape, d);
}

/** A file-backed copy of t whose source counts its reads. */
function backed(t: Tensor): { t: Tensor; reads: () => number } {
  let reads = 0;
  const src: ElementSource = {
    length: t.data.length,
    read(start, count, dst, off) {
      reads++;
      if (start < 0 || start + count > t.data.length) throw new RangeError('out of range');
      dst.set(t.data.subarray(start, start + count), off);
    },
  };
  return { t: fileTensor([...t.shape], src), reads: () => reads };
}

// Reference implementations: the index formulas, one element at a time.
function refHwio(k: Tensor): number[] {
  const [kh, kw, ci, co] = k.shape;
  const out = new Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = k.data[((y * kw + x) * ci + i) * co + o];
  return out;
}
function refFlip(k: Tensor): Tensor {
  const [kh, kw] = k.shape;
  const inner = k.data.length / (kh * kw);
  const out = new Float32Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let e = 0; e < inner; e++) out[((kh - 1 - y) * kw + (kw - 1 - x)) * inner + e] = k.data[(y * kw + x) * inner + e];
  return tensor([...k.shape], out);
}
function refDense(k: Tensor, from?: [number, number, number]): number[] {
  const [ni, no] = k.shape;
  const rows = new Array(ni);
  if (from) {
    const [h, w, c] = from;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) rows[(ch * h + y) * w + x] = (y * w + x) * c + ch;
  } else for (let i = 0; i < ni; i++) rows[i] = i;
  const out = new Array(ni * no);
  for (let r = 0; r < ni; r++) for (let o = 0; o < no; o++) out[o * ni + r] = k.data[rows[r] * no + o];
  return out;
}
function refPermuteRows(k: Tensor, [h, w, c]: [number, number, number]): number[] {
  const no = k.shape[1];
  const out = new Array(k.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) for (let o = 0; o < no; o++) out[((ch * h + y) * w + x) * no + o] = k.data[((y * w + x) * c + ch) * no + o];
  return out;
}
function refDepthwise(k: Tensor): number[] {
  const [kh, kw, ci, m] = k.shape;
  const out = new Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < ci; c++) for (let j = 0; j < m; j++) out[((c * m + j) * kh + y) * kw + x] = k.data[((y * kw + x) * ci + c) * m + j];
  return out;
}
function refConvT(k: Tensor): number[] {
  const [kh, kw, co, ci] = k.shape;
  const out = new Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) out[((i * co + o) * kh + y) * kw + x] = k.data[((y * kw + x) * co + o) * ci + i];
  return out;
}

const arr = (t: Tensor) => Array.from(t.data);

describe('one-pass layout transforms', () => {
  const convShapes = [
    [1, 1, 1, 1],
    [3, 3, 5, 7],
    [1, 1, 37, 19],
    [7, 7, 3, 64],
    [2, 3, 17, 33],
    [3, 3, 64, 80],
  ];
  for (const shape of convShapes) {
    it(`hwioToOihw ${shape}: in memory, streamed, flipped`, () => {
      const k = seq(shape);
      expect(arr(hwioToOihw(k))).toEqual(refHwio(k));
      expect(hwioToOihw(k).shape).toEqual([shape[3], shape[2], shape[0], shape[1]]);
      const b = backed(k);
      expect(arr(hwioToOihw(b.t))).toEqual(refHwio(k));
      const flipped = refFlip(k);
      expect(arr(flipKernelHW(k))).toEqual(arr(flipped));
      const fb = flipKernelHW(backed(k).t);
      expect(sourceOf(fb)).toBeDefined(); // still file-backed: the flip is applied while reading
      expect(arr(hwioToOihw(fb))).toEqual(refHwio(flipped));
      expect(arr(fb)).toEqual(arr(flipped));
    });
  }

  it('a kernel bigger than the scratch buffer is read in pieces', () => {
    const shape = [3, 3, 40, (SCRATCH_FLOATS / 90) | 0];
    const k = seq(shape);
    const b = backed(k);
    const out = hwioToOihw(b.t);
    expect(b.reads()).toBeGreaterThan(9);
    const want = refHwio(k);
    for (let i = 0; i < want.length; i += 997) expect(out.data[i]).toBe(want[i]);
  });

  for (const [shape, from] of [
    [[6, 4], undefined],
    [[37, 29], undefined],
    [[2 * 3 * 5, 7], [2, 3, 5]],
    [[7 * 7 * 16, 33], [7, 7, 16]],
    [[1 * 4 * 3, 2], [1, 4, 3]],
  ] as [number[], [number, number, number] | undefined][]) {
    it(`denseToInnerProduct ${shape}${from ? ` after Flatten of ${from}` : ''}`, () => {
      const k = seq(shape);
      const want = refDense(k, from);
      expect(arr(denseToInnerProduct(k, from))).toEqual(want);
      expect(arr(denseToInnerProduct(backed(k).t, from))).toEqual(want);
      expect(denseToInnerProduct(k, from).shape).toEqual([shape[1], shape[0]]);
      if (from) {
        // the two-step path gives the same bytes as the fused one
        expect(arr(denseToInnerProduct(permuteFlattenRowsHwcToChw(k, from)))).toEqual(want);
        expect(arr(permuteFlattenRowsHwcToChw(k, from))).toEqual(refPermuteRows(k, from));
        expect(arr(permuteFlattenRowsHwcToChw(backed(k).t, from))).toEqual(refPermuteRows(k, from));
      }
    });
  }

  it('depthwise, transposed and 1-D kernels', () => {
    for (const s of [[3, 3, 5, 2], [1, 1, 8, 1], [5, 2, 3, 4]]) {
      const k = seq(s);
      expect(arr(depthwiseToGroupedOihw(k))).toEqual(refDepthwise(k));
      expect(arr(depthwiseToGroupedOihw(backed(k).t))).toEqual(refDepthwise(k));
      expect(arr(convTransposeToIohw(k))).toEqual(refConvT(k));
      expect(arr(convTransposeToIohw(backed(k).t))).toEqual(refConvT(k));
    }
    const k1 = seq([5, 3, 4]);
    const as2d = refHwio(tensor([1, 5, 3, 4], k1.data));
    expect(arr(conv1dToOihw(k1))).toEqual(as2d);
    expect(conv1dToOihw(k1).shape).toEqual([4, 3, 1, 5]);
    const rev = refFlip(tensor([1, 5, 3, 4], k1.data));
    expect(arr(flipKernel1d(k1))).toEqual(arr(rev));
    expect(arr(conv1dToOihw(flipKernel1d(backed(k1).t)))).toEqual(refHwio(tensor([1, 5, 3, 4], rev.data)));
  });

  it('inputs are never modified', () => {
    const k = seq([3, 3, 4, 5]);
    const before = arr(k);
    hwioToOihw(k);
    flipKernelHW(k);
    denseToInnerProduct(tensor([36, 5], k.data), [3, 3, 4]);
    expect(arr(k)).toEqual(before);
  });
});

describe('NaN/Inf counts taken while streaming', () => {
  it('match a plain count, for transformed and for loaded file-backed weights', () => {
    const k = seq([3, 3, 6, 10]);
    k.data[5] = NaN;
    k.data[77] = Infinity;
    k.data[300] = -Infinity;
    const w = hwioToOihw(backed(k).t);
    expect(knownNonFinite(w.data)).toBe(3);
    expect(blobNonFinite(w.data)).toBe(3);
    const d = denseToInnerProduct(backed(tensor([54, 10], k.data)).t, [3, 3, 6]);
    expect(knownNonFinite(d.data)).toBe(3);
    const loaded = backed(k).t.data;
    expect(knownNonFinite(loaded)).toBe(3);
    // in memory: no recorded count, the writer's check counts itself
    const m = hwioToOihw(k);
    expect(knownNonFinite(m.data)).toBeUndefined();
    expect(blobNonFinite(m.data)).toBe(3);
    expect(countNonFinite(new Float32Array([1, NaN, 2, Infinity, 3]))).toBe(2);
    expect(countNonFinite(new Float32Array([3.4e38, 3.4e38, -3.4e38]))).toBe(0);
    expect(countNonFinite(new Float32Array(0))).toBe(0);
  });
});

describe('per-layer arena memory', () => {
  it('is reused after release; a file-backed tensor read inside is reloaded after that', () => {
    const k = seq([3, 3, 8, 8]);
    const b = backed(k);
    const first = holdLayerArena(() => {
      const w = hwioToOihw(b.t);
      return { w, data: b.t.data };
    });
    const firstValues = arr(first.value.w);
    expect(firstValues).toEqual(refHwio(k));
    first.release();
    // The next holder gets the same memory.
    const second = holdLayerArena(() => hwioToOihw(seq([3, 3, 8, 8])));
    expect(second.value.data.buffer).toBe(first.value.w.data.buffer);
    second.release();
    // b.t.data was arena memory of the first holder: it is read again, not served stale.
    expect(arr(b.t)).toEqual(arr(k));
  });

  it('two holders at once get different memory', () => {
    const a = holdLayerArena(() => hwioToOihw(seq([1, 1, 16, 16])));
    const b = holdLayerArena(() => hwioToOihw(seq([1, 1, 16, 16])));
    const c = holdLayerArena(() => hwioToOihw(seq([1, 1, 16, 16])));
    expect(a.value.data.buffer).not.toBe(b.value.data.buffer);
    expect(c.value.data.buffer).not.toBe(a.value.data.buffer);
    expect(c.value.data.buffer).not.toBe(b.value.data.buffer);
    const want = refHwio(seq([1, 1, 16, 16]));
    for (const h of [a, b, c]) expect(arr(h.value)).toEqual(want);
    for (const h of [a, b, c]) h.release();
  });

  it('outside a holder, outputs are ordinary new arrays', () => {
    const x = hwioToOihw(seq([1, 1, 4, 4]));
    const y = hwioToOihw(seq([1, 1, 4, 4]));
    expect(x.data.buffer).not.toBe(y.data.buffer);
    expect(x.data.byteOffset).toBe(0);
  });
});
