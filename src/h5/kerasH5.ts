/**
 * Reads a Keras `.h5` model file (Keras 2.x, tf.keras 2.x, Keras 3 legacy h5) with h5wasm.
 *
 * Layout (keras/engine/saving.py, tf.keras hdf5_format.py, keras/src/legacy/saving/legacy_h5_format.py):
 *   /                 attrs: keras_version, backend, model_config (JSON), training_config
 *   /model_weights    attrs: layer_names (maybe split as layer_names0..N), keras_version, backend
 *   /model_weights/L  attrs: weight_names (maybe split as weight_names0..N); datasets at the
 *                     relative paths given by weight_names, e.g. `conv2d_1/kernel:0`.
 * A weights-only file (`save_weights`) has `layer_names` on the root and no `model_config`.
 * Attributes over HDF5's 64 KB header limit are split into NAME0, NAME1, ... (save_attributes_to_hdf5_group).
 *
 * Two readers give the same answers: the plain-TypeScript one in hdf5.ts (no start-up cost; a
 * float32 weight is a file-backed tensor that the layout transforms read in pieces, see
 * core/weightBuffers.ts), used when it understands every part of the file the model needs, and
 * h5wasm (the HDF5 library; ~200 ms to instantiate) for everything else. KERAS2CAFFE_H5=h5wasm
 * forces h5wasm. h5wasm runs in a worker thread, every call with a time limit (HDF5 loops on
 * some damaged files): see "h5wasm, in a worker thread" below.
 *
 * Damaged or hostile files are refused with a one-line ModelFileError before anything big is
 * allocated: a superblock end-of-file past the file size (truncated), a weight declaring more
 * than MAX_DATASET_ELEMENTS values or more bytes than the file holds (checkDeclaredSize).
 */
