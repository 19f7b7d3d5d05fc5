/**
 * UpSampling2D / UpSampling1D → grouped Caffe Deconvolution (+ Slice/Concat edge rows for bilinear).
 *
 * nearest: every Keras backend repeats each pixel a×b times for integer factors (TF
 * resize_nearest_neighbor: src = floor(dst / a); resize_images_v2 with half-pixel centres:
 * floor((dst + 0.5) / a) = the same; Theano repeat_elements). A Deconvolution with stride (a, b),
 * a kernel of ones of size (a, b) and group C spreads each pixel over its a×b block: exact.
 *
 * bilinear (TF, resize_bilinear_op.cc compute_interpolation_weights): for output index o,
 *   in = o·scale (legacy: Keras ≤ 2.3 on TF 1, align_corners=False, half_pixel_centers=False)
 *   in = (o + 0.5)·scale − 0.5 (half-pixel: tf.keras resize_images_v2, Keras ≥ 2.4, Keras 3)
 * with scale = 1/a, lower = max(floor(in), 0), upper = min(ceil(in), n − 1), lerp = in − floor(in),
 * out = x[lower]·(1 − lerp) + x[upper]·lerp, separably on H then W. For o = a·i + r the weights
 * on x[i + δ] depend on r only, and the clamps equal reading a copy of the first/last row. So:
 * replicate-pad the input by one row/column where needed (Slice + Concat, exact copies), then a
 * grouped Deconvolution with stride a whose kernel holds the per-r weights at t = r + a·(δmax − δ),
 * pad a·(Pf + δmax): exact (up to float rounding of the weights, ≤ 1 ulp).
 * Keras on Theano uses T.nnet.abstract_conv.bilinear_upsampling, not modelled here: refused.
 */
import type { CaffeLayer } from '../caffe/net.js';
import { tensor } from '../core/tensor.js';
import { mapped, outputRef, pair, refused, requireRank, ShapeError } from './common.js';
import type { BlobRef, LayerMapping, MappingContext, MappingResult } from './types.js';

/** Per-axis bilinear stencil: weights[r][δ − δmin] for output a·i + r reading x[i + δ]. */
export interface Stencil {
  a: number;
  dmin: number;
  dmax: number;
  weights: number[][];
}

export function bilinearStencil(a: number, halfPixel: boolean): Stencil {
  const scale = Math.fround(1 / a);
  // an interior i far from both edges, so that no clamp applies
  const i = 4;
  const per: Map<number, number>[] = [];
  for (let r = 0; r < a; r++) {
    const o = a * i + r;
    const inn = halfPixel ? Math.fround(Math.fround((o + 0.5) * scale) - 0.5) : Math.fround(o * scale);
    const f = Math.floor(inn);
    const lerp = Math.fround(inn - f);
    const m = new Map<number, number>();
    const add = (d: number, w: number) => {
      if (w !== 0) m.set(d, (m.get(d) ?? 0) + w);
    };
    add(f - i, 1 - lerp);
    add(Math.ceil(inn) - i, lerp);
    per.push(m);
  }
  let dmin = 0;
  let dmax = 0;
  for (const m of per) for (const d of m.keys()) (dmin = Math.min(dmin, d)), (dmax = Math.max(dmax, d));
  const weights = per.map((m) => Array.from({ length: dmax - dmin + 1 }, (_, j) => m.get(j + dmin) ?? 0));
  return { a, dmin, dmax, weights };
}

/** The 1-D Deconvolution kernel of a stencil: w[t] with t = r + a·(δmax − δ). */
export function stencilKernel(s: Stencil): number[] {
  const k = new Array((s.a - 1) + s.a * (s.dmax - s.dmin) + 1).fill(0);
  s.weights.forEach((row, r) => row.forEach((w, j) => (k[r + s.a * (s.dmax - (j + s.dmin))] += w)));
  return k;
}

function sizeOf(config: Record<string, any>): [number, number] {
  const [a, b] = pair(config.size ?? 2, 'size');
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || b < 1) throw new ShapeError(`size must be positive integers, got ${JSON.stringify(config.size)}`);
  return [a, b];
}

