/**
 * Weight layout transforms between Keras (TensorFlow, channels-last) and Caffe (NCHW).
 * Each function returns a new tensor; inputs are never modified.
 *
 * The kernel transforms are all one permutation, `sicToCis`: a kernel viewed as [S, I, C]
 * (S spatial taps, I the middle axis, C the last one) becomes [C, I, S]. It writes one
 * preallocated output (arena memory while the .caffemodel writer asks for a layer's blobs,
 * see weightBuffers.ts) in cache-sized tiles, and reads a file-backed kernel (`fileTensor`)
 * in pieces straight from the file, so a big kernel is never held twice in memory.
 */
import { tensor, type Tensor } from './tensor.js';
import { allocWeights, countNonFinite, fileTensor, noteNonFinite, reversedBlocks, scratch, sourceOf, SCRATCH_FLOATS } from './weightBuffers.js';

/** Output columns (i, s) per tile row block, and the tile sizes of the transpose kernel (measured on 3×3 and 7×7×512 Dense kernels). */
const COLS_PER_BLOCK = 512;
const TILE_J = 16;
const TILE_C = 64;

/**
 * out[(c·I + i)·S + s] = src[rowOff[j] + c] for output columns j = (i − i0)·S + s of one block,
 * i.e. a transpose whose source rows are found through `rowOff`, tiled TILE_J × TILE_C.
 */
function transposeBlock(src: Float32Array, rowOff: Int32Array, nJ: number, C: number, out: Float32Array, outJ0: number, IS: number): void {
  for (let j0 = 0; j0 < nJ; j0 += TILE_J) {
    const j1 = j0 + TILE_J < nJ ? j0 + TILE_J : nJ;
    for (let c0 = 0; c0 < C; c0 += TILE_C) {
      const c1 = c0 + TILE_C < C ? c0 + TILE_C : C;
      for (let c = c0; c < c1; c++) {
        const ob = c * IS + outJ0;
        for (let j = j0; j < j1; j++) out[ob + j] = src[rowOff[j] + c];
      }
    }
  }
}

/**
 * The plain transpose of `rows` consecutive rows of `src` (each C long): out[c·I + i0 + r] =
 * src[r·C + c], in 8 × 8 tiles (the S = 1 case of sicToCis: Dense kernels, 1×1 convolutions).
 */
function transposeRows(src: Float32Array, rows: number, C: number, out: Float32Array, i0: number, I: number): void {
  const T = 8;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = r0 + T < rows ? r0 + T : rows;
    for (let c0 = 0; c0 < C; c0 += T) {
      const c1 = c0 + T < C ? c0 + T : C;
      for (let c = c0; c < c1; c++) {
        const ob = c * I + i0;
        let so = r0 * C + c;
        for (let r = r0; r < r1; r++, so += C) out[ob + r] = src[so];
      }
    }
  }
}

/**
 * The [S, I, C] → [C, I, S] permutation, out[c][i][s] = k[s][i][c], into one new buffer.
 * A file-backed `k` is read in blocks of I (all S taps of a few i at a time, ≤ 16 MB), never whole.
 */
function sicToCis(k: Tensor, S: number, I: number, C: number): Float32Array {
  const n = S * I * C;
  const source = sourceOf(k);
  if (!source && k.data.length !== n) throw new Error(`kernel has ${k.data.length} values, [${S}, ${I}, ${C}] needs ${n}`);
  if (source && source.length !== n) throw new Error(`kernel has ${source.length} values, [${S}, ${I}, ${C}] needs ${n}`);
  const out = allocWeights(n);
  if (n === 0) return out;
  const IS = I * S;
  if (S === 1 && !source) {
    transposeRows(k.data, I, C, out, 0, I);
    return out;
  }
  if (!source) {
    const src = k.data;
    const ti = Math.max(1, Math.floor(COLS_PER_BLOCK / S));
    const rowOff = new Int32Array(ti * S);
    for (let i0 = 0; i0 < I; i0 += ti) {
      const i1 = Math.min(I, i0 + ti);
      let j = 0;
      for (let i = i0; i < i1; i++) for (let s = 0; s < S; s++) rowOff[j++] = (s * I + i) * C;
      transposeBlock(src, rowOff, j, C, out, i0 * S, IS);
    }
    return out;
  }
  // Pieces of `chunkI` values of i (all S taps): S reads of chunkI·C contiguous floats each.
  const chunkI = Math.max(1, Math.min(I, Math.floor(SCRATCH_FLOATS / (S * C))));
  const buf = scratch(chunkI * S * C);
  const ti = Math.max(1, Math.floor(COLS_PER_BLOCK / S));
  const rowOff = new Int32Array(Math.min(ti, chunkI) * S);
  // NaN/Inf are counted while each piece is in the cache (the writer's check then needs no pass).
  let nonFinite = 0;
  for (let i0 = 0; i0 < I; i0 += chunkI) {
    const ni = Math.min(I, i0 + chunkI) - i0;
    if (ni === I) source.read(0, n, buf, 0);
    else for (let s = 0; s < S; s++) source.read((s * I + i0) * C, ni * C, buf, s * ni * C);
    nonFinite += countNonFinite(buf, 0, ni * S * C);
    if (S === 1) {
      transposeRows(buf, ni, C, out, i0, I);
      continue;
    }
    for (let b0 = 0; b0 < ni; b0 += ti) {
      const b1 = Math.min(ni, b0 + ti);
      let j = 0;
      for (let i = b0; i < b1; i++) for (let s = 0; s < S; s++) rowOff[j++] = (s * ni + i) * C;
      transposeBlock(buf, rowOff, j, C, out, (i0 + b0) * S, IS);
    }
  }
  noteNonFinite(out, nonFinite);
  return out;
}

