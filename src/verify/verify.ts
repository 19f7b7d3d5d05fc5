/**
 * Built-in numerical verification: runs the Keras model (rebuilt in tfjs from the .h5 file's own
 * config and weights, see kerasReference.ts) and the written Caffe net (OpenCV DNN, see
 * opencvNet.ts) on the same input, and compares every output and every Keras layer that has a
 * Caffe blob.
 *
 * Inputs (NHWC, as Keras takes them; batch of one):
 * - default: seeded pseudo-random values, uniform in [-1, 1) (mulberry32, seed 1; input i uses
 *   seed + i), so a run is reproducible;
 * - `.npy`: one array per model input, NHWC with or without the batch axis of 1; `.npz` for
 *   models with several inputs (arrays named after the inputs, else taken in order);
 * - `.png`: decoded here (8/16-bit gray, RGB, palette, with or without alpha; not interlaced),
 *   alpha dropped, RGB order (gray images repeated to 3 channels; 1-channel models get the
 *   luma 0.299 R + 0.587 G + 0.114 B), values 0..255 as floats with no other preprocessing, resized
 *   to the model input with bilinear interpolation on pixel centres (cv2.resize INTER_LINEAR /
 *   tf.image.resize 'bilinear' without antialiasing). A model that expects preprocessed inputs
 *   (mean subtraction, scaling) should be given the preprocessed array as .npy instead. JPEG is
 *   refused: this build of opencv.js has no image decoder (no cv.imdecode).
 *
 * Pass rule (compare.ts): max |Δ| ≤ tolerance · max(1, max |keras|) per tensor. A conversion
 * (verifyConversion) passes when every Caffe output was compared and every output and layer row is
 * within tolerance (the plan says which blob holds which Keras tensor). A pair from elsewhere
 * (verifyPair) is matched by names only, so there its outputs decide and the layer rows point at
 * the first layer where the error appears.
 *
 * OpenCV DNN fuses layers and lets Concat inputs write into the Concat's output; a blob requested
 * alone can then hold stale memory. For per-layer figures every top and every layer's own output
 * is requested, which keeps every layer unfused (as real Caffe runs the net).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { basename, extname } from 'node:path';
import { UserError } from '../core/errors.js';
import type { LoadedModel } from '../core/model.js';
import type { Plan } from '../core/planner.js';
import { elementCount, type Tensor } from '../core/tensor.js';
import type { KerasH5 } from '../h5/kerasH5.js';
import type { BlobLayout } from '../mappings/types.js';
import {
  caffeDimsAgree,
  caffeDimsOf,
  compareValues,
  DEFAULT_TOLERANCE,
  formatError,
  isClassifierShape,
  kerasInCaffeOrder,
  shapeLabel,
  type Top1,
} from './compare.js';
import type { KerasReference } from './kerasReference.js';

export const DEFAULT_SEED = 1;

export interface VerificationRow {
  /** Keras layer (call) name. */
  name: string;
  kind: 'output' | 'layer';
  className: string;
  /** The Caffe blob compared with. */
  blob: string;
  /** Keras shape without the batch axis. */
  shape: number[];
  caffeShape: number[];
  /** null when the values could not be compared (shapes differ). */
  maxAbs: number | null;
  maxRel: number | null;
  maxRef: number | null;
  top1?: Top1;
  passed: boolean;
  note?: string;
}

export interface VerificationReport {
  passed: boolean;
  /** Every Caffe output was compared with a Keras value. */
  complete: boolean;
  mode: 'conversion' | 'pair';
  tolerance: number;
  input: { kind: 'random' | 'npy' | 'npz' | 'image'; description: string; seed?: number };
  /** Layer rows in model order, then the output rows. */
  rows: VerificationRow[];
  /** The first layer (model order) over the tolerance; an output when no layer row fails. */
  firstFailingLayer: string | null;
  /** Keras layers with a Caffe blob that were not compared, and why. */
  skipped: { name: string; reason: string }[];
  /** Layers tfjs could not build (one line each, e.g. "tfjs cannot build layer 'l' (Lambda)"). */
  unbuilt: string[];
  /** Outputs that could not be compared, and why. */
  notCompared: { name: string; reason: string }[];
  notes: string[];
  seconds: { total: number; reference: number; keras: number; caffe: number; compare: number };
}

export interface VerifyCommon {
  prototxt: string;
  caffemodel: Uint8Array;
  /** Path of an input: .npy, .npz or .png (see the header). Default: seeded random. */
  input?: string;
  /** NHWC inputs given directly (one per model input, batch axis optional); overrides `input`. */
  inputs?: Tensor[];
  tolerance?: number;
  seed?: number;
  /** Compare intermediate layers too (default true). */
  layers?: boolean;
  onProgress?: (message: string) => void;
}

export interface VerifyConversionOptions extends VerifyCommon {
  model: LoadedModel;
  plan: Plan;
}