/** Grouped Deconvolution (C, 1, kh, kw) with the given kernel, stride and pad, no bias. */
function groupedDeconv(name: string, bottom: string, top: string, channels: number, kh: number[], kw: number[], stride: [number, number], pad: [number, number]): CaffeLayer {
  const cp: Record<string, unknown> = { num_output: channels, bias_term: false };
  if (pad[0] === pad[1] && kh.length === kw.length) {
    if (pad[0]) cp.pad = [pad[0]];
    cp.kernel_size = [kh.length];
  } else {
    cp.pad_h = pad[0];
    cp.pad_w = pad[1];
    cp.kernel_h = kh.length;
    cp.kernel_w = kw.length;
  }
  if (stride[0] === stride[1]) {
    if (stride[0] !== 1) cp.stride = [stride[0]];
  } else {
    cp.stride_h = stride[0];
    cp.stride_w = stride[1];
  }
  cp.group = channels;
  return {
    name,
    type: 'Deconvolution',
    bottom: [bottom],
    top: [top],
    params: { convolution_param: cp },
    blobShapes: [[channels, 1, kh.length, kw.length]],
    blobs: () => {
      const k = tensor([channels, 1, kh.length, kw.length]);
      for (let c = 0; c < channels; c++)
        for (let y = 0; y < kh.length; y++) for (let x = 0; x < kw.length; x++) k.data[(c * kh.length + y) * kw.length + x] = Math.fround(kh[y] * kw[x]);
      return [k];
    },
  };
}

/** Copies of the first `front` and last `back` rows (front, back ≤ 1) along Caffe axis `axis`, by Slice + Concat. */
function replicatePad(ctx: MappingContext, bottom: string, axis: number, n: number, front: number, back: number, tag: string): { layers: CaffeLayer[]; top: string } {
  if (front === 0 && back === 0) return { layers: [], top: bottom };
  const layers: CaffeLayer[] = [];
  let first = bottom;
  let last = bottom;
  if (n > 1) {
    if (front) {
      first = ctx.name(`${tag}_first`);
      const rest = ctx.name(`${tag}_first_rest`);
      layers.push({ name: first, type: 'Slice', bottom: [bottom], top: [first, rest], params: { slice_param: { axis, slice_point: [1] } } });
    }
    if (back) {
      last = ctx.name(`${tag}_last`);
      const rest = ctx.name(`${tag}_last_rest`);
      layers.push({ name: last, type: 'Slice', bottom: [bottom], top: [rest, last], params: { slice_param: { axis, slice_point: [n - 1] } } });
    }
  }
  const top = ctx.name(`${tag}_edge`);
  layers.push({ name: top, type: 'Concat', bottom: [...(front ? [first] : []), bottom, ...(back ? [last] : [])], top: [top], params: { concat_param: { axis } } });
  return { layers, top };
}

