/**
 * Plain-JS references of the Keras/TensorFlow formulas (NHWC, batch of one), written straight
 * from the TF definitions with direct loops, for checking the Caffe nets numerically.
 */
import { tensor, type Tensor } from '../../src/core/tensor.js';

/** TF 'same' pads [begin, end] on one axis (kernel_shape_util.cc, GetWindowedOutputSize). */
export function tfPads(n: number, k: number, s: number, d = 1): [number, number] {
  const kEff = (k - 1) * d + 1;
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + kEff - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

export interface Conv2dOpts {
  strides?: [number, number];
  dilation?: [number, number];
  /** [top, bottom, left, right] zero pads. */
  pads?: [number, number, number, number];
  bias?: Float32Array;
}

/** Zero-padded conv (correlation) of x [H,W,C] with k [kh,kw,C/groups,O] (groups = 1) → [oh, ow, O]. */
export function conv2dRef(x: Tensor, k: Tensor, o: Conv2dOpts = {}): Tensor {
  const [h, w, c] = x.shape;
  const [kh, kw, ci, co] = k.shape;
  if (ci !== c) throw new Error('conv2dRef: channel mismatch');
  const [sh, sw] = o.strides ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const [pt, pb, pl, pr] = o.pads ?? [0, 0, 0, 0];
  const oh = Math.floor((h + pt + pb - ((kh - 1) * dh + 1)) / sh) + 1;
  const ow = Math.floor((w + pl + pr - ((kw - 1) * dw + 1)) / sw) + 1;
  const out = tensor([oh, ow, co]);
  for (let y = 0; y < oh; y++)
    for (let xx = 0; xx < ow; xx++)
      for (let oc = 0; oc < co; oc++) {
        let acc = o.bias ? o.bias[oc] : 0;
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const iy = y * sh - pt + i * dh;
            const ix = xx * sw - pl + j * dw;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (let ic = 0; ic < c; ic++) acc += x.data[(iy * w + ix) * c + ic] * k.data[((i * kw + j) * ci + ic) * co + oc];
          }
        out.data[(y * ow + xx) * co + oc] = acc;
      }
  return out;
}

/** TF depthwise_conv2d: x [H,W,C], k [kh,kw,C,mult] → [oh, ow, C·mult], output c·mult + m. */
export function depthwiseRef(x: Tensor, k: Tensor, o: Conv2dOpts = {}): Tensor {
  const [h, w, c] = x.shape;
  const [kh, kw, , mult] = k.shape;
  const [sh, sw] = o.strides ?? [1, 1];
  const [dh, dw] = o.dilation ?? [1, 1];
  const [pt, pb, pl, pr] = o.pads ?? [0, 0, 0, 0];
  const oh = Math.floor((h + pt + pb - ((kh - 1) * dh + 1)) / sh) + 1;
  const ow = Math.floor((w + pl + pr - ((kw - 1) * dw + 1)) / sw) + 1;
  const co = c * mult;
  const out = tensor([oh, ow, co]);
  for (let y = 0; y < oh; y++)
    for (let xx = 0; xx < ow; xx++)
      for (let ch = 0; ch < c; ch++)
        for (let m = 0; m < mult; m++) {
          let acc = o.bias ? o.bias[ch * mult + m] : 0;
          for (let i = 0; i < kh; i++)
            for (let j = 0; j < kw; j++) {
              const iy = y * sh - pt + i * dh;
              const ix = xx * sw - pl + j * dw;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += x.data[(iy * w + ix) * c + ch] * k.data[((i * kw + j) * c + ch) * mult + m];
            }
          out.data[(y * ow + xx) * co + ch * mult + m] = acc;
        }
  return out;
}

/**
 * TF conv2d_transpose(x, kernel (kh,kw,out,in), output_shape [oh, ow], strides, padding) as the
 * adjoint of the forward conv2d that maps an oh×ow input to x's size: each forward window
 * position (i, j) reads input (i·s − pad + t); the transpose scatters x[i, j] there.
 * `padBefore` overrides the forward pad (e.g. Theano's floor(k/2)); default: TF's for `padding`.
 */
