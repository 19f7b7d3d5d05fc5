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
 * forces h5wasm.
 */
import { existsSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { devNull } from 'node:os';
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

type H5Module = typeof import('h5wasm/node');

/**
 * One h5wasm instance: an Emscripten module with its own wasm heap and HDF5 library state.
 *
 * Facts about h5wasm 0.10 (HDF5 2.0) on damaged files, found by probing it:
 * - By default HDF5 prints its error stack on fd 2 (bypassing process.stderr) and the failing
 *   call returns a negative id that h5wasm does not check (`new File()` "succeeds"; later calls
 *   then run on invalid ids). So we switch on h5wasm's throwing error handler: every HDF5
 *   failure throws an Error whose message is the error stack, and nothing is printed.
 * - Each such throw skips HDF5's own clean-up after the handler: a failed open leaks its file
 *   descriptor (closed by us, see `newStreams`), and library state leaks too: after ~2,200
 *   failed calls one instance traps ("null function or function signature mismatch"). An
 *   instance is therefore retired after MAX_FAILURES_PER_INSTANCE failures.
 * - A wasm trap or abort() (assertion in the C code) leaves the library in an unknown state:
 *   the instance is "poisoned" and retired. abort() also prints "Aborted(...)" through
 *   console.error: our onAbort hook throws first, so it never prints.
 * - A new instance is a fresh import of h5wasm's ES module under another URL (its `ready`
 *   instantiates a new wasm module, ~40 ms). ES modules cannot be unloaded, so a retired
 *   instance's heap (~20 MB) stays allocated: retirement is for damaged files only.
 */
interface H5Instance {
  mod: H5Module;
  /** HDF5 calls that failed on this instance. */
  failures: number;
  /** A wasm trap or abort happened: no new file is opened with this instance. */
  poisoned: boolean;
  /** Files opened through this instance and not closed yet. */
  openFiles: number;
}

/** h5wasm aborted (C assertion or abort()): the instance is unusable. */
class H5wasmAbort extends Error {
  override name = 'H5wasmAbort';
}

const MAX_FAILURES_PER_INSTANCE = 200;
let h5Current: Promise<H5Instance> | null = null;
let h5Generation = 0;

function h5wasmUrl(): string {
  return import.meta.resolve('h5wasm/node');
}

async function instantiateH5wasm(): Promise<H5Instance> {
  const generation = h5Generation++;
  const mod: H5Module = generation === 0 ? await import('h5wasm/node') : await import(/* @vite-ignore */ `${h5wasmUrl()}?instance=${generation}`);
  await mod.ready;
  const inst: H5Instance = { mod, failures: 0, poisoned: false, openFiles: 0 };
  const M = mod.Module as unknown as { activate_throwing_error_handler(): number; onAbort?: (what: unknown) => void; FS: { streams: unknown[] } };
  M.activate_throwing_error_handler();
  M.onAbort = (what: unknown) => {
    inst.poisoned = true;
    throw new H5wasmAbort(`h5wasm aborted: ${String(what)}`);
  };
  // HDF5 may still write to its stderr (fd 2 of the wasm FS, which is the process's fd 2).
  const stderrStream = M.FS.streams[2] as { nfd?: number } | undefined;
  if (stderrStream && typeof stderrStream.nfd === 'number' && !process.env.KERAS2CAFFE_DEBUG) {
    try {
      stderrStream.nfd = openSync(devNull, 'w');
    } catch {
      /* keep fd 2 */
    }
  }
  return inst;
}

/** Closes the descriptors a retired instance still holds (its heap stays, see H5Instance). */
function retireH5wasm(inst: H5Instance): void {
  const FS = inst.mod.FS as unknown as { streams: ({ fd: number } | null | undefined)[]; close(s: unknown): void } | null;
  for (const s of FS?.streams ?? []) {
    if (s && s.fd > 2) {
      try {
        FS!.close(s);
      } catch {
        /* already closed */
      }
    }
  }
}

/** How many h5wasm instances were started, and the failures of the current one (for tests). */
export async function h5wasmStats(): Promise<{ instances: number; failures: number; poisoned: boolean }> {
  const inst = h5Current ? await h5Current.catch(() => null) : null;
  return { instances: h5Generation, failures: inst?.failures ?? 0, poisoned: inst?.poisoned ?? false };
}

/** h5wasm is loaded on first use only (start-up time of the CLI); see H5Instance. */
async function loadH5wasm(): Promise<H5Instance> {
  if (h5Current) {
    const inst = await h5Current;
    if (!inst.poisoned && inst.failures < MAX_FAILURES_PER_INSTANCE) return inst;
    if (inst.openFiles === 0) retireH5wasm(inst);
    h5Current = null;
  }
  h5Current = instantiateH5wasm();
  h5Current.catch(() => {
    h5Current = null;
  });
  return h5Current;
}

/** The one-line gist of an h5wasm failure: the innermost message of an HDF5 error stack. */
function h5Detail(err: unknown): string {
  const text = typeof err === 'string' ? err : err instanceof Error ? err.message : String(err);
  const frames = [...text.matchAll(/#\d+: .*? in [\w.]+\(\): (.*)/g)].map((m) => m[1].trim());
  const gist = (frames.length ? frames[frames.length - 1] : text.split('\n').find((l) => l.trim() !== '') ?? '').trim();
  return gist ? ` (${gist.length > 160 ? `${gist.slice(0, 157)}...` : gist})` : '';
}

/**
 * Runs synchronous h5wasm work: stderr is silenced meanwhile (Emscripten prints heap and abort
 * messages through console.error), and any failure becomes a ModelFileError with `message`.
 */
function h5call<T>(inst: H5Instance, message: () => string, fn: () => T): T {
  const stderr = process.stderr;
  const write = stderr.write;
  if (!process.env.KERAS2CAFFE_DEBUG) stderr.write = (() => true) as typeof write;
  try {
    return fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    inst.failures++;
    if (err instanceof WebAssembly.RuntimeError || err instanceof H5wasmAbort || err instanceof RangeError) inst.poisoned = true;
    throw new ModelFileError(`${message()}${h5Detail(err)}`);
  } finally {
    stderr.write = write;
  }
}

/** Wasm FS streams opened since `before` (h5wasm's file descriptors), to close what HDF5 leaks. */
function newStreams(inst: H5Instance, before: readonly unknown[]): unknown[] {
  const streams = (inst.mod.FS as unknown as { streams: unknown[] } | null)?.streams ?? [];
  return streams.filter((s, i) => s && s !== before[i]);
}

function closeStreams(inst: H5Instance, streams: unknown[]): void {
  const FS = inst.mod.FS as unknown as { streams: unknown[]; close(s: unknown): void } | null;
  if (!FS) return;
  for (const s of streams) {
    if (!FS.streams.includes(s)) continue;
    try {
      FS.close(s);
    } catch {
      /* already closed */
    }
  }
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

interface H5Node {
  attrs: Record<string, { value: unknown }>;
  keys?(): string[];
  get?(name: string): unknown;
}

/** Reads an attribute that Keras may have split into NAME0, NAME1, ... */
function readSplitStringList(node: H5Node, name: string): string[] | null {
  const attrs = node.attrs;
  return splitStringList((n) => n in attrs, (n) => attrs[n].value, name);
}

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
  const inst = await loadH5wasm();
  const h5 = inst.mod;
  const before = [...((h5.FS as unknown as { streams: unknown[] } | null)?.streams ?? [])];
  let file: InstanceType<H5Module['File']>;
  try {
    file = h5call(inst, () => `${path} could not be opened as HDF5 (truncated or corrupted?); re-save the model`, () => new h5.File(path, 'r'));
  } catch (err) {
    closeStreams(inst, newStreams(inst, before));
    throw err;
  }
  const streams = newStreams(inst, before);
  inst.openFiles++;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      h5call(inst, () => 'close', () => file.close());
    } catch {
      /* already closed, or the instance is poisoned */
    }
    closeStreams(inst, streams);
    inst.openFiles--;
  };
  try {
    return describeFile(path, file, inst, close);
  } catch (err) {
    close();
    throw err;
  }
}

function describeFile(path: string, file: InstanceType<H5Module['File']>, inst: H5Instance, close: () => void): KerasH5 {
  const fileSize = statSync(path).size;
  const call = <T>(message: () => string, fn: () => T): T => h5call(inst, message, fn);
  const rootAttrs = call(
    () => `${path}: the HDF5 root is unreadable (truncated or corrupted?); re-save the model`,
    () => file.attrs as Record<string, { value: unknown }>,
  );
  const readAttr = (name: string): unknown =>
    call(
      () => `${path}: attribute '${name}' is unreadable (corrupted file?); re-save the model`,
      () => rootAttrs[name]?.value,
    );
  const rawConfig = attrString(readAttr('model_config'));
  if (rawConfig === null) {
    if ('layer_names' in rootAttrs || 'layer_names0' in rootAttrs)
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

  const weightsRoot = call(
    () => `${path}: the model_weights group is unreadable (corrupted file?); re-save the model`,
    () => (file.keys().includes('model_weights') ? file.get('model_weights') : null) as H5Node | null,
  );
  const weightLayerNames = weightsRoot
    ? call(
        () => `${path}: the layer_names of model_weights are unreadable (corrupted file?); re-save the model`,
        () => readSplitStringList(weightsRoot, 'layer_names') ?? [],
      )
    : [];
  const entryCache = new Map<string, WeightEntry[]>();

  const weightEntries = (layerGroup: string): WeightEntry[] => {
    const cached = entryCache.get(layerGroup);
    if (cached) return cached;
    let entries: WeightEntry[] = [];
    if (weightsRoot && weightLayerNames.includes(layerGroup)) {
      const unreadableGroup = () => `${path}: weights group '${layerGroup}' is missing or unreadable; re-save the model`;
      const group = call(unreadableGroup, () => (weightsRoot.get as (n: string) => unknown)(layerGroup) as H5Node | null);
      if (!group || typeof group !== 'object' || !('attrs' in group)) throw new ModelFileError(unreadableGroup());
      // An empty weight_names attribute reads back as [''] in h5wasm.
      const names = call(unreadableGroup, () => readSplitStringList(group, 'weight_names') ?? []).filter((n) => n !== '');
      entries = names.map((name) => {
        const dsPath = `/model_weights/${layerGroup}/${name}`;
        const unreadable = () => `${path}: weight '${name}' of layer '${layerGroup}' is missing or unreadable; re-save the model`;
        const meta = call(unreadable, () => {
          const ds = file.get(dsPath) as { shape: number[] | null; metadata: { size?: number }; filters: unknown[] } | null;
          if (!ds || !('metadata' in ds) || !Array.isArray(ds.shape)) return null;
          return { shape: [...ds.shape].map(Number), itemSize: Number(ds.metadata.size ?? 4), filtered: ds.filters.length > 0 };
        });
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
    const value = call(
      () => `${path}: weight '${entry.name}' is unreadable (truncated or corrupted file?); re-save the model`,
      () => (file.get(entry.path) as { value: unknown } | null)?.value,
    );
    let data: Float32Array;
    if (value instanceof Float32Array) data = value;
    else if (value instanceof Float64Array || value instanceof Int32Array || value instanceof Uint8Array || value instanceof Int16Array || value instanceof Uint16Array || value instanceof Int8Array || value instanceof Uint32Array)
      data = Float32Array.from(value);
    else if (typeof value === 'number') data = Float32Array.of(value);
    else throw new ModelFileError(`${path}: weight '${entry.name}' is not a numeric array; the file is corrupted or not a Keras model`);
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
    close,
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
