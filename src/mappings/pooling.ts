import type { CaffeLayer } from '../caffe/net.js';
import { tensor } from '../core/tensor.js';
import { mapped, outputRef, pair, refused, requireRank, ShapeError } from './common.js';
import { addPads, kerasPads, padsText, validOutput, zeroPadLayer } from './padding.js';
import type { LayerMapping, MappingContext, MappingResult, Pads } from './types.js';

/**
 * Caffe's pooled size on one axis (pooling_layer.cpp, Reshape): ceil((in + 2p − k)/s) + 1
 * (floor with round_mode FLOOR), minus one when the last window starts inside the padding.
 */
export function caffePooledSize(size: number, k: number, s: number, p: number, round: 'ceil' | 'floor' = 'ceil'): number {
  const f = round === 'ceil' ? Math.ceil : Math.floor;
  let out = f((size + 2 * p - k) / s) + 1;
  if (p > 0 && (out - 1) * s >= size + p) out--;
  return out;
}

/** Caffe AVE divisor at output index i on one axis: the window clipped to [−p, size + p). */
export function caffeAveCount(i: number, size: number, k: number, s: number, p: number): number {
  const start = i * s - p;
  const end = Math.min(start + k, size + p);
  return end - start;
}

/** Cells of the window at index i that Keras averages over: the window clipped to [lo, hi). */
function kerasAveCount(i: number, k: number, s: number, p: number, lo: number, hi: number): number {
  const start = i * s - p;
  return Math.max(0, Math.min(start + k, hi) - Math.max(start, lo));
}

/** Real (unpadded) cells under the window at index i: [0, size). */
function realCells(i: number, size: number, k: number, s: number, p: number): number {
  return kerasAveCount(i, k, s, p, 0, size);
}

/** A short list of numbers: all of them, or the first four, …, the last two. */
function countsText(xs: number[]): string {
  return (xs.length <= 8 ? xs : [...xs.slice(0, 4), '…', ...xs.slice(-2)]).join(' ');
}

/** The AVE divisors per output row and column, Keras's against Caffe's (a window divides by their product). */
function divisorDiagram(keras: number[][], caffe: number[][]): string {
  const [kr, kc] = keras.map(countsText);
  const [cr, cc] = caffe.map(countsText);
  const w = Math.max(kr.length, kc.length);
  return [
    `rows    Keras: ${kr.padEnd(w)}   Caffe: ${cr}`,
    `columns Keras: ${kc.padEnd(w)}   Caffe: ${cc}`,
    'cells each window averages over, per output row and column',
  ].join('\n');
}

export const poolingMapping: LayerMapping = {
  kerasClasses: ['MaxPooling2D', 'AveragePooling2D', 'MaxPool2D', 'AvgPool2D'],
  doc: {
    caffe: 'Pooling MAX/AVE (+ Slice, + Scale)',
    restrictions:
      "'valid' and 'same'. Caffe rounds the output size up: the extra row/column is sliced off (round_mode FLOOR where the target has it). Caffe AVE counts padded cells: a constant per-position Scale corrects it (a decision; plain AVE is offered, not exact)",
    perTarget: { bvlc: "'valid' uses round_mode: FLOOR instead of a Slice" },
  },
  inferShapes(config, inputs) {
    requireRank(inputs, 3, 'pooling');
    const k = pair(config.pool_size ?? 2, 'pool_size');
    const s = pair(config.strides ?? config.pool_size ?? 2, 'strides');
    const [h, w, c] = inputs[0];
    if ((config.padding ?? 'valid') === 'same') return [[Math.ceil(h / s[0]), Math.ceil(w / s[1]), c]];
    const oh = validOutput(h, k[0], s[0]);
    const ow = validOutput(w, k[1], s[1]);
    if (oh <= 0 || ow <= 0) throw new ShapeError(`the ${k.join('×')} pool does not fit the ${h}×${w} input`);
    return [[oh, ow, c]];
  },
  map: mapPooling,
};