import { existsSync, statSync, openSync, readFileSync, readSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { ModelFileError, UserError } from '../core/errors.js';
import { elementCount, type Tensor } from '../core/tensor.js';
import { fileTensor } from '../core/weightBuffers.js';
import { H5File, type H5DatasetInfo } from './hdf5.js';

/** HDF5 files start with this signature at offset 0 (or 512, 1024, ... with a user block). */
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Refuse single weight arrays above this many elements before allocating (2^31 floats = 8 GB). */
export const MAX_DATASET_ELEMENTS = 2 ** 31 - 1;

export interface WeightEntry {
  /** The name as stored in `weight_names`, e.g. `conv2d_1/kernel:0`. */
  name: string;
  /** Short name: last path segment without the `:0` suffix, e.g. `kernel`, `moving_mean`. */
  shortName: string;
  /** Absolute HDF5 path of the dataset. */
  path: string;
  shape: number[];
}

export interface KerasH5 {
  path: string;
  kerasVersion: string | null;
  backend: string | null;
  /** The parsed `model_config` JSON ({class_name, config}). */
  modelConfig: KerasConfigNode;
  /** Layer groups under model_weights in `layer_names` order. */
  weightLayerNames: string[];
  /** The weights of one layer group, in `weight_names` order. */
  weightEntries(layerGroup: string): WeightEntry[];
  /** Reads one dataset as float32. */
  readWeight(entry: WeightEntry): Tensor;
  /** Total bytes of float weights (for progress and memory estimates). */
  weightBytes(): number;
  close(): void;
}

export interface KerasConfigNode {
  class_name: string;
  config: any;
  [key: string]: any;
}

/** The one-line gist of an h5wasm failure: the innermost message of an HDF5 error stack. */
function h5Detail(err: unknown): string {
  const text = typeof err === 'string' ? err : err instanceof Error ? err.message : String(err);
  const frames = [...text.matchAll(/#\d+: .*? in [\w.]+\(\): (.*)/g)].map((m) => m[1].trim());
  const gist = (frames.length ? frames[frames.length - 1] : text.split('\n').find((l) => l.trim() !== '') ?? '').trim();
  return gist ? ` (${gist.length > 160 ? `${gist.slice(0, 157)}...` : gist})` : '';
}

/**
 * The end-of-file address recorded in the superblock at `sb` (relative to the base address),
 * or null when the superblock is not one this check reads. HDF5 refuses a file shorter than it
 * ("truncated file"); so do we, without starting the library.
 */
function superblockEnd(fd: number, sb: number, size: number): number | null {
  const b = Buffer.alloc(64);
  const n = readSync(fd, b, 0, 64, sb);
  const version = b[8];
  let so: number;
  let at: number;
  if (version === 0 || version === 1) {
    so = b[13];
    at = 24 + (version === 1 ? 4 : 0);
  } else if (version === 2 || version === 3) {
    so = b[9];
    at = 12;
  } else return null;
  if (so !== 4 && so !== 8) return null;
  const field = (k: number): number | null => {
    const o = at + k * so;
    if (o + so > n) return null;
    let v = 0;
    let ones = true;
    for (let i = so - 1; i >= 0; i--) {
      v = v * 256 + b[o + i];
      if (b[o + i] !== 0xff) ones = false;
    }
    return ones || !Number.isSafeInteger(v) ? null : v;
  };
  // v0/1: base, free-space info, end of file; v2/3: base, superblock extension, end of file.
  const base = field(0);
  const eof = field(2);
  if (eof === null) return n < at + 3 * so ? size + 1 : null;
  return (base ?? sb) + eof;
}

function checkIsHdf5(path: string): void {
  if (!existsSync(path)) throw new ModelFileError(`${path}: no such file; check the path`);
  const st = statSync(path);
  if (st.isDirectory()) throw new ModelFileError(`${path} is a directory; give the path of a Keras .h5 model file`);
  if (st.size === 0) throw new ModelFileError(`${path} is empty; give a Keras .h5 model file`);
  if (!st.isFile()) throw new ModelFileError(`${path} is not a regular file; give a Keras .h5 model file`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ModelFileError(`${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); check its permissions`);
  }
  try {
    const head = Buffer.alloc(8);
    // The signature may follow a user block of 512 * 2^k bytes.
    for (let offset = 0; offset < st.size && offset <= 1 << 20; offset = offset === 0 ? 512 : offset * 2) {
      const n = readSync(fd, head, 0, 8, offset);
      if (n === 8 && HDF5_SIGNATURE.every((b, i) => head[i] === b)) {
        const end = superblockEnd(fd, offset, st.size);
        if (end !== null && end > st.size)
          throw new ModelFileError(`${path} is truncated (${st.size} bytes of ${end}); download or save the model again`);
        return;
      }
    }
  } finally {
    closeSync(fd);
  }
  const lower = path.toLowerCase();
  if (lower.endsWith('.caffemodel') || lower.endsWith('.prototxt'))
    throw new ModelFileError(`${path} is a Caffe file, not a Keras model; give the Keras .h5 file to convert`);
  if (lower.endsWith('.keras'))
    throw new ModelFileError(`${path}: the .keras (zip) format is not supported yet; save the model as .h5 (model.save("model.h5"))`);
  throw new ModelFileError(`${path} is not an HDF5 file; give a Keras .h5 model saved with model.save()`);
}

function attrString(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  if (Array.isArray(value) && value.length === 1) return attrString(value[0]);
  return String(value);
}

function attrStringList(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map((v) => attrString(v) ?? '');
  if (value instanceof Uint8Array) return [new TextDecoder().decode(value)];
  return [String(value)];
}

/** An attribute that Keras may have split into NAME0, NAME1, ... (save_attributes_to_hdf5_group). */
function splitStringList(has: (n: string) => boolean, get: (n: string) => unknown, name: string): string[] | null {
  if (has(name)) return attrStringList(get(name));
  if (!has(`${name}0`)) return null;
  const out: string[] = [];
  for (let i = 0; has(`${name}${i}`); i++) out.push(...attrStringList(get(`${name}${i}`)));
  return out;
}

function shortWeightName(name: string): string {
  const last = name.split('/').pop() ?? name;
  return last.replace(/:\d+$/, '');
}

export async function openKerasH5(path: string): Promise<KerasH5> {
  checkIsHdf5(path);
  if (process.env.KERAS2CAFFE_H5 !== 'h5wasm') {
    const native = openNative(path);
    if (native) return native;
  }
  return openWithH5wasm(path);
}

/** Synchronous access to one file open in the h5wasm worker. */
interface H5Access {
  attrNames(path: string): string[] | null;
  attr(path: string, name: string): unknown;
  keys(path: string): string[] | null;
  dataset(path: string): { shape: number[]; itemSize: number; filtered: boolean } | null;
  read(path: string, bytes: number): Float32Array | null;
  close(): void;
}

function openWithH5wasm(path: string): KerasH5 {
  const w = h5wasmWorker();
  let fid: number;
  try {
    fid = h5rpc(w, 'open', { path }) as number;
  } catch (err) {
    throw new ModelFileError(`${path} could not be opened as HDF5 (truncated or corrupted?); re-save the model${h5Detail(err)}`);
  }
  w.openFiles++;
  let closed = false;
  const access: H5Access = {
    attrNames: (p) => h5rpc(w, 'attrNames', { fid, path: p }),
    attr: (p, name) => h5rpc(w, 'attr', { fid, path: p, name }),
    keys: (p) => h5rpc(w, 'keys', { fid, path: p }),
    dataset: (p) => h5rpc(w, 'dataset', { fid, path: p }),
    // Reading takes time with the size: 1 s more per 25 MB.
    read: (p, bytes) => h5rpc(w, 'read', { fid, path: p }, H5_CALL_TIMEOUT_MS + bytes / 25_000),
    close: () => {
      if (closed) return;
      closed = true;
      w.openFiles--;
      if (w.dead) return;
      try {
        h5rpc(w, 'close', { fid });
      } catch {
        /* the worker was stopped */
      }
      if (w.failures >= MAX_FAILURES_PER_WORKER && w.openFiles === 0) killWorker(w);
    },
  };
  try {
    return describeFile(path, access);
  } catch (err) {
    access.close();
    throw err;
  }
}

function describeFile(path: string, h5: H5Access): KerasH5 {
  const fileSize = statSync(path).size;
  /** Runs h5wasm calls; a failure becomes a ModelFileError with `message` and HDF5's reason. */
  const call = <T>(message: () => string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new ModelFileError(`${message()}${h5Detail(err)}`);
    }
  };
  const rootNames = call(() => `${path}: the HDF5 root is unreadable (truncated or corrupted?); re-save the model`, () => h5.attrNames('/')) ?? [];
  const readAttr = (name: string): unknown =>
    rootNames.includes(name) ? call(() => `${path}: attribute '${name}' is unreadable (corrupted file?); re-save the model`, () => h5.attr('/', name)) : undefined;
  const rawConfig = attrString(readAttr('model_config'));
  if (rawConfig === null) {
    if (rootNames.includes('layer_names') || rootNames.includes('layer_names0'))
      throw new ModelFileError(
        `${path} is a weights-only file (saved with save_weights, no model_config); save the whole model with model.save("model.h5")`,
      );
    throw new ModelFileError(`${path} is an HDF5 file but not a Keras model (no model_config attribute); save it with model.save("model.h5")`);
  }
  let modelConfig: KerasConfigNode;
  try {
    modelConfig = JSON.parse(rawConfig);
  } catch {
    throw new ModelFileError(`${path}: model_config is not valid JSON (corrupted file?); re-save the model`);
  }
  if (!modelConfig || typeof modelConfig !== 'object' || typeof modelConfig.class_name !== 'string')
    throw new ModelFileError(`${path}: model_config has no class_name; not a Keras model file`);

  const kerasVersion = attrString(readAttr('keras_version'));
  const backend = attrString(readAttr('backend'));

  const hasWeights = call(() => `${path}: the model_weights group is unreadable (corrupted file?); re-save the model`, () => (h5.keys('/') ?? []).includes('model_weights'));
  /** A group's split string-list attribute (layer_names, weight_names). */
  const splitList = (group: string, name: string, message: () => string): string[] | null =>
    call(message, () => {
      const names = h5.attrNames(group);
      if (!names) throw new Error('not a group');
      return splitStringList((n) => names.includes(n), (n) => h5.attr(group, n), name);
    });
  const weightLayerNames = hasWeights
    ? (splitList('/model_weights', 'layer_names', () => `${path}: the layer_names of model_weights are unreadable (corrupted file?); re-save the model`) ?? [])
    : [];
  const entryCache = new Map<string, WeightEntry[]>();

  const weightEntries = (layerGroup: string): WeightEntry[] => {
    const cached = entryCache.get(layerGroup);
    if (cached) return cached;
    let entries: WeightEntry[] = [];
    if (hasWeights && weightLayerNames.includes(layerGroup)) {
      const groupPath = `/model_weights/${layerGroup}`;
      const unreadableGroup = () => `${path}: weights group '${layerGroup}' is missing or unreadable; re-save the model`;
      // An empty weight_names attribute reads back as [''] in h5wasm.
      const names = (splitList(groupPath, 'weight_names', unreadableGroup) ?? []).filter((n) => n !== '');
      entries = names.map((name) => {
        const dsPath = `${groupPath}/${name}`;
        const unreadable = () => `${path}: weight '${name}' of layer '${layerGroup}' is missing or unreadable; re-save the model`;
        const meta = call(unreadable, () => h5.dataset(dsPath));
        if (!meta) throw new ModelFileError(unreadable());
        checkDeclaredSize(path, name, meta.shape, meta.itemSize, meta.filtered, fileSize);
        return { name, shortName: shortWeightName(name), path: dsPath, shape: meta.shape };
      });
    }
    entryCache.set(layerGroup, entries);
    return entries;
  };

  const readWeight = (entry: WeightEntry): Tensor => {
    const n = elementCount(entry.shape);
    if (!Number.isFinite(n) || n > MAX_DATASET_ELEMENTS)
      throw new ModelFileError(`${path}: weight '${entry.name}' declares ${n} elements, more than this tool reads; the file is corrupted or not a Keras model`);
    const data = call(() => `${path}: weight '${entry.name}' is unreadable (truncated or corrupted file?); re-save the model`, () => h5.read(entry.path, n * 4));
    if (!data) throw new ModelFileError(`${path}: weight '${entry.name}' is not a numeric array; the file is corrupted or not a Keras model`);
    if (data.length !== n) throw new ModelFileError(`${path}: weight '${entry.name}' holds ${data.length} values for shape [${entry.shape}]; the file is corrupted`);
    return { shape: [...entry.shape], data };
  };

  const weightBytes = (): number => {
    let total = 0;
    for (const layer of weightLayerNames) for (const e of weightEntries(layer)) total += elementCount(e.shape) * 4;
    return total;
  };

  return {
    path,
    kerasVersion,
    backend,
    modelConfig,
    weightLayerNames,
    weightEntries,
    readWeight,
    weightBytes,
    close: () => h5.close(),
  };
}

/**
 * Refuses a weight whose declared size cannot be real, before anything is allocated: more than
 * MAX_DATASET_ELEMENTS values, a negative or non-integer dimension, or (for data stored without
 * compression, as Keras stores it) more bytes than the whole file has.
 */
function checkDeclaredSize(path: string, name: string, shape: number[], itemSize: number, filtered: boolean, fileSize: number): void {
  const n = elementCount(shape);
  const where = `${path}: weight '${name}' declares shape [${shape}]`;
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0) || !Number.isSafeInteger(n))
    throw new ModelFileError(`${where}, which is not a valid size; the file is corrupted`);
  if (n > MAX_DATASET_ELEMENTS)
    throw new ModelFileError(`${where} (${n.toExponential(2)} values), more than this tool reads (${MAX_DATASET_ELEMENTS}); the file is corrupted or not a Keras model`);
  const bytes = n * (Number.isFinite(itemSize) && itemSize > 0 ? itemSize : 4);
  if (!filtered && bytes > fileSize)
    throw new ModelFileError(`${where} (${bytes} bytes) but the whole file has ${fileSize} bytes; the file is corrupted or truncated`);
}