export interface VerifyPairOptions extends VerifyCommon {
  /** The Keras model: a loaded model or just its opened file. */
  model: LoadedModel | KerasH5;
  /** For messages: the file names of the pair. */
  prototxtName?: string;
  caffemodelName?: string;
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** mulberry32: a small, fast, well-mixed 32-bit PRNG. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded uniform [-1, 1) values of the given shape. */
export function randomInput(shape: number[], seed: number): Tensor {
  const rand = mulberry32(seed);
  const data = new Float32Array(elementCount(shape));
  for (let i = 0; i < data.length; i++) data[i] = rand() * 2 - 1;
  return { shape: [...shape], data };
}

interface InputSpec {
  name: string;
  /** Concrete Keras shape without the batch axis. */
  shape: number[];
}

interface PreparedInputs {
  tensors: Tensor[];
  info: VerificationReport['input'];
}

function fitShape(t: Tensor, spec: InputSpec, source: string): Tensor {
  let dims = t.shape;
  if (dims.length === spec.shape.length + 1 && dims[0] === 1) dims = dims.slice(1);
  else if (dims.length === spec.shape.length + 1) throw new UserError(`${source}: holds a batch of ${dims[0]}; verification takes one sample (batch 1)`);
  const ok = dims.length === spec.shape.length && dims.every((d, i) => d === spec.shape[i]);
  if (!ok) {
    const s = spec.shape;
    const nchw = s.length === 3 && dims.length === 3 && dims[0] === s[2] && dims[1] === s[0] && dims[2] === s[1];
    throw new UserError(
      `${source}: shape [${t.shape.join(', ')}] does not fit input '${spec.name}' [${s.join(', ')}] (NHWC, batch optional)${nchw ? '; it looks like NCHW: give the array in Keras order (H, W, C)' : ''}`,
    );
  }
  return { shape: [...dims], data: t.data };
}

async function prepareInputs(specs: InputSpec[], opts: VerifyCommon): Promise<PreparedInputs> {
  if (opts.inputs) {
    if (opts.inputs.length !== specs.length) throw new UserError(`the model has ${specs.length} input${specs.length === 1 ? '' : 's'}, ${opts.inputs.length} given`);
    return { tensors: opts.inputs.map((t, i) => fitShape(t, specs[i], `input ${i}`)), info: { kind: 'npy', description: 'given arrays' } };
  }
  const path = opts.input;
  if (path === undefined) {
    const seed = opts.seed ?? DEFAULT_SEED;
    return {
      tensors: specs.map((s, i) => randomInput(s.shape, seed + i)),
      info: { kind: 'random', description: `seeded random, uniform [-1, 1), seed ${seed}`, seed },
    };
  }
  if (!existsSync(path)) throw new UserError(`${path}: no such file; --input takes an .npy, .npz or .png file`);
  if (statSync(path).isDirectory()) throw new UserError(`${path} is a directory; --input takes an .npy, .npz or .png file`);
  const bytes = new Uint8Array(readFileSync(path));
  const name = basename(path);
  const { readNpy, readNpz } = await import('./npy.js');
  const magic = (sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (magic([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])) {
    if (specs.length !== 1)
      throw new UserError(`the model has ${specs.length} inputs; give them as one .npz with an array per input, e.g. np.savez("x.npz", ${specs.map((s) => `${s.name}=...`).join(', ')})`);
    const t = readNpy(bytes, name);
    return { tensors: [fitShape(t, specs[0], name)], info: { kind: 'npy', description: name } };
  }
  if (magic([0x50, 0x4b])) {
    const arrays = readNpz(bytes, name);
    const byName = specs.every((s) => arrays.has(s.name));
    const list = [...arrays.values()];
    if (!byName && list.length !== specs.length)
      throw new UserError(`${name} holds ${list.length} arrays (${[...arrays.keys()].join(', ')}); the model's inputs are ${specs.map((s) => s.name).join(', ')}`);
    const tensors = specs.map((s, i) => fitShape(byName ? arrays.get(s.name)! : list[i], s, `${name} [${byName ? s.name : [...arrays.keys()][i]}]`));
    return { tensors, info: { kind: 'npz', description: name } };
  }
  if (magic([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    if (specs.length !== 1) throw new UserError(`an image can feed a model with one input; this one has ${specs.length}; give an .npz`);
    const s = specs[0].shape;
    if (s.length !== 3 || ![1, 3, 4].includes(s[2])) throw new UserError(`input '${specs[0].name}' has shape [${s.join(', ')}], not an image (H, W, 1|3|4); give an .npy`);
    const img = decodePng(bytes, name);
    const resized = resizeBilinear(img, s[0], s[1]);
    return {
      tensors: [imageChannels(resized, s[2])],
      info: { kind: 'image', description: `${name} (${img.shape[1]}×${img.shape[0]} → ${s[1]}×${s[0]} bilinear, ${s[2] === 1 ? 'luma' : 'RGB'}, values 0..255)` },
    };
  }
  if (magic([0xff, 0xd8, 0xff]))
    throw new UserError(`${name} is a JPEG; this build of opencv.js has no image decoder: convert it to PNG, or save the preprocessed array with np.save as .npy`);
  const ext = extname(path).toLowerCase();
  throw new UserError(`${name}${ext ? ` (${ext})` : ''} is not an .npy, .npz or PNG file; --input takes one of those`);
}

/** RGBA 0..255 [H, W, 4] → the model's channels: 1 (luma), 3 (RGB) or 4 (RGBA). */
function imageChannels(rgba: Tensor, c: number): Tensor {
  const [h, w] = rgba.shape;
  const out = new Float32Array(h * w * c);
  for (let p = 0; p < h * w; p++) {
    const r = rgba.data[p * 4];
    const g = rgba.data[p * 4 + 1];
    const b = rgba.data[p * 4 + 2];
    if (c === 1) out[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else for (let k = 0; k < c; k++) out[p * c + k] = rgba.data[p * 4 + k];
  }
  return { shape: [h, w, c], data: out };
}

/** Decodes a PNG into RGBA floats 0..255, shape [H, W, 4]. */
export function decodePng(bytes: Uint8Array, source = 'PNG'): Tensor {
  const bad = (msg: string): never => {
    throw new UserError(`${source}: ${msg}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let color = 0;
  let palette: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (p + 8 <= bytes.length) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (p + 12 + len > bytes.length) bad('truncated PNG');
    const data = bytes.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      width = dv.getUint32(p + 8);
      height = dv.getUint32(p + 12);
      depth = data[8];
      color = data[9];
      if (data[12] !== 0) bad('interlaced PNGs are not supported; save it without interlacing');
    } else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') trns = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    p += 12 + len;
  }
  if (!width || !height) bad('no image header (IHDR)');
  if (width * height > 64e6) bad(`${width}×${height} is too large`);
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[color];
  if (!channels || ![1, 2, 4, 8, 16].includes(depth)) bad(`unsupported PNG colour type ${color} / bit depth ${depth}`);
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(inflateSync(Buffer.concat(idat)));
  } catch {
    bad('corrupt image data');
  }
  const bpp = Math.max(1, (channels * depth) >> 3);
  const stride = Math.ceil((width * channels * depth) / 8);
  if (raw!.length < height * (stride + 1)) bad('truncated image data');
  const cur = new Uint8Array(stride);
  const prev = new Uint8Array(stride);
  const out = new Float32Array(width * height * 4);
  const maxv = depth === 16 ? 65535 : (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    const f = raw![y * (stride + 1)];
    const line = raw!.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (f !== 0) bad(`bad filter type ${f}`);
      cur[i] = v & 0xff;
    }
    const sample = (x: number, k: number): number => {
      if (depth === 8) return cur[x * channels + k];
      if (depth === 16) return (cur[(x * channels + k) * 2] << 8) | cur[(x * channels + k) * 2 + 1];
      const bit = (x * channels + k) * depth;
      return (cur[bit >> 3] >> (8 - depth - (bit & 7))) & maxv;
    };
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      let r: number, g: number, b: number, al: number;
      if (color === 3) {
        const idx = sample(x, 0);
        if (!palette || idx * 3 + 2 >= palette.length) bad('palette index out of range');
        r = palette![idx * 3];
        g = palette![idx * 3 + 1];
        b = palette![idx * 3 + 2];
        al = trns && idx < trns.length ? trns[idx] : 255;
      } else {
        const sc = 255 / maxv;
        const v0 = sample(x, 0) * sc;
        if (channels <= 2) {
          r = g = b = v0;
          al = channels === 2 ? sample(x, 1) * sc : 255;
        } else {
          r = v0;
          g = sample(x, 1) * sc;
          b = sample(x, 2) * sc;
          al = channels === 4 ? sample(x, 3) * sc : 255;
        }
      }
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = al;
    }
    prev.set(cur);
  }
  return { shape: [height, width, 4], data: out };
}

/** Bilinear resize of [H, W, C] on pixel centres (src = (dst + 0.5)·scale − 0.5, clamped). */
export function resizeBilinear(t: Tensor, oh: number, ow: number): Tensor {
  const [h, w, c] = t.shape;
  if (h === oh && w === ow) return t;
  const out = new Float32Array(oh * ow * c);
  const sy = h / oh;
  const sx = w / ow;
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const v00 = t.data[(y0 * w + x0) * c + k];
        const v01 = t.data[(y0 * w + x1) * c + k];
        const v10 = t.data[(y1 * w + x0) * c + k];
        const v11 = t.data[(y1 * w + x1) * c + k];
        out[(y * ow + x) * c + k] = (1 - wy) * ((1 - wx) * v00 + wx * v01) + wy * ((1 - wx) * v10 + wx * v11);
      }
    }
  }
  return { shape: [oh, ow, c], data: out };
}

// ---------------------------------------------------------------------------------------------
// The Caffe net's structure (names only)

interface NetInfo {
  /** Input blobs with their dims (null when the prototxt gives none). */
  inputs: { name: string; dims: number[] | null }[];
  /** Every layer but the inputs, in order. */
  layers: { name: string; type: string; bottoms: string[]; tops: string[] }[];
  /** Every top, in order of first appearance. */
  tops: string[];
  /** Blobs no layer consumes (in-place rewrites do not count as consuming). */
  outputs: string[];
}

type PtxValue = string | PtxMsg;
type PtxMsg = Map<string, PtxValue[]>;

function unescapePtx(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch !== '\\') {
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      continue;
    }
    const n = s[++i];
    const oct = /^[0-7]{1,3}/.exec(s.slice(i));
    if (oct) {
      bytes.push(parseInt(oct[0], 8) & 0xff);
      i += oct[0].length - 1;
    } else if (n === 'x' && /^[0-9a-fA-F]{1,2}/.test(s.slice(i + 1))) {
      const h = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 1))![0];
      bytes.push(parseInt(h, 16));
      i += h.length;
    } else bytes.push(({ n: 10, r: 13, t: 9 } as Record<string, number>)[n] ?? n.charCodeAt(0));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A tolerant protobuf text-format reader (structure only), enough to find inputs and tops. */
function parsePtx(text: string, source: string): PtxMsg {
  const tokens = text.match(/#[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[{}<>:;,\[\]]|[^\s{}<>:;,\[\]"'#]+/g) ?? [];
  const toks = tokens.filter((t) => !t.startsWith('#'));
  let i = 0;
  const fail = (msg: string): never => {
    throw new UserError(`${source}: not a readable Caffe prototxt (${msg})`);
  };
  const value = (t: string) => (t[0] === '"' || t[0] === "'" ? unescapePtx(t.slice(1, -1)) : t);
  const message = (close: string | null): PtxMsg => {
    const m: PtxMsg = new Map();
    for (;;) {
      const key = toks[i++];
      if (key === undefined) {
        if (close) fail(`missing '${close}'`);
        return m;
      }
      if (key === close) return m;
      if (key === ';' || key === ',') continue;
      if (!/^[A-Za-z_][\w.]*$/.test(key)) fail(`unexpected '${key.slice(0, 20)}'`);
      let t = toks[i];
      if (t === ':') t = toks[++i];
      const push = (v: PtxValue) => (m.get(key) ?? m.set(key, []).get(key)!).push(v);
      if (t === '{' || t === '<') {
        i++;
        push(message(t === '{' ? '}' : '>'));
      } else if (t === '[') {
        i++;
        while (toks[i] !== undefined && toks[i] !== ']') {
          if (toks[i] !== ',') push(value(toks[i]));
          i++;
        }
        i++;
      } else if (t === undefined || t === '}' || t === '>') fail(`field '${key}' has no value`);
      else {
        i++;
        push(value(t));
      }
    }
  };
  return message(null);
}

function strs(m: PtxMsg, k: string): string[] {
  return (m.get(k) ?? []).filter((v): v is string => typeof v === 'string');
}
function msgs(m: PtxMsg, k: string): PtxMsg[] {
  return (m.get(k) ?? []).filter((v): v is PtxMsg => typeof v !== 'string');
}

export function netInfo(prototxt: string, source = 'prototxt'): NetInfo {
  const net = parsePtx(prototxt, source);
  const inputs: NetInfo['inputs'] = [];
  const top = strs(net, 'input');
  const shapes = msgs(net, 'input_shape').map((s) => strs(s, 'dim').map(Number));
  const dims = strs(net, 'input_dim').map(Number);
  top.forEach((name, k) => inputs.push({ name, dims: shapes[k] ?? (dims.length >= 4 * (k + 1) ? dims.slice(4 * k, 4 * k + 4) : null) }));
  const layers = [...msgs(net, 'layer'), ...msgs(net, 'layers')];
  if (!layers.length && !inputs.length) throw new UserError(`${source}: no layers; not a Caffe prototxt`);
  const tops: string[] = [];
  const seenTop = new Set<string>();
  const consumed = new Set<string>();
  const list: NetInfo['layers'] = [];
  for (const l of layers) {
    const type = strs(l, 'type')[0] ?? '';
    const t = strs(l, 'top');
    const b = strs(l, 'bottom');
    if (type !== 'Input' && type !== 'INPUT') list.push({ name: strs(l, 'name')[0] ?? '', type, bottoms: b, tops: t });
    for (const x of b) if (!t.includes(x)) consumed.add(x);
    if (type === 'Input' || type === 'INPUT') {
      const shp = msgs(l, 'input_param').flatMap((p) => msgs(p, 'shape')).map((s) => strs(s, 'dim').map(Number));
      t.forEach((name, k) => inputs.push({ name, dims: shp[k] ?? shp[0] ?? null }));
    }
    for (const x of t)
      if (!seenTop.has(x)) {
        seenTop.add(x);
        tops.push(x);
      }
  }
  const inputNames = new Set(inputs.map((x) => x.name));
  const outputs = tops.filter((x) => !consumed.has(x) && !inputNames.has(x));
  return { inputs, layers: list, tops, outputs };
}

// ---------------------------------------------------------------------------------------------
// Running both sides

function elapsed(t: number): number {
  return (performance.now() - t) / 1000;
}

/**
 * The biggest caffemodel OpenCV.js can verify. Its WebAssembly heap is capped at 1 GB and holds
 * the caffemodel file (Emscripten's in-memory FS) and the parsed weights at once. Measured with
 * @techstark/opencv-js 4.12: a net of one 500 MB blob loads, one of 550 MB does not, nor
 * VGG16's 528 MB; the margin leaves room for the activations of a per-layer check.
 */
export const OPENCV_MAX_CAFFEMODEL_BYTES = 450 * 2 ** 20;

/** OpenCV could not run the net; `retryable` when only the set of requested blobs was the problem. */
class CaffeRunError extends UserError {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

async function runCaffe(prototxt: string, caffemodel: Uint8Array, inputs: { name: string; tensor: Tensor }[], keys: string[], source: string): Promise<Map<string, Tensor>> {
  const { runCaffeInOpenCV } = await import('./opencvNet.js');
  try {
    return await runCaffeInOpenCV(prototxt, caffemodel, inputs, keys);
  } catch (e) {
    if ((e as Error)?.name !== 'OpenCVError') throw e;
    let msg = String((e as Error).message ?? e)
      .split('\n')[0]
      .replace(/^OpenCV: /, 'OpenCV DNN: ')
      .replace(/forward to \[[^\]]{60,}\] failed/, 'forward failed');
    const retryable = /no layer found for|has no blob named|Requested blob not found|requested id=-1 not found/i.test(msg);
    const missing = /Can't create layer "[^"]*" of type "([^"]+)"/.exec(msg);
    if (missing) msg += `; OpenCV DNN has no '${missing[1]}' layer, so this net cannot be verified here`;
    else if (/Insufficient memory|Cannot enlarge memory|null function or function signature mismatch|out of memory/i.test(msg))
      msg = `OpenCV.js ran out of its 1 GB WebAssembly memory running this net (${(caffemodel.byteLength / 2 ** 20).toFixed(0)} MB of weights); check it in native OpenCV DNN or Caffe`;
    else if (/blobs\.empty\(\)|blobs\.size\(\)|weightsMat|Assertion failed/.test(msg)) msg += ' (do the prototxt and the caffemodel belong together?)';
    throw new CaffeRunError(`${source}: ${msg}`, retryable);
  }
}

interface Wanted {
  name: string;
  kind: 'output' | 'layer';
  className: string;
  /** The Caffe blob compared with (for display). */
  blob: string;
  /** What to ask OpenCV for: a blob name (its last writer), or `@layer` (that layer's own output). */
  key: string;
  /** Pair mode, in-place blobs: the other reading (the blob after its in-place layers). */
  altKey?: string;
  layout: BlobLayout;
  /** Alternative layout to try (pair mode: a Flatten compared in Caffe's C,H,W order). */
  alt?: BlobLayout;
}

function compareRow(w: Wanted, keras: Tensor, caffe: Tensor, tol: number): VerificationRow {
  const base = { name: w.name, kind: w.kind, className: w.className, blob: w.blob, shape: keras.shape, caffeShape: caffe.shape };
  const nk = keras.data.length;
  const nc = caffe.data.length;
  if (nk !== nc)
    return { ...base, maxAbs: null, maxRel: null, maxRef: null, passed: false, note: `shapes differ: Keras ${shapeLabel(keras.shape)}, Caffe ${shapeLabel(caffe.shape)}` };
  const classifier = w.kind === 'output' && isClassifierShape(keras.shape);
  const attempt = (layout: BlobLayout) => {
    const ordered = kerasInCaffeOrder(keras, layout);
    return ordered ? compareValues(ordered, caffe.data, tol, classifier) : null;
  };
  let c = attempt(w.layout);
  let note: string | undefined;
  if (w.alt && (!c || !c.passed)) {
    const a = attempt(w.alt);
    if (a && (!c || a.maxAbs < c.maxAbs)) {
      c = a;
      note = "compared in Caffe's C,H,W flatten order";
    }
  }
  if (!c) return { ...base, maxAbs: null, maxRel: null, maxRef: null, passed: false, note: `layout ${w.layout.kind} does not fit shape ${shapeLabel(keras.shape)}` };
  if (w.layout.kind === 'nchw' && !note && !caffeDimsAgree(caffe.shape, keras.shape)) note = `Caffe blob is ${shapeLabel(caffe.shape)}`;
  if (c.nonFinite) note = `${c.nonFinite} value${c.nonFinite === 1 ? '' : 's'} NaN/Inf on one side${note ? `; ${note}` : ''}`;
  return { ...base, maxAbs: c.maxAbs, maxRel: c.maxRel, maxRef: c.maxRef, ...(c.top1 ? { top1: c.top1 } : {}), passed: c.passed, ...(note ? { note } : {}) };
}

interface RunPlan {
  reference: KerasReference;
  referenceSeconds: number;
  specs: InputSpec[];
  /** Caffe input blob name of each spec. */
  caffeInputs: string[];
  wanted: Wanted[];
  skipped: { name: string; reason: string }[];
  notCompared: { name: string; reason: string }[];
  mode: VerificationReport['mode'];
  notes: string[];
  fallbackError?: string;
  /** Every top of the net except the inputs, and `@name` of every layer with a top. */
  netKeys: string[];
}

/** What to request to keep every layer's own output (see execute). */
function allKeys(net: NetInfo): string[] {
  const inputs = new Set(net.inputs.map((i) => i.name));
  const names = new Map<string, number>();
  for (const l of net.layers) names.set(l.name, (names.get(l.name) ?? 0) + 1);
  const layerKeys = net.layers.filter((l) => l.tops.length && l.name && names.get(l.name) === 1).map((l) => `@${l.name}`);
  return [...net.tops.filter((t) => !inputs.has(t)), ...layerKeys];
}

async function execute(rp: RunPlan, opts: VerifyCommon, started: number, source: string): Promise<VerificationReport> {
  const tol = opts.tolerance ?? DEFAULT_TOLERANCE;
  if (!(tol > 0) || !Number.isFinite(tol)) throw new UserError(`tolerance ${tol} must be a positive number`);
  const progress = opts.onProgress ?? (() => undefined);
  // Refuse before the (long) Keras run a net that OpenCV.js cannot hold.
  if (opts.caffemodel.byteLength > OPENCV_MAX_CAFFEMODEL_BYTES)
    throw new UserError(
      `${source}: cannot verify in-process: its ${(opts.caffemodel.byteLength / 2 ** 20).toFixed(0)} MB caffemodel does not fit OpenCV.js, whose 1 GB WebAssembly heap holds the file and the parsed weights (${OPENCV_MAX_CAFFEMODEL_BYTES / 2 ** 20} MB at most); check the net in native OpenCV DNN or Caffe`,
    );
  const { reference } = rp;
  try {
    const prepared = await prepareInputs(rp.specs, opts);
    progress('running the Keras reference (tfjs)');
    let t = performance.now();
    const kerasValues = reference.predictAll(prepared.tensors);
    // A net cut right after an input outputs that input.
    prepared.tensors.forEach((x, i) => {
      for (const name of [rp.specs[i].name, reference.inputs[i]?.name]) if (name && !kerasValues.has(name)) kerasValues.set(name, x);
    });
    const kerasSeconds = elapsed(t);

    progress('running the Caffe net (OpenCV DNN)');
    t = performance.now();
    const caffeInputs = prepared.tensors.map((x, i) => ({
      name: rp.caffeInputs[i],
      tensor: { shape: caffeDimsOf(x.shape), data: kerasInCaffeOrder(x, { kind: 'nchw' })! },
    }));
    const wanted = rp.wanted.filter((w) => {
      if (kerasValues.has(w.name)) return true;
      const l = reference.layers.find((x) => x.name === w.name);
      const reason = l?.reason ?? 'no Keras value';
      if (w.kind === 'output') rp.notCompared.push({ name: w.name, reason });
      else rp.skipped.push({ name: w.name, reason });
      return false;
    });
    // OpenCV DNN fuses layers (Convolution + BatchNorm/Scale/activation) and lets the inputs of a
    // Concat write into its output; a requested blob whose layer was fused away or redirected then
    // holds stale memory. Requesting every top and every layer's own output keeps them all, so the
    // per-layer figures are those of the unfused net (as real Caffe runs it). Should OpenCV refuse
    // that request, fall back to fewer blobs, then to the outputs only.
    const perLayer = wanted.some((w) => w.kind === 'layer');
    const outputKeys = wanted.filter((w) => w.kind === 'output').map((w) => w.key);
    const wantedKeys = wanted.flatMap((w) => (w.altKey ? [w.key, w.altKey] : [w.key]));
    const attempts = perLayer ? [[...wantedKeys, ...rp.netKeys], [...wantedKeys, ...rp.netKeys.filter((k) => !k.startsWith('@'))], outputKeys] : [outputKeys];
    let caffeValues = new Map<string, Tensor>();
    let degraded = false;
    for (let i = 0; i < attempts.length; i++) {
      const keys = [...new Set(attempts[i])];
      if (!keys.length) break;
      try {
        caffeValues = await runCaffe(opts.prototxt, opts.caffemodel, caffeInputs, keys, source);
        degraded = i > 0;
        if (i === 1) rp.notes.push('OpenCV could not return every layer\'s own output: fused layers may show as failing');
        if (i === 2) rp.notes.push(`OpenCV could not return the intermediate blobs (${rp.fallbackError ?? 'error'}): outputs only`);
        break;
      } catch (e) {
        if (!(e instanceof CaffeRunError) || !e.retryable || i === attempts.length - 1) throw e;
        if (i === 0) rp.fallbackError = e.message;
      }
    }
    const caffeSeconds = elapsed(t);

    progress('comparing');
    t = performance.now();
    const layerRows: VerificationRow[] = [];
    const outputRows: VerificationRow[] = [];
    for (const w of wanted) {
      const k = kerasValues.get(w.name)!;
      const c = caffeValues.get(w.key);
      if (!c) {
        (w.kind === 'output' ? rp.notCompared : rp.skipped).push({ name: w.name, reason: `OpenCV returned no value for blob '${w.blob}'` });
        continue;
      }
      let row = compareRow(w, k, c, tol);
      const other = w.altKey ? caffeValues.get(w.altKey) : undefined;
      if (other && !row.passed) {
        const alt = compareRow(w, k, other, tol);
        if (alt.maxAbs !== null && (row.maxAbs === null || alt.maxAbs < row.maxAbs)) row = { ...alt, note: alt.note ?? `blob '${w.blob}' after its in-place layers` };
      }
      (w.kind === 'output' ? outputRows : layerRows).push(row);
    }
    const compareSeconds = elapsed(t);
    const rows = [...layerRows, ...outputRows];
    const complete = rp.notCompared.length === 0 && outputRows.length > 0;
    // A conversion's plan says which blob holds each Keras layer, so every layer row counts. A pair
    // from elsewhere is matched by names only: its outputs decide, layer rows point at the cause.
    const layersCount = rp.mode === 'conversion' && !degraded;
    const passed = complete && outputRows.every((r) => r.passed) && (!layersCount || layerRows.every((r) => r.passed));
    const firstFailingLayer = layerRows.find((r) => !r.passed)?.name ?? outputRows.find((r) => !r.passed)?.name ?? null;
    const notes = [...reference.notes, ...rp.notes];
    if (outputRows.every((r) => r.passed) && layerRows.some((r) => !r.passed))
      notes.push(`the outputs agree, but layer '${firstFailingLayer}' is over the tolerance${rp.mode === 'pair' ? ' (matched by name only)' : ''}`);
    return {
      passed,
      complete,
      mode: rp.mode,
      tolerance: tol,
      input: prepared.info,
      rows,
      firstFailingLayer,
      skipped: rp.skipped,
      unbuilt: reference.unbuilt.map((u) => u.message),
      notCompared: rp.notCompared,
      notes,
      seconds: {
        total: round(elapsed(started)),
        reference: round(rp.referenceSeconds),
        keras: round(kerasSeconds),
        caffe: round(caffeSeconds),
        compare: round(compareSeconds),
      },
    };
  } finally {
    reference.dispose();
  }
}

function round(s: number): number {
  return Math.round(s * 1000) / 1000;
}

async function buildReference(file: KerasH5, opts: VerifyCommon): Promise<{ reference: KerasReference; seconds: number }> {
  const t = performance.now();
  const { buildKerasReference } = await import('./kerasReference.js');
  const reference = await buildKerasReference(file, { onProgress: opts.onProgress });
  return { reference, seconds: elapsed(t) };
}

/**
 * Verifies a conversion made by this tool: the plan maps every Keras tensor to its Caffe blob and
 * layout, so every layer with a blob is compared in the right orientation.
 */
export async function verifyConversion(opts: VerifyConversionOptions): Promise<VerificationReport> {
  const started = performance.now();
  const { plan } = opts;
  const net = netInfo(opts.prototxt, 'the written prototxt');
  const tops = new Set(net.tops);
  const { reference, seconds } = await buildReference(opts.model.file, opts);
  const wanted: Wanted[] = [];
  const skipped: RunPlan['skipped'] = [];
  const notCompared: RunPlan['notCompared'] = [];
  const outputTensors = new Set(plan.outputs.map((o) => o.tensor));
  if (opts.layers !== false)
    for (const l of reference.layers) {
      if (l.className === 'InputLayer') continue;
      const tensor = `${l.name}:0`;
      if (outputTensors.has(tensor)) continue;
      const ref = plan.tensorBlobs.get(tensor);
      if (!ref) continue;
      if (ref.pendingPad) {
        skipped.push({ name: l.name, reason: 'folded into the next layer (no Caffe blob)' });
        continue;
      }
      if (!tops.has(ref.blob)) continue;
      if (net.inputs.some((i) => i.name === ref.blob)) continue;
      wanted.push({ name: l.name, kind: 'layer', className: l.className, blob: ref.blob, key: ref.blob, layout: ref.layout });
    }
  const byName = new Map(reference.layers.map((l) => [l.name, l]));
  for (const o of plan.outputs) {
    const name = o.tensor.replace(/:\d+$/, '');
    wanted.push({ name, kind: 'output', className: byName.get(name)?.className ?? (plan.inputs.some((x) => x.name === name) ? 'InputLayer' : '?'), blob: o.blob, key: o.blob, layout: o.layout });
  }
  const specs: InputSpec[] = plan.inputs.map((p) => ({ name: p.name, shape: [...p.kerasShape] }));
  if (reference.inputs.length !== specs.length) {
    reference.dispose();
    throw new UserError(`the Keras reference has ${reference.inputs.length} inputs, the plan ${specs.length}`);
  }
  return execute(
    { reference, referenceSeconds: seconds, specs, caffeInputs: plan.inputs.map((p) => p.blob), wanted, skipped, notCompared, mode: 'conversion', notes: [], netKeys: allKeys(net) },
    opts,
    started,
    'the written Caffe net',
  );
}

/** Keras shape (no batch) of a Caffe input's dims, given the Keras input's rank. */
function kerasShapeOfCaffeDims(dims: number[], rank: number): number[] | null {
  if (dims[0] !== 1 && dims.length > 1) return null;
  if (rank === 3 && dims.length === 4) return [dims[2], dims[3], dims[1]];
  if (rank === 1 && dims.length === 2) return [dims[1]];
  if (rank === 2 && dims.length === 4 && dims[2] === 1) return [dims[3], dims[1]];
  if (dims.length === rank + 1) return dims.slice(1);
  return null;
}

/**
 * Verifies any Keras/Caffe pair (made by this tool or another): inputs, outputs and layers are
 * matched by name (Keras layer name = Caffe blob name, standard NCHW layout, shapes must agree),
 * outputs by order when the names differ and the counts agree.
 */
export async function verifyPair(opts: VerifyPairOptions): Promise<VerificationReport> {
  const started = performance.now();
  const file: KerasH5 = 'file' in opts.model && 'graph' in opts.model ? opts.model.file : (opts.model as KerasH5);
  const ptxName = opts.prototxtName ?? 'the prototxt';
  const net = netInfo(opts.prototxt, ptxName);
  if (!net.inputs.length) throw new UserError(`${ptxName}: the net declares no input (no Input layer, no 'input:'); not a deploy prototxt`);
  const { reference, seconds } = await buildReference(file, opts);
  try {
    // inputs
    const kIn = reference.inputs;
    let order: number[];
    if (kIn.every((k) => net.inputs.some((c) => c.name === k.name))) order = kIn.map((k) => net.inputs.findIndex((c) => c.name === k.name));
    else if (kIn.length === net.inputs.length) order = kIn.map((_, i) => i);
    else
      throw new UserError(
        `the Keras model has ${kIn.length} input${kIn.length === 1 ? '' : 's'} (${kIn.map((k) => k.name).join(', ')}), ${ptxName} ${net.inputs.length} (${net.inputs.map((c) => c.name).join(', ')}): the pair does not match`,
      );
    const specs: InputSpec[] = kIn.map((k, i) => {
      const c = net.inputs[order[i]];
      const fromCaffe = c.dims ? kerasShapeOfCaffeDims(c.dims, k.shape.length) : null;
      const fits = fromCaffe && fromCaffe.length === k.shape.length && fromCaffe.every((d, j) => k.shape[j] === null || k.shape[j] === d);
      if (c.dims && !fits)
        throw new UserError(
          `${ptxName}: input '${c.name}' is ${shapeLabel(c.dims)}, the Keras input '${k.name}' is [${k.shape.map((d) => d ?? 'None').join(', ')}] (NHWC): the pair does not match`,
        );
      const shape = fromCaffe ?? (k.shape.every((d) => d !== null) ? (k.shape as number[]) : null);
      if (!shape) throw new UserError(`${ptxName}: input '${c.name}' has no dims and the Keras input '${k.name}' has unknown dims`);
      return { name: k.name, shape };
    });

    // outputs
    const wanted: Wanted[] = [];
    const notCompared: RunPlan['notCompared'] = [];
    const byName = new Map(reference.layers.map((l) => [l.name, l]));
    const flattenAlt = (name: string): BlobLayout | undefined => {
      const l = byName.get(name);
      if (!l || l.className !== 'Flatten') return undefined;
      const src = l.inputs[0] ? byName.get(l.inputs[0])?.shape : undefined;
      if (!src || src.length !== 3 || src.some((d) => d === null) || (src[0] as number) * (src[1] as number) === 1) return undefined;
      return { kind: 'flat-chw', from: src as [number, number, number] };
    };
    const kOut = reference.outputs;
    const outByName = kOut.every((o) => net.outputs.includes(o));
    if (!outByName && kOut.length !== net.outputs.length)
      notCompared.push(
        ...kOut.map((o) => ({
          name: o,
          reason: `no Caffe output of that name, and the counts differ (Keras ${kOut.length}, Caffe ${net.outputs.length}: ${net.outputs.join(', ')})`,
        })),
      );
    else
      kOut.forEach((o, i) => {
        const alt = flattenAlt(o);
        const blob = outByName ? o : net.outputs[i];
        wanted.push({ name: o, kind: 'output', className: byName.get(o)?.className ?? '?', blob, key: blob, layout: { kind: 'nchw' }, ...(alt ? { alt } : {}) });
      });

    // layers, by name
    const skipped: RunPlan['skipped'] = [];
    const tops = new Set(net.tops);
    const inputNames = new Set(net.inputs.map((c) => c.name));
    const outputNames = new Set(kOut);
    // A Keras layer X matches the Caffe layer named X writing blob X (its own output, even when
    // later in-place layers overwrite the blob), else the blob X, else the (in-place) layer named X.
    const layerCount = new Map<string, number>();
    for (const c of net.layers) layerCount.set(c.name, (layerCount.get(c.name) ?? 0) + 1);
    const caffeLayer = (n: string) => (layerCount.get(n) === 1 ? net.layers.find((c) => c.name === n && c.tops.length > 0) : undefined);
    if (opts.layers !== false)
      for (const l of reference.layers) {
        if (l.className === 'InputLayer' || outputNames.has(l.name) || inputNames.has(l.name)) continue;
        const own = caffeLayer(l.name);
        let blob: string;
        let key: string;
        let altKey: string | undefined;
        if (tops.has(l.name)) {
          blob = l.name;
          key = own && own.tops[0] === l.name ? `@${l.name}` : l.name;
          if (key !== blob) altKey = blob;
        } else if (own) {
          blob = own.tops[0];
          key = `@${l.name}`;
        } else continue;
        const alt = flattenAlt(l.name);
        wanted.push({ name: l.name, kind: 'layer', className: l.className, blob, key, ...(altKey ? { altKey } : {}), layout: { kind: 'nchw' }, ...(alt ? { alt } : {}) });
      }
    const report = await execute(
      { reference, referenceSeconds: seconds, specs, caffeInputs: order.map((j) => net.inputs[j].name), wanted, skipped, notCompared, mode: 'pair', notes: [], netKeys: allKeys(net) },
      opts,
      started,
      opts.caffemodelName ? `${ptxName} + ${opts.caffemodelName}` : ptxName,
    );
    // Layers matched by name whose shapes differ are another layer of the same name: not compared.
    report.rows = report.rows.filter((r) => {
      if (r.kind === 'layer' && r.maxAbs === null) {
        report.skipped.push({ name: r.name, reason: `Caffe blob '${r.blob}' has another shape (${shapeLabel(r.caffeShape)})` });
        return false;
      }
      return true;
    });
    report.firstFailingLayer = report.rows.find((r) => r.kind === 'layer' && !r.passed)?.name ?? report.rows.find((r) => !r.passed)?.name ?? null;
    if (kOut.length && !outByName && wanted.some((w) => w.kind === 'output')) report.notes.push('outputs matched by order (their names differ)');
    return report;
  } catch (e) {
    reference.dispose();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Text report

function fit(s: string, n: number): string {
  if (s.length <= n) return s.padEnd(n);
  return s.slice(0, n - 1) + '…';
}

const MAX_ROWS = 60;

/** The report as a text table (at most 80 columns). */
export function formatVerification(r: VerificationReport): string {
  const lines: string[] = [];
  lines.push('Verification: Keras (tfjs, TensorFlow semantics) vs Caffe (OpenCV DNN)');
  lines.push(`input: ${r.input.description}`);
  lines.push(`tolerance: max|Δ| ≤ ${r.tolerance} × max(1, max|Keras|)`);
  // 2 + 6 + 1 + 26 + 1 + 12 + 1 + 8 + 1 + 8 + 1 + 7 + 1 + 4 = 79
  const row = (kind: string, name: string, shape: string, a: string, rel: string, top: string, st: string) =>
    `  ${fit(kind, 6)} ${fit(name, 26)} ${fit(shape, 12)} ${a.padStart(8)} ${rel.padStart(8)} ${fit(top, 7)} ${st}`.trimEnd();
  lines.push(row('', 'layer', 'shape', 'max|Δ|', 'max rel', 'top-1', ''));
  let shown = r.rows;
  let hidden = 0;
  if (r.rows.length > MAX_ROWS) {
    const failing = r.rows.filter((x) => x.kind === 'layer' && !x.passed).slice(0, 10);
    const layers = r.rows.filter((x) => x.kind === 'layer');
    const keep = new Set([...layers.slice(0, 5), ...failing, ...layers.slice(-5), ...r.rows.filter((x) => x.kind === 'output')]);
    shown = r.rows.filter((x) => keep.has(x));
    hidden = r.rows.length - shown.length;
  }
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  let prevIndex = -1;
  for (const x of shown) {
    const idx = r.rows.indexOf(x);
    if (hidden && idx > prevIndex + 1) {
      const gap = r.rows.slice(prevIndex + 1, idx);
      const bad = gap.filter((y) => !y.passed).length;
      lines.push(`  … ${plural(gap.length, 'more layer')} ${bad ? `(${bad} over tolerance)` : 'within tolerance'}; --json lists every row`);
    }
    prevIndex = idx;
    const top = x.top1 ? (x.top1.agree ? `= ${x.top1.keras}` : `${x.top1.keras}≠${x.top1.caffe}`) : '';
    lines.push(row(x.kind, x.name, shapeLabel(x.shape), x.maxAbs === null ? '—' : formatError(x.maxAbs), x.maxRel === null ? '—' : formatError(x.maxRel), top, x.passed ? 'ok' : 'FAIL'));
    if (x.note && !x.passed) lines.push(`         ${fit(x.note, 71).trimEnd()}`);
  }
  for (const u of r.unbuilt) lines.push(`  note: ${fit(u, 72).trimEnd()}`);
  for (const n of r.notCompared) lines.push(fit(`  not compared: output '${n.name}': ${n.reason}`, 80).trimEnd());
  for (const n of r.notes) lines.push(`  note: ${fit(n, 72).trimEnd()}`);
  const outs = r.rows.filter((x) => x.kind === 'output');
  const layers = r.rows.filter((x) => x.kind === 'layer');
  const s = r.seconds;
  const time = `time: ${s.total.toFixed(1)} s (tfjs build ${s.reference.toFixed(1)} s, Keras ${s.keras.toFixed(1)} s, Caffe ${s.caffe.toFixed(1)} s, compare ${s.compare.toFixed(1)} s)`;
  const lp = layers.filter((x) => x.passed).length;
  if (r.passed) {
    lines.push(`PASSED: ${plural(outs.length, 'output')} within tolerance${layers.length ? `, ${lp}/${plural(layers.length, 'layer')} agree` : ''}`);
  } else if (!r.complete) {
    lines.push(`NOT VERIFIED: ${plural(r.notCompared.length || 1, 'output')} could not be compared`);
    if (r.firstFailingLayer) lines.push(`  and layer '${r.firstFailingLayer}' is over the tolerance`);
  } else {
    const first = r.rows.find((x) => x.name === r.firstFailingLayer && !x.passed);
    const how = first ? (first.maxAbs === null ? first.note ?? 'not comparable' : `max|Δ| ${formatError(first.maxAbs)}, rel ${formatError(first.maxRel ?? 0)}`) : '';
    const badOuts = outs.filter((x) => !x.passed).length;
    lines.push(badOuts ? `FAILED: ${plural(badOuts, 'output')} over tolerance; first failing layer:` : 'FAILED: the outputs agree, but a layer is over the tolerance:');
    lines.push(`  '${r.firstFailingLayer}' (${how})`);
  }
  lines.push(time);
  return lines.map((l) => (l.length > 80 ? l.slice(0, 79) + '…' : l)).join('\n') + '\n';
}