function mapPooling(ctx: MappingContext): MappingResult {
  const c = ctx.config;
  const isMax = ctx.layer.className.startsWith('Max');
  const k = pair(c.pool_size ?? 2, 'pool_size');
  const s = pair(c.strides ?? c.pool_size ?? 2, 'strides');
  const padding = c.padding ?? 'valid';
  const input = ctx.inputs[0];
  const [oh, ow, channels] = ctx.outputShapes[0];
  const notes: string[] = [];
  const layers: CaffeLayer[] = [];

  let zp: Pads = input.pendingPad ?? [0, 0, 0, 0];
  let bottom = input.blob;
  let real: [number, number] = [input.shape[0] - zp[0] - zp[1], input.shape[1] - zp[2] - zp[3]];
  const same = kerasPads(padding, [input.shape[0], input.shape[1]], k, s);

  // Fold a preceding ZeroPadding2D where that stays exact, else pad explicitly first.
  const axes = [0, 1] as const;
  const caffePadFor = (z: Pads) => axes.map((a) => z[2 * a] + same[2 * a]) as [number, number];
  const foldOk = (() => {
    if (zp.every((x) => x === 0)) return true;
    const p = caffePadFor(zp);
    // A window larger than Caffe's padded input (e.g. a 3×3 pool on a 2×2 map padded (0, 1)):
    // real Caffe clips it, OpenCV DNN gives an empty output; the exact pad layer avoids it.
    if (axes.some((a) => real[a] + 2 * p[a] < k[a])) return false;
    if (isMax) {
      // Caffe MAX ignores padded cells; Keras takes zeros into the max. Equal when the input is
      // ≥ 0 and every window holds a real cell.
      if (!input.nonNegative) return false;
      return axes.every((a) => {
        const n = [oh, ow][a];
        for (let i = 0; i < n; i++) if (realCells(i, real[a], k[a], s[a], p[a]) === 0) return false;
        return true;
      });
    }
    return true; // AVE: the count correction below accounts for the zero cells.
  })();
  if (!foldOk) {
    const padName = ctx.name('pad');
    layers.push(zeroPadLayer(padName, bottom, padName, channels, zp));
    notes.push(`The preceding ZeroPadding2D (${padsText(zp)}) is applied by an exact pad layer: folding it into MAX pooling is exact only for inputs ≥ 0.`);
    bottom = padName;
    real = [input.shape[0], input.shape[1]];
    zp = [0, 0, 0, 0];
  } else if (zp.some((x) => x !== 0)) notes.push(`The preceding ZeroPadding2D (${padsText(zp)}) is folded into the pooling's padding.`);

  // Caffe pads symmetrically. With pad = begin + m·stride, Caffe's window j + m starts where
  // TensorFlow's window j does; the m leading and any trailing extra outputs are sliced off.
  const begin = caffePadFor(zp);
  // round_mode only where Caffe's default CEIL would give an extra row/column (else the net stays
  // loadable by Caffe 1.0 and OpenCV DNN too).
  const ceilTooBig = axes.some((a) => caffePooledSize(real[a], k[a], s[a], 0, 'ceil') > [oh, ow][a]);
  const useFloor = padding === 'valid' && zp.every((x) => x === 0) && ctx.target.features.has('pooling.round_mode') && ceilTooBig;
  const round = useFloor ? 'floor' : 'ceil';
  const want = [oh, ow];
  const pad: [number, number] = [0, 0];
  const lead: [number, number] = [0, 0];
  const caffeOut: [number, number] = [0, 0];
  for (const a of axes) {
    let found = false;
    for (let m = 0; begin[a] + m * s[a] < k[a] || (m === 0 && begin[a] === 0); m++) {
      const p = begin[a] + m * s[a];
      const n = caffePooledSize(real[a], k[a], s[a], p, round);
      if (n - m >= want[a]) {
        pad[a] = p;
        lead[a] = m;
        caffeOut[a] = n;
        found = true;
        break;
      }
    }
    if (!found) return refused(`Caffe's pooling cannot produce Keras's ${oh}×${ow} outputs here (padding ${padsText(same)})`);
  }

  const out = ctx.name();
  const needSlice = axes.some((a) => caffeOut[a] > want[a]);
  // AVE correction: Caffe divides by the window clipped to [−p, size+p); Keras by the cells of its
  // (zero-padded) tensor. Both divisors are a product of a row count and a column count.
  let ratio: Float32Array | null = null;
  let plainAve = false;
  if (!isMax) {
    const kerasCounts = axes.map((a) => Array.from({ length: want[a] }, (_, i) => kerasAveCount(i, k[a], s[a], begin[a], -zp[2 * a], real[a] + zp[2 * a + 1])));
    const caffeCounts = axes.map((a) => Array.from({ length: want[a] }, (_, i) => caffeAveCount(i + lead[a], real[a], k[a], s[a], pad[a])));
    const r = new Float32Array(oh * ow);
    let least = 1;
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const kerasCount = kerasCounts[0][y] * kerasCounts[1][x];
        const caffeCount = caffeCounts[0][y] * caffeCounts[1][x];
        r[y * ow + x] = caffeCount / kerasCount;
        least = Math.min(least, kerasCount / caffeCount);
      }
    if (r.some((v) => v !== 1)) {
      // A person may choose the plain Caffe AVE (what other converters emit), with the error it
      // brings said: border outputs scaled by Keras count / Caffe count.
      const choice = ctx.decide({
        id: 'average',
        question: `Keras averages each window over the cells of its input only; Caffe's AVE also counts the padded cells (${padsText(addPads(zp, same))}). How should Caffe average?`,
        options: [
          { id: 'scale', label: "Correct Caffe's divisor with a constant per-position Scale", exact: true, detail: `one Scale layer with a (${oh},${ow}) factor blob` },
          {
            id: 'plain',
            label: 'Plain Caffe AVE pooling (divides by the padded window)',
            exact: false,
            error: `border outputs are multiplied by Keras count / Caffe count, down to ${least.toFixed(3)}; inner outputs are exact`,
          },
        ],
        default: 'scale',
        diagram: divisorDiagram(kerasCounts, caffeCounts),
      });
      plainAve = choice === 'plain';
      if (plainAve) notes.push(`Not exact, as chosen: Caffe divides border windows by the padded window size, so border outputs are ${least.toFixed(3)}–1 times Keras's.`);
      else ratio = r;
    }
  }
  const poolTop = needSlice || ratio ? ctx.name('pool') : out;
  const pp: Record<string, unknown> = { pool: isMax ? 'MAX' : 'AVE' };
  if (k[0] === k[1]) pp.kernel_size = k[0];
  else {
    pp.kernel_h = k[0];
    pp.kernel_w = k[1];
  }
  if (s[0] === s[1]) pp.stride = s[0];
  else {
    pp.stride_h = s[0];
    pp.stride_w = s[1];
  }
  if (pad[0] === pad[1]) {
    if (pad[0]) pp.pad = pad[0];
  } else {
    pp.pad_h = pad[0];
    pp.pad_w = pad[1];
  }
  if (useFloor) pp.round_mode = 'FLOOR';
  layers.push({ name: poolTop, type: 'Pooling', bottom: [bottom], top: [poolTop], params: { pooling_param: pp } });
  if (useFloor) notes.push('round_mode FLOOR makes Caffe round the output size down, as Keras does.');

  let cur = poolTop;
  if (needSlice) {
    axes.forEach((a) => {
      if (caffeOut[a] === want[a]) return;
      const last = a === 1 || caffeOut[1] === want[1];
      const top = last && !ratio ? out : ctx.name(a === 0 ? 'rows' : 'cols');
      const tops: string[] = [];
      const points: number[] = [];
      if (lead[a]) {
        tops.push(ctx.name(a === 0 ? 'lead_rows' : 'lead_cols'));
        points.push(lead[a]);
      }
      tops.push(top);
      if (caffeOut[a] > lead[a] + want[a]) {
        tops.push(ctx.name(a === 0 ? 'extra_rows' : 'extra_cols'));
        points.push(lead[a] + want[a]);
      }
      layers.push({ name: top, type: 'Slice', bottom: [cur], top: tops, params: { slice_param: { axis: 2 + a, slice_point: points } } });
      cur = top;
    });
    if (lead.some((m) => m > 0))
      notes.push(`TensorFlow pads ${padsText(same)}: Caffe pads ${pad.join('×')} on both sides so that its windows include TensorFlow's, and a Slice keeps outputs from index ${lead.join('×')} on.`);
    else
      notes.push(`Caffe rounds the pooled size up (${caffeOut.join('×')}); Keras rounds down (${oh}×${ow}). A Slice drops the extra ${caffeOut[0] > oh ? 'row' : ''}${caffeOut[0] > oh && caffeOut[1] > ow ? ' and ' : ''}${caffeOut[1] > ow ? 'column' : ''}.`);
  }
  if (ratio) {
    const r = ratio;
    layers.push({
      name: out,
      type: 'Scale',
      bottom: [cur],
      top: [out],
      params: { scale_param: { axis: 2, num_axes: 2, bias_term: false } },
      blobShapes: [[oh, ow]],
      blobs: () => [tensor([oh, ow], r)],
    });
    notes.push('Caffe AVE pooling divides by the window size including padded cells; Keras (TensorFlow) divides by the real cells only. A Scale with a constant per-position factor (Caffe count / Keras count) makes it exact.');
  }
  const inexact = plainAve ? "AVE pooling without the count correction: border outputs differ from Keras's" : undefined;
  return mapped(layers, [outputRef(out, ctx.outputShapes[0], isMax && !!input.nonNegative)], {
    summary: `${ctx.layer.className} ${k.join('×')}/${s.join('×')} '${padding}' → Caffe Pooling ${isMax ? 'MAX' : 'AVE'}${needSlice ? ' + Slice' : ''}${ratio ? ' + Scale' : ''}.`,
    params: [
      ['pool_size', 'kernel_size'],
      ['strides', 'stride'],
      ['padding', `pad ${pad.join('×')}${padding === 'same' ? ` (TF pads ${padsText(same)})` : ''}`],
    ],
    weights: ratio ? [{ from: '(computed)', to: `Scale blobs[0] (${oh},${ow})`, transform: 'per-position Caffe count / Keras count' }] : [],
    notes,
  }, inexact);
}