// ---------------------------------------------------------------------------------------------
// h5wasm, in a worker thread

/**
 * h5wasm (the HDF5 C library compiled to wasm) runs in a worker thread, called synchronously
 * (the KerasH5 methods are synchronous): the main thread posts a request and blocks in
 * Atomics.wait until the worker answers, at most H5_CALL_TIMEOUT_MS. Why a worker:
 *
 * - HDF5 loops forever on some damaged files (found by test/robust-fuzz.test.ts: a damaged
 *   object header makes reading a root attribute spin). In-process that hang could not be
 *   interrupted; here the call times out, the worker is terminated, and the user gets a
 *   ModelFileError.
 * - Each HDF5 failure leaks library state when h5wasm's throwing error handler unwinds past
 *   HDF5's clean-up (a failed open leaks its file descriptor; after ~2,200 failed calls one
 *   instance traps), and a wasm trap or abort() leaves it in an unknown state. A worker with
 *   too many failures, or after a trap, is terminated and its memory is freed; the next file
 *   gets a new one.
 * - Emscripten prints aborts and heap warnings with console.error, and HDF5 writes to fd 2:
 *   the worker's console is silenced before h5wasm loads (Emscripten binds console.error at
 *   load), and the wasm FS's fd 2 is sent to the null device (unless KERAS2CAFFE_DEBUG is set).
 *   (Capturing the worker's stdio with `stdout: true` would keep the process alive.)
 *
 * Facts about h5wasm 0.10 (HDF5 2.0) on damaged files, found by probing it: by default HDF5
 * prints its error stack and the failing call returns a negative id that h5wasm does not check
 * (`new File()` "succeeds" and later calls run on invalid ids). With the throwing error handler
 * (activated below) every failure throws an Error whose message is the HDF5 error stack.
 */
