/**
 * Memory for weight conversion, so that converting costs little more than copying the file:
 *
 * - File-backed tensors (`fileTensor`): a weight whose float32 values are still in the .h5 file.
 *   Reading `.data` loads it (once); the layout transforms in layout.ts instead read it in
 *   pieces straight into their one output buffer, so a 400 MB Dense kernel is never held twice.
 * - Per-layer arenas (`allocWeights`, `holdLayerArena`): while the .caffemodel writer asks a
 *   layer for its blobs, output buffers come from memory that is reused for a later layer once
 *   the bytes are written. Fresh pages are expensive (the kernel zeroes and maps each one); the
 *   two arenas keep the process at the two biggest layers' size instead of the model's.
 * - A scratch buffer (`scratch`) for the pieces read from the file, reused by every transform.
 *
 * All of this is synchronous: pieces are read with readSync, and arena memory is only handed out
 * inside `holdLayerArena(fn)`, which runs `fn` synchronously; no other code can run meanwhile.
 */
import type { Tensor } from './tensor.js';

/** Float32 values held in a file (or anywhere): `read` copies elements [start, start+count) into dst at dstOffset. */
export interface ElementSource {
  readonly length: number;
  read(start: number, count: number, dst: Float32Array, dstOffset: number): void;
}

const SOURCE = Symbol('keras2caffe.elementSource');

interface SourcedTensor extends Tensor {
  [SOURCE]?: ElementSource;
}

/** The source of a file-backed tensor, or undefined for an ordinary one. */
export function sourceOf(t: Tensor): ElementSource | undefined {
  return (t as SourcedTensor)[SOURCE];
}

/**
 * A Tensor whose `data` is read from `source` on first access (into arena memory inside
 * `holdLayerArena`, else into a fresh Float32Array), then kept. Layout transforms that know
 * `sourceOf` read it in pieces instead and never load it whole.
 */
export function fileTensor(shape: number[], source: ElementSource): Tensor {
  let cached: Float32Array | null = null;
  let stamp: { arena: Arena; generation: number } | null = null;
  const t = {
    shape,
    [SOURCE]: source,
  } as SourcedTensor;
  Object.defineProperty(t, 'data', {
    enumerable: true,
    get(): Float32Array {
      // Arena memory is only valid until the arena is reused: load again after that.
      if (cached && (!stamp || stamp.arena.generation === stamp.generation)) return cached;
      stamp = arenaStamp();
      const a = allocWeights(source.length);
      source.read(0, source.length, a, 0);
      noteNonFinite(a, countNonFinite(a));
      cached = a;
      return a;
    },
  });
  return t;
}

/**
 * The elements of `source` viewed with its `blocks` equal blocks in reverse order: block b of
 * the view is block (blocks − 1 − b) of the source. This is the spatial flip k[::-1, ::-1] of a
 * kernel (kh, kw, ...) with blocks = kh·kw, or k[::-1] of a Conv1D kernel.
 */