function upsample(ctx: MappingContext, [a, b]: [number, number], interpolation: string, kind: '2d' | '1d'): MappingResult {
  const input: BlobRef = ctx.inputs[0];
  if (input.layout.kind !== 'nchw') return refused('UpSampling of a reordered (flattened) tensor');
  if (input.pendingPad && input.pendingPad.some((x) => x)) return refused('a folded ZeroPadding2D before UpSampling cannot be applied');
  const [h, w, channels] = kind === '2d' ? input.shape : [1, input.shape[0], input.shape[1]];
  const out = ctx.name();
  const outRef = outputRef(out, ctx.outputShapes[0], !!input.nonNegative);
  if (a === 1 && b === 1)
    return mapped([], [{ ...input, shape: ctx.outputShapes[0] }], { summary: 'UpSampling by 1 is the identity: no Caffe layer.', params: [], weights: [], notes: [] });
  if (interpolation === 'nearest') {
    const ones = (n: number) => new Array(n).fill(1);
    return mapped([groupedDeconv(out, input.blob, out, channels, ones(a), ones(b), [a, b], [0, 0])], [outRef], {
      summary: `${ctx.layer.className} ${kind === '2d' ? `${a}×${b}` : `×${b}`} nearest → a grouped Deconvolution (group ${channels}) with a ${a}×${b} kernel of ones and stride ${a}×${b}.`,
      params: [['size', `kernel ${a}×${b}, stride ${a}×${b}`], ['interpolation: nearest', 'kernel of ones']],
      weights: [{ from: '(none)', to: `blobs[0] (${channels},1,${a},${b})`, transform: 'ones' }],
      notes: ['Deconvolution with stride = kernel size spreads each pixel over its own block: exactly nearest-neighbour repetition by integer factors.'],
    });
  }
  if (interpolation !== 'bilinear') return refused(`interpolation '${interpolation}' has no exact Caffe form (only 'nearest' and 'bilinear')`);
  if (ctx.backend !== 'tensorflow') return refused(`bilinear upsampling of Keras on ${ctx.backend} (bilinear_upsampling) is not modelled; only TensorFlow's resize is`);
  const semantics = ctx.decide({
    id: 'bilinear',
    question: `Which Keras produced this model? Their bilinear resizes differ: exact for the right one only.`,
    options: [
      { id: 'half-pixel', label: 'tf.keras (TF 2.x), Keras ≥ 2.4 or Keras 3: half-pixel centres', exact: true, detail: 'tf.image.resize (resize_images_v2)' },
      { id: 'legacy', label: 'Keras ≤ 2.3 on TensorFlow 1: align_corners=False, no half-pixel centres', exact: true, detail: 'tf.image.resize_bilinear' },
    ],
    default: 'half-pixel',
  });
  const half = semantics === 'half-pixel';
  const sh = bilinearStencil(a, half);
  const sw = bilinearStencil(b, half);
  const layers: CaffeLayer[] = [];
  const ph = replicatePad(ctx, input.blob, 2, h, -sh.dmin, sh.dmax, 'rows');
  layers.push(...ph.layers);
  const pw = replicatePad(ctx, ph.top, 3, w, -sw.dmin, sw.dmax, 'cols');
  layers.push(...pw.layers);
  const kh = stencilKernel(sh);
  const kw = stencilKernel(sw);
  layers.push(groupedDeconv(out, pw.top, out, channels, kh, kw, [a, b], [a * (-sh.dmin + sh.dmax), b * (-sw.dmin + sw.dmax)]));
  return mapped(layers, [outRef], {
    summary: `${ctx.layer.className} ${a}×${b} bilinear (${half ? 'half-pixel centres' : 'legacy'}) → edge rows copied by Slice + Concat, then a grouped Deconvolution with the interpolation weights.`,
    params: [['size', `stride ${a}×${b}, kernel ${kh.length}×${kw.length}`], ['interpolation: bilinear', half ? 'half_pixel_centers=True' : 'align_corners=False, half_pixel_centers=False']],
    weights: [{ from: '(none)', to: `blobs[0] (${channels},1,${kh.length},${kw.length})`, transform: `outer product of [${kh.map((x) => +x.toFixed(4)).join(', ')}] and [${kw.map((x) => +x.toFixed(4)).join(', ')}]` }],
    notes: [
      'Each output a·i + r is a fixed mix of x[i−1], x[i], x[i+1] (per r); TensorFlow clamps reads at the edges, which equals reading a copied edge row.',
      'The edge rows/columns are copied exactly by Slice + Concat; the Deconvolution (stride = factor) applies the mix.',
    ],
  });
}

export const upSampling2dMapping: LayerMapping = {
  kerasClasses: ['UpSampling2D'],
  doc: {
    caffe: 'Deconvolution group C (nearest); Slice + Concat + Deconvolution (bilinear)',
    restrictions: "integer factors; 'nearest' always, 'bilinear' for TensorFlow files (decision: half-pixel or legacy resize); other interpolations refused",
  },
  inferShapes(config, inputs) {
    requireRank(inputs, 3, 'UpSampling2D');
    const [a, b] = sizeOf(config);
    const [h, w, c] = inputs[0];
    return [[h * a, w * b, c]];
  },
  map(ctx) {
    return upsample(ctx, sizeOf(ctx.config), ctx.config.interpolation ?? 'nearest', '2d');
  },
};

export const upSampling1dMapping: LayerMapping = {
  kerasClasses: ['UpSampling1D'],
  doc: { caffe: 'Deconvolution group C, kernel 1×a of ones', restrictions: 'repeats each step `size` times (K.repeat_elements)' },
  inferShapes(config, inputs) {
    requireRank(inputs, 2, 'UpSampling1D');
    const a = typeof config.size === 'number' ? config.size : pair(config.size ?? 2, 'size')[0];
    return [[inputs[0][0] * a, inputs[0][1]]];
  },
  map(ctx) {
    const a = typeof ctx.config.size === 'number' ? ctx.config.size : pair(ctx.config.size ?? 2, 'size')[0];
    return upsample(ctx, [1, a], 'nearest', '1d');
  },
};
