/**
 * Memory for weight conversion, so that converting costs little more than copying the file:
 *
 * - File-backed tensors (`fileTensor`): a weight whose float32 values are still in the .h5 file.
 *   Reading `.data` loads it (once); the layout transforms in layout.ts instead read it in
 *   pieces straight into their one output buffer, so a 400 MB Dense kernel is never held twice.
 * - A per-layer arena (`allocWeights`, `holdLayerArena`): while the .caffemodel writer asks a
 *   layer for its blobs, output buffers come from memory that is reused for the next layer once
 *   the bytes are written. Fresh pages are expensive (the kernel zeroes and maps each one); the
 *   arena keeps the process at the biggest layer's size instead of the model's.
 * - A scratch buffer (`scratch`) for the pieces read from the file, reused by every transform.
 *
 * All of this is synchronous: pieces are read with readSync, and the arena is only handed out
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
  let cachedGeneration = -1;
  const t = {
    shape,
    [SOURCE]: source,
  } as SourcedTensor;
  Object.defineProperty(t, 'data', {
    enumerable: true,
    get(): Float32Array {
      // Arena memory is only valid until the arena is reused: load again after that.
      if (cached && (cachedGeneration < 0 || cachedGeneration === arena.generation)) return cached;
      const fromArena = arenaActive();
      const a = allocWeights(source.length);
      source.read(0, source.length, a, 0);
      cached = a;
      cachedGeneration = fromArena ? arena.generation : -1;
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
// The per-layer arena

interface Slab {
  buf: Float32Array;
  used: number;
}

const arena = {
  slabs: [] as Slab[],
  /** Holders whose arena memory is not written yet. */
  holders: 0,
  /** True while a sole holder's `fn` runs. */
  active: false,
  /** Incremented each time the memory is reused. */
  generation: 0,
};

/** Minimum slab size (floats): small blobs share one slab. */
const MIN_SLAB = 1 << 20;

function arenaActive(): boolean {
  return arena.active;
}

/**
 * A Float32Array of n elements for weights that the caller fills completely (its contents are
 * undefined). Inside `holdLayerArena` it is arena memory, else a new Float32Array.
 */
export function allocWeights(n: number): Float32Array {
  if (!arena.active || n === 0) return new Float32Array(n);
  for (const s of arena.slabs) {
    if (s.buf.length - s.used >= n) {
      const a = s.buf.subarray(s.used, s.used + n);
      s.used += (n + 3) & ~3; // keep 16-byte alignment
      return a;
    }
  }
  const slab: Slab = { buf: new Float32Array(Math.max(n, MIN_SLAB)), used: 0 };
  arena.slabs.push(slab);
  const a = slab.buf.subarray(0, n);
  slab.used = (n + 3) & ~3;
  return a;
}

/**
 * Runs `fn` (synchronously) with `allocWeights` handing out arena memory, and returns its
 * result with a `release` to call once the bytes of everything `fn` produced are written (or
 * dropped): after the last release the memory is reused. Two holders at once (two conversions
 * interleaving their writes) get ordinary memory for the second, so nothing is overwritten.
 */
export function holdLayerArena<T>(fn: () => T): { value: T; release: () => void } {
  const sole = arena.holders === 0;
  arena.holders++;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    arena.holders--;
    if (arena.holders === 0) {
      for (const s of arena.slabs) s.used = 0;
      arena.generation++;
    }
  };
  const wasActive = arena.active;
  arena.active = sole;
  try {
    return { value: fn(), release };
  } catch (err) {
    release();
    throw err;
  } finally {
    arena.active = wasActive;
  }
}

/** Drops the arena's memory (e.g. after a conversion, in a long-running process). */
export function freeLayerArena(): void {
  if (arena.holders === 0) {
    arena.slabs = [];
    arena.generation++;
  }
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