export function reversedBlocks(source: ElementSource, blocks: number): ElementSource {
  const size = source.length / blocks;
  return {
    length: source.length,
    read(start, count, dst, dstOffset) {
      let e = start;
      const end = start + count;
      while (e < end) {
        const b = Math.floor(e / size);
        const within = e - b * size;
        const n = Math.min(size - within, end - e);
        source.read((blocks - 1 - b) * size + within, n, dst, dstOffset + (e - start));
        e += n;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The per-layer arenas

interface Slab {
  buf: Float32Array;
  used: number;
}

interface Arena {
  slabs: Slab[];
  /** True from holdLayerArena until its release. */
  held: boolean;
  /** Incremented each time the memory is reused. */
  generation: number;
}

/**
 * Two arenas: the writer computes layer i + 1 into one while layer i's bytes, in the other,
 * are still being written. A third concurrent holder gets ordinary memory.
 */
const arenas: Arena[] = [
  { slabs: [], held: false, generation: 0 },
  { slabs: [], held: false, generation: 0 },
];

/** The arena handing out memory right now (inside a holdLayerArena `fn`), or null. */
let current: Arena | null = null;

/** Minimum slab size (floats): small blobs share one slab. */
const MIN_SLAB = 1 << 20;

/** Where `allocWeights` memory comes from now, to check later that it was not reused meanwhile. */
function arenaStamp(): { arena: Arena; generation: number } | null {
  return current ? { arena: current, generation: current.generation } : null;
}

/**
 * A Float32Array of n elements for weights that the caller fills completely (its contents are
 * undefined). Inside `holdLayerArena` it is arena memory, else a new Float32Array.
 */
export function allocWeights(n: number): Float32Array {
  const arena = current;
  if (!arena || n === 0) return new Float32Array(n);
  for (const s of arena.slabs) {
    if (s.buf.length - s.used >= n) {
      const a = s.buf.subarray(s.used, s.used + n);
      s.used += (n + 3) & ~3; // keep 16-byte alignment
      return a;
    }
  }
  const slab: Slab = { buf: new Float32Array(Math.max(n, MIN_SLAB)), used: 0 };
  arena.slabs.push(slab);
  slab.used = (n + 3) & ~3;
  return slab.buf.subarray(0, n);
}

/**
 * Runs `fn` (synchronously) with `allocWeights` handing out memory of a free arena, and returns
 * its result with a `release` to call once the bytes of everything `fn` produced are written
 * (or dropped): then that memory is reused by a later holder. With both arenas held (more than
 * two layers in flight, or two conversions at once), `fn` gets ordinary memory.
 */
export function holdLayerArena<T>(fn: () => T): { value: T; release: () => void } {
  const arena = arenas.find((a) => !a.held) ?? null;
  if (arena) arena.held = true;
  let released = false;
  const release = (): void => {
    if (released || !arena) return;
    released = true;
    for (const s of arena.slabs) s.used = 0;
    arena.generation++;
    arena.held = false;
  };
  const outer = current;
  current = arena;
  try {
    return { value: fn(), release };
  } catch (err) {
    release();
    throw err;
  } finally {
    current = outer;
  }
}

/** Drops the arenas' memory (after a conversion, e.g. in a long-running process). */
export function freeLayerArena(): void {
  for (const a of arenas)
    if (!a.held) {
      a.slabs = [];
      a.generation++;
    }
}

// ---------------------------------------------------------------------------------------------
// NaN / Inf counts, taken while the values pass through the cache anyway

/**
 * How many of d[start, end) are NaN or ±Inf. One branch-free pass (x·0 is 0 for every finite
 * x and NaN otherwise, and NaN stays NaN in a sum); the exact count only when there are some.
 */
export function countNonFinite(d: Float32Array, start = 0, end = d.length): number {
  let a0 = 0;
  let a1 = 0;
  let i = start;
  for (; i + 1 < end; i += 2) {
    a0 += d[i] * 0;
    a1 += d[i + 1] * 0;
  }
  if (i < end) a0 += d[i] * 0;
  if (a0 + a1 === 0) return 0;
  let count = 0;
  for (let k = start; k < end; k++) if (!Number.isFinite(d[k])) count++;
  return count;
}

const nonFiniteCounts = new WeakMap<Float32Array, number>();

/** Records that `a` (just filled from the file, and not changed after) holds `count` NaN/Inf values. */
export function noteNonFinite(a: Float32Array, count: number): void {
  nonFiniteCounts.set(a, count);
}

/** The NaN/Inf count recorded for `a` by the reader or a layout transform, if any. */
export function knownNonFinite(a: Float32Array): number | undefined {
  return nonFiniteCounts.get(a);
}

// ---------------------------------------------------------------------------------------------
// Scratch

let scratchBuf = new Float32Array(0);

/** Default scratch size: 4 Mi floats (16 MB) — a few pieces of the biggest kernels. */
export const SCRATCH_FLOATS = 4 << 20;

/** A reusable Float32Array of at least n elements; valid until the next call. */
export function scratch(n: number): Float32Array {
  if (scratchBuf.length < n) scratchBuf = new Float32Array(Math.max(n, 1 << 16));
  return scratchBuf;
}

/** Releases the scratch buffer. */
export function freeScratch(): void {
  scratchBuf = new Float32Array(0);
}