export function conv2dTransposeRef(
  x: Tensor,
  k: Tensor,
  out: [number, number],
  strides: [number, number],
  padding: 'same' | 'valid',
  opts: { bias?: Float32Array; dilation?: [number, number]; padBefore?: [number, number] } = {},
): Tensor {
  const [h, w, ci] = x.shape;
  const [kh, kw, co, kin] = k.shape;
  if (kin !== ci) throw new Error('conv2dTransposeRef: channel mismatch');
  const [dh, dw] = opts.dilation ?? [1, 1];
  const [oh, ow] = out;
  const pt = opts.padBefore ? opts.padBefore[0] : padding === 'same' ? Math.floor(Math.max((h - 1) * strides[0] + (kh - 1) * dh + 1 - oh, 0) / 2) : 0;
  const pl = opts.padBefore ? opts.padBefore[1] : padding === 'same' ? Math.floor(Math.max((w - 1) * strides[1] + (kw - 1) * dw + 1 - ow, 0) / 2) : 0;
  const y = tensor([oh, ow, co]);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let a = 0; a < kh; a++)
        for (let b = 0; b < kw; b++) {
          const oy = i * strides[0] - pt + a * dh;
          const ox = j * strides[1] - pl + b * dw;
          if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
          for (let c = 0; c < co; c++) {
            let acc = 0;
            for (let q = 0; q < ci; q++) acc += x.data[(i * w + j) * ci + q] * k.data[((a * kw + b) * co + c) * ci + q];
            y.data[(oy * ow + ox) * co + c] += acc;
          }
        }
  if (opts.bias) for (let p = 0; p < oh * ow; p++) for (let c = 0; c < co; c++) y.data[p * co + c] += opts.bias[c];
  return y;
}

/** TF resize_bilinear (compute_interpolation_weights) of x [H,W,C] to [oh, ow]. */
export function resizeBilinearRef(x: Tensor, oh: number, ow: number, halfPixel: boolean): Tensor {
  const [h, w, c] = x.shape;
  const weights = (outSize: number, inSize: number) => {
    const scale = Math.fround(inSize / outSize);
    return Array.from({ length: outSize }, (_, o) => {
      const inn = halfPixel ? (o + 0.5) * scale - 0.5 : o * scale;
      const f = Math.floor(inn);
      return { lo: Math.max(f, 0), hi: Math.min(Math.ceil(inn), inSize - 1), lerp: inn - f };
    });
  };
  const ys = weights(oh, h);
  const xs = weights(ow, w);
  const out = tensor([oh, ow, c]);
  const at = (yy: number, xx: number, ch: number) => x.data[(yy * w + xx) * c + ch];
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let ch = 0; ch < c; ch++) {
        const { lo: y0, hi: y1, lerp: ly } = ys[i];
        const { lo: x0, hi: x1, lerp: lx } = xs[j];
        const top = at(y0, x0, ch) + (at(y0, x1, ch) - at(y0, x0, ch)) * lx;
        const bottom = at(y1, x0, ch) + (at(y1, x1, ch) - at(y1, x0, ch)) * lx;
        out.data[(i * ow + j) * c + ch] = top + (bottom - top) * ly;
      }
  return out;
}

/** Nearest-neighbour upsampling by integer factors (repeat). */
export function upsampleNearestRef(x: Tensor, a: number, b: number): Tensor {
  const [h, w, c] = x.shape;
  const out = tensor([h * a, w * b, c]);
  for (let i = 0; i < h * a; i++)
    for (let j = 0; j < w * b; j++)
      for (let ch = 0; ch < c; ch++) out.data[(i * w * b + j) * c + ch] = x.data[((Math.floor(i / a)) * w + Math.floor(j / b)) * c + ch];
  return out;
}

/** TF max/avg pooling, 'valid' or 'same' (avg divides by the real cells only). */
export function poolRef(x: Tensor, kind: 'max' | 'avg', k: [number, number], s: [number, number], padding: 'valid' | 'same'): Tensor {
  const [h, w, c] = x.shape;
  const [pt] = padding === 'same' ? tfPads(h, k[0], s[0]) : [0];
  const [pl] = padding === 'same' ? tfPads(w, k[1], s[1]) : [0];
  const oh = padding === 'same' ? Math.ceil(h / s[0]) : Math.floor((h - k[0]) / s[0]) + 1;
  const ow = padding === 'same' ? Math.ceil(w / s[1]) : Math.floor((w - k[1]) / s[1]) + 1;
  const out = tensor([oh, ow, c]);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let ch = 0; ch < c; ch++) {
        let m = -Infinity;
        let sum = 0;
        let n = 0;
        for (let a = 0; a < k[0]; a++)
          for (let b = 0; b < k[1]; b++) {
            const y = i * s[0] - pt + a;
            const xx = j * s[1] - pl + b;
            if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
            const v = x.data[(y * w + xx) * c + ch];
            m = Math.max(m, v);
            sum += v;
            n++;
          }
        out.data[(i * ow + j) * c + ch] = kind === 'max' ? m : sum / n;
      }
  return out;
}

/** Generic axis permutation of a row-major tensor: output axis i is input axis perm[i]. */
export function transposeRef(x: Tensor, perm: number[]): Tensor {
  const shape = perm.map((p) => x.shape[p]);
  const out = tensor(shape);
  const inStrides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array(shape.length).fill(0);
  for (let n = 0; n < out.data.length; n++) {
    let src = 0;
    for (let i = 0; i < shape.length; i++) src += idx[i] * inStrides[perm[i]];
    out.data[n] = x.data[src];
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}