const H5_CALL_TIMEOUT_MS = Number(process.env.KERAS2CAFFE_H5_TIMEOUT_MS ?? 2000);
/** Extra time for the first call: the worker starts and instantiates h5wasm (~0.2 s). */
const H5_LOAD_TIMEOUT_MS = 20_000;
const MAX_FAILURES_PER_WORKER = 200;

const WORKER_SOURCE = String.raw`
const { workerData } = require('node:worker_threads');
const { openSync } = require('node:fs');
const { devNull } = require('node:os');
const { port, sab, h5url, quiet } = workerData;
const flag = new Int32Array(sab);
if (quiet) for (const k of ['log', 'error', 'warn', 'info', 'debug', 'trace']) console[k] = () => {};
let h5 = null;
let poisoned = false;
const files = new Map();
let nextFid = 1;
const loading = (async () => {
  const m = await import(h5url);
  await m.ready;
  const M = m.Module;
  M.activate_throwing_error_handler();
  M.onAbort = (what) => {
    poisoned = true;
    throw new Error('h5wasm aborted: ' + what);
  };
  if (quiet) {
    try {
      M.FS.streams[2].nfd = openSync(devNull, 'w');
    } catch {}
  }
  h5 = m;
})();
const text = (e) => (typeof e === 'string' ? e : e && e.message ? String(e.message) : String(e));
const streams = () => h5.FS.streams.slice();
function closeNew(before) {
  for (const [i, s] of h5.FS.streams.entries()) {
    if (s && s !== before[i]) {
      try { h5.FS.close(s); } catch {}
    }
  }
}
function node(f, path) {
  if (path === '/' || path === '') return f.file;
  return f.file.get(path);
}
const NUMERIC = [Float32Array, Float64Array, Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array];
const ops = {
  ping() {
    return { value: true };
  },
  open({ path }) {
    const before = streams();
    let file;
    try {
      file = new h5.File(path, 'r');
    } catch (e) {
      closeNew(before);
      throw e;
    }
    const fid = nextFid++;
    files.set(fid, { file, before });
    return { value: fid };
  },
  close({ fid }) {
    const f = files.get(fid);
    if (!f) return { value: null };
    files.delete(fid);
    try { f.file.close(); } catch {}
    closeNew(f.before);
    return { value: null };
  },
  attrNames({ fid, path }) {
    const n = node(files.get(fid), path);
    return { value: n && n.attrs ? Object.keys(n.attrs) : null };
  },
  attr({ fid, path, name }) {
    const n = node(files.get(fid), path);
    const a = n && n.attrs ? n.attrs[name] : undefined;
    return { value: a === undefined ? undefined : a.value };
  },
  keys({ fid, path }) {
    const n = node(files.get(fid), path);
    return { value: n && typeof n.keys === 'function' ? n.keys() : null };
  },
  dataset({ fid, path }) {
    const n = node(files.get(fid), path);
    if (!(n instanceof h5.Dataset) || !Array.isArray(n.shape)) return { value: null };
    return { value: { shape: n.shape.map(Number), itemSize: Number(n.metadata.size), filtered: n.filters.length > 0 } };
  },
  read({ fid, path }) {
    const n = node(files.get(fid), path);
    const v = n instanceof h5.Dataset ? n.value : undefined;
    let data;
    if (v instanceof Float32Array) data = v;
    else if (NUMERIC.some((T) => v instanceof T)) data = Float32Array.from(v);
    else if (typeof v === 'number') data = Float32Array.of(v);
    else return { value: null };
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
    return { value: data, transfer: [data.buffer] };
  },
};
port.on('message', async (req) => {
  let res;
  let transfer = [];
  try {
    await loading;
    if (poisoned) res = { id: req.id, error: 'h5wasm is unusable after an abort', fatal: true };
    else {
      const r = ops[req.op](req);
      res = { id: req.id, value: r.value };
      transfer = r.transfer || [];
    }
  } catch (e) {
    const fatal = poisoned || !h5 || e instanceof WebAssembly.RuntimeError || e instanceof RangeError;
    res = { id: req.id, error: text(e), fatal };
  }
  port.postMessage(res, transfer);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

interface H5Worker {
  worker: Worker;
  port: MessagePort;
  flag: Int32Array;
  /** Terminated (timeout, trap, too many failures): no new file is opened with it. */
  dead: boolean;
  /** No call has been answered yet (the first one waits for h5wasm to load). */
  fresh: boolean;
  failures: number;
  openFiles: number;
  nextId: number;
}

/** An h5wasm call failed: `detail` is HDF5's message; `timedOut` when it did not answer in time. */
class H5CallError extends Error {
  override name = 'H5CallError';
  constructor(
    readonly detail: string,
    readonly timedOut = false,
  ) {
    super(detail);
  }
}

let h5Worker: H5Worker | null = null;
let h5WorkersStarted = 0;

/** How many h5wasm workers were started, and the failures of the current one (for tests). */
export async function h5wasmStats(): Promise<{ instances: number; failures: number; dead: boolean }> {
  return { instances: h5WorkersStarted, failures: h5Worker?.failures ?? 0, dead: h5Worker?.dead ?? false };
}

function killWorker(w: H5Worker): void {
  w.dead = true;
  void w.worker.terminate().catch(() => undefined);
  if (h5Worker === w) h5Worker = null;
}

/** The file URL of h5wasm's Node entry (the worker imports it by URL: it has no module context). */
function h5wasmUrl(): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('h5wasm/node');
  // Node < 20.6 has no import.meta.resolve: find node_modules/h5wasm above this file.
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = join(dir, 'node_modules', 'h5wasm', 'package.json');
    if (existsSync(pkg)) return pathToFileURL(join(dirname(pkg), JSON.parse(readFileSync(pkg, 'utf8')).exports['./node'].import)).href;
    if (dirname(dir) === dir) throw new Error('h5wasm is not installed (node_modules/h5wasm)');
  }
}

function h5wasmWorker(): H5Worker {
  const current = h5Worker;
  if (current && !current.dead && current.failures < MAX_FAILURES_PER_WORKER) return current;
  if (current && !current.dead && current.openFiles === 0) killWorker(current);
  const { port1, port2 } = new MessageChannel();
  const sab = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: port2, sab, h5url: h5wasmUrl(), quiet: !process.env.KERAS2CAFFE_DEBUG },
    transferList: [port2],
  });
  worker.unref();
  port1.unref();
  worker.on('error', () => undefined);
  h5WorkersStarted++;
  h5Worker = { worker, port: port1, flag: new Int32Array(sab), dead: false, fresh: true, failures: 0, openFiles: 0, nextId: 1 };
  return h5Worker;
}

/** One synchronous call into the worker; throws H5CallError on failure or timeout. */
function h5rpc(w: H5Worker, op: string, args: Record<string, unknown>, timeoutMs = H5_CALL_TIMEOUT_MS): any {
  if (w.dead) throw new H5CallError('the HDF5 reader was stopped after an earlier failure');
  if (w.fresh) {
    // The first answer waits for the worker to start and h5wasm to load.
    w.fresh = false;
    try {
      h5rpc(w, 'ping', {}, H5_LOAD_TIMEOUT_MS);
    } catch (err) {
      killWorker(w);
      throw err instanceof H5CallError && err.timedOut ? new H5CallError('h5wasm did not start') : err;
    }
  }
  const id = w.nextId++;
  Atomics.store(w.flag, 0, 0);
  w.port.postMessage({ id, op, ...args });
  const waited = Atomics.wait(w.flag, 0, 0, timeoutMs);
  const reply = receiveMessageOnPort(w.port)?.message as { id: number; value?: unknown; error?: string; fatal?: boolean } | undefined;
  if (waited === 'timed-out' || !reply || reply.id !== id) {
    killWorker(w);
    throw new H5CallError(`HDF5 gave no answer within ${(timeoutMs / 1000).toFixed(1)} s, as happens on some damaged files`, true);
  }
  if (reply.error !== undefined) {
    w.failures++;
    if (reply.fatal) killWorker(w);
    throw new H5CallError(reply.error);
  }
  return reply.value;
}

// ---------------------------------------------------------------------------------------------
// The plain-TypeScript reader (hdf5.ts)

/**
 * The file through hdf5.ts, or null when that reader cannot give exactly what h5wasm would
 * (an HDF5 feature it does not implement, a damaged file, a non-Keras file: h5wasm then reads
 * it, or reports the problem with its usual message). Everything the conversion needs (root
 * attributes, every weight group and dataset) is checked here, up front, because the KerasH5
 * methods are synchronous and h5wasm loads asynchronously.
 */
function openNative(path: string): KerasH5 | null {
  let file: H5File | null = null;
  try {
    file = new H5File(path);
    return describeNative(path, file);
  } catch (err) {
    file?.close();
    if (process.env.KERAS2CAFFE_DEBUG) process.stderr.write(`keras2caffe: ${path}: reading with h5wasm (${(err as Error)?.message ?? err})\n`);
    return null;
  }
}

/** Dataset types read natively: little-endian float32 (file-backed), float64 and small integers (converted). */
function nativeReadable(info: H5DatasetInfo): boolean {
  const t = info.type;
  if (!t.littleEndian) return false;
  if (t.cls === 1) return t.size === 4 || t.size === 8;
  if (t.cls === 0) return t.size === 1 || t.size === 2 || t.size === 4;
  return false;
}

function describeNative(path: string, file: H5File): KerasH5 {
  const root = file.resolve('/');
  if (root === null) throw new Error('no root group');
  const rootAttrs = file.attributes(root);
  const rawConfig = attrString(rootAttrs.get('model_config'));
  if (rawConfig === null) throw new Error('no model_config');
  const modelConfig = JSON.parse(rawConfig) as KerasConfigNode;
  if (!modelConfig || typeof modelConfig !== 'object' || typeof modelConfig.class_name !== 'string') throw new Error('model_config has no class_name');
  const kerasVersion = attrString(rootAttrs.get('keras_version'));
  const backend = attrString(rootAttrs.get('backend'));

  const weightsAddr = file.resolve('/model_weights');
  const weightsAttrs = weightsAddr === null ? null : file.attributes(weightsAddr);
  const weightLayerNames = weightsAttrs ? (splitStringList((n) => weightsAttrs.has(n), (n) => weightsAttrs.get(n), 'layer_names') ?? []) : [];

  const entries = new Map<string, WeightEntry[]>();
  const infos = new Map<string, H5DatasetInfo>();
  for (const layerGroup of weightLayerNames) {
    if (entries.has(layerGroup)) continue;
    const groupAddr = file.resolve(`/model_weights/${layerGroup}`);
    if (groupAddr === null) throw new Error(`no weights group '${layerGroup}'`);
    const attrs = file.attributes(groupAddr);
    const names = (splitStringList((n) => attrs.has(n), (n) => attrs.get(n), 'weight_names') ?? []).filter((n) => n !== '');
    entries.set(
      layerGroup,
      names.map((name) => {
        const dsPath = `/model_weights/${layerGroup}/${name}`;
        const addr = file.resolve(dsPath);
        const info = addr === null ? null : file.dataset(addr);
        if (!info || !info.shape) throw new Error(`weight '${name}' of '${layerGroup}' is not a dataset with a shape`);
        if (!nativeReadable(info)) throw new Error(`weight '${name}' has a type this reader does not convert`);
        const n = elementCount(info.shape);
        const st = info.storage;
        const bytes = n * info.type.size;
        if (st.kind === 'unallocated') throw new Error(`weight '${name}' has no data (fill value)`);
        if (st.kind === 'compact' && st.bytes.byteLength !== bytes) throw new Error(`weight '${name}': compact data size`);
        if (st.kind === 'contiguous' && (st.size !== bytes || file.position(st.address) + st.size > file.fileSize)) throw new Error(`weight '${name}': data size or place`);
        infos.set(dsPath, info);
        return { name, shortName: shortWeightName(name), path: dsPath, shape: [...info.shape] };
      }),
    );
  }

  const weightEntries = (layerGroup: string): WeightEntry[] => entries.get(layerGroup) ?? [];

  const readWeight = (entry: WeightEntry): Tensor => {
    const n = elementCount(entry.shape);
    if (!Number.isFinite(n) || n > MAX_DATASET_ELEMENTS)
      throw new ModelFileError(`${path}: weight '${entry.name}' declares ${n} elements, more than this tool reads; the file is corrupted or not a Keras model`);
    const info = infos.get(entry.path);
    const unreadable = () => new ModelFileError(`${path}: weight '${entry.name}' is unreadable (truncated or corrupted file?); re-save the model`);
    if (!info || !info.shape) throw unreadable();
    if (elementCount(info.shape) !== n) throw new ModelFileError(`${path}: weight '${entry.name}' holds ${elementCount(info.shape)} values for shape [${entry.shape}]; the file is corrupted`);
    const st = info.storage;
    if (info.type.cls === 1 && info.type.size === 4 && st.kind === 'contiguous') {
      const pos = file.position(st.address);
      return fileTensor([...entry.shape], {
        length: n,
        read(start, count, dst, dstOffset) {
          if (start < 0 || count < 0 || start + count > n) throw new RangeError(`elements ${start}..${start + count} of ${n}`);
          try {
            file.readInto(pos + start * 4, new Uint8Array(dst.buffer, dst.byteOffset + dstOffset * 4, count * 4));
          } catch {
            throw unreadable();
          }
        },
      });
    }
    let raw: Uint8Array;
    try {
      if (st.kind === 'compact') raw = st.bytes;
      else if (st.kind === 'contiguous') {
        raw = new Uint8Array(st.size);
        file.readInto(file.position(st.address), raw);
      } else throw new Error('no data');
    } catch {
      throw unreadable();
    }
    const values = file.numbers(raw, info.type);
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    return { shape: [...entry.shape], data };
  };

  const weightBytes = (): number => {
    let total = 0;
    for (const layer of weightLayerNames) for (const e of weightEntries(layer)) total += elementCount(e.shape) * 4;
    return total;
  };

  return {
    path,
    kerasVersion,
    backend,
    modelConfig,
    weightLayerNames,
    weightEntries,
    readWeight,
    weightBytes,
    close: () => file.close(),
  };
}