/** Conv kernel (kh, kw, in, out) HWIO → Caffe (out, in, kh, kw) OIHW. */
export function hwioToOihw(k: Tensor): Tensor {
  const [kh, kw, ci, co] = k.shape;
  return tensor([co, ci, kh, kw], sicToCis(k, kh * kw, ci, co));
}

/**
 * Spatially flips a kernel (kh, kw, ...) in place order: k[::-1, ::-1]. Keras on Theano stores
 * Conv1D/2D/3D/Conv2DTranspose kernels flipped relative to TensorFlow (keras/engine/saving.py,
 * preprocess_weights_for_loading → conv_utils.convert_kernel). A file-backed kernel stays
 * file-backed (the flip is applied as it is read).
 */
export function flipKernelHW(k: Tensor): Tensor {
  const [kh, kw] = k.shape;
  const source = sourceOf(k);
  if (source) return fileTensor([...k.shape], reversedBlocks(source, kh * kw));
  return tensor([...k.shape], reverseBlocks(k.data, kh * kw));
}

/** `data` as `blocks` equal blocks in reverse order, in a new buffer. */
function reverseBlocks(data: Float32Array, blocks: number): Float32Array {
  const inner = data.length / blocks;
  const out = allocWeights(data.length);
  for (let b = 0; b < blocks; b++) out.set(data.subarray(b * inner, (b + 1) * inner), (blocks - 1 - b) * inner);
  return out;
}

/**
 * Dense kernel (in, out) → Caffe InnerProduct weights (out, in). With `flatFrom` = [H, W, C],
 * the Dense follows a Flatten of an H×W×C tensor and its rows are also moved from HWC to CHW
 * order (see permuteFlattenRowsHwcToChw), in the same single pass.
 */
export function denseToInnerProduct(k: Tensor, flatFrom?: [number, number, number]): Tensor {
  const [ni, no] = k.shape;
  if (!flatFrom) return tensor([no, ni], sicToCis(k, 1, ni, no));
  const [h, w, c] = flatFrom;
  if (ni !== h * w * c) throw new Error(`Dense kernel has ${ni} input rows, Flatten of [${h},${w},${c}] gives ${h * w * c}`);
  // Row (s, ch) of the kernel, s = y·W + x, becomes column ch·H·W + s of the (out, in) matrix.
  return tensor([no, ni], sicToCis(k, h * w, c, no));
}

/**
 * Reorders the input rows of a Dense kernel (in, out) that follows a Flatten of an [H, W, C]
 * tensor: Keras flattens in HWC order, Caffe's Flatten of an NCHW blob in CHW order.
 * Row (h, w, c) of the Keras kernel becomes row (c, h, w).
 */
export function permuteFlattenRowsHwcToChw(k: Tensor, [h, w, c]: [number, number, number]): Tensor {
  const [ni, no] = k.shape;
  if (ni !== h * w * c) throw new Error(`Dense kernel has ${ni} input rows, Flatten of [${h},${w},${c}] gives ${h * w * c}`);
  const S = h * w;
  const out = allocWeights(ni * no);
  const source = sourceOf(k);
  // One spatial position s holds c rows; read it whole (from the file: one piece at a time).
  const plane = c * no;
  const buf = source ? scratch(plane) : k.data;
  let nonFinite = 0;
  for (let s = 0; s < S; s++) {
    let from = s * plane;
    if (source) {
      source.read(from, plane, buf, 0);
      nonFinite += countNonFinite(buf, 0, plane);
      from = 0;
    }
    for (let ch = 0; ch < c; ch++) out.set(buf.subarray(from + ch * no, from + (ch + 1) * no), (ch * S + s) * no);
  }
  if (source) noteNonFinite(out, nonFinite);
  return tensor([ni, no], out);
}

/**
 * DepthwiseConv2D kernel (kh, kw, in, mult) → grouped Convolution weights (in*mult, 1, kh, kw):
 * output channel c*mult + m is input channel c filtered by k[:, :, c, m] (TensorFlow's order).
 */
export function depthwiseToGroupedOihw(k: Tensor): Tensor {
  const [kh, kw, ci, mult] = k.shape;
  return tensor([ci * mult, 1, kh, kw], sicToCis(k, kh * kw, 1, ci * mult));
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
  return tensor([ci, co, kh, kw], sicToCis(k, kh * kw, co, ci));
}

/** Conv1D kernel (k, in, out) → Caffe Convolution weights (out, in, 1, k) on the 1×C×1×S blob. */
export function conv1dToOihw(k: Tensor): Tensor {
  const [kw, ci, co] = k.shape;
  return tensor([co, ci, 1, kw], sicToCis(k, kw, ci, co));
}

/** Reverses the first (time) axis of a Conv1D kernel (k, in, out): Theano's flip, undone. */
export function flipKernel1d(k: Tensor): Tensor {
  const [kw] = k.shape;
  const source = sourceOf(k);
  if (source) return fileTensor([...k.shape], reversedBlocks(source, kw));
  return tensor([...k.shape], reverseBlocks(k.data, kw));
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