export const globalPoolingMapping: LayerMapping = {
  kerasClasses: ['GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'GlobalAvgPool2D', 'GlobalMaxPool2D'],
  doc: { caffe: 'Pooling global_pooling + Flatten', restrictions: 'keepdims=False only' },
  inferShapes(config, inputs) {
    requireRank(inputs, 3, 'global pooling');
    if (config.keepdims) return [[1, 1, inputs[0][2]]];
    return [[inputs[0][2]]];
  },
  map(ctx) {
    const isMax = ctx.layer.className.includes('Max');
    const input = ctx.inputs[0];
    const out = ctx.name();
    const keep = !!ctx.config.keepdims;
    const poolTop = keep ? out : ctx.name('pool');
    const layers: CaffeLayer[] = [
      { name: poolTop, type: 'Pooling', bottom: [input.blob], top: [poolTop], params: { pooling_param: { pool: isMax ? 'MAX' : 'AVE', global_pooling: true } } },
    ];
    if (!keep) layers.push({ name: out, type: 'Flatten', bottom: [poolTop], top: [out] });
    if (input.pendingPad && input.pendingPad.some((x) => x)) return refused('a ZeroPadding2D before global pooling cannot be folded');
    return mapped(layers, [outputRef(out, ctx.outputShapes[0], isMax && !!input.nonNegative)], {
      summary: `${ctx.layer.className} → Caffe Pooling ${isMax ? 'MAX' : 'AVE'} with global_pooling${keep ? '' : ', then Flatten to a C-vector'}.`,
      params: [['(global)', 'global_pooling: true']],
      weights: [],
      notes: keep ? [] : ['Caffe keeps a C×1×1 blob; the Flatten gives the 1-D shape Keras has, so later layers see the same shape.'],
    });
  },
};
