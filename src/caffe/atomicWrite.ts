/**
 * Atomic file output: write to `.NAME.tmp-<pid>-<rand>` in the target's folder, fsync, rename
 * over the target. A reader sees either the old file or the complete new one; on any error the
 * temp file is removed, and temp files still open when the process exits (e.g. process.exit()
 * from a SIGINT handler) are removed by an 'exit' hook.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, unlinkSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicFile {
  /** The final path (written on commit). */
  readonly path: string;
  /** The temp file being written. */
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly bytesWritten: number;
  /** Appends `data` (strings as UTF-8). Await each call before the next. */
  write(data: Uint8Array | string): Promise<void>;
  /** fsync, close, rename onto `path` (then fsync the folder, best effort). */
  commit(): Promise<void>;
  /** The slow half of commit: fsync and close the temp file (idempotent); see commitAll. */
  prepare(): Promise<void>;
  /** The other half, synchronous: rename the prepared temp file onto `path`. */
  renameNow(): void;
  /** Closes and deletes the temp file; safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

/** At most this many bytes per write(2) call (Linux caps one call at 0x7ffff000). */
const MAX_WRITE = 1 << 30;

const pending = new Set<string>();
let exitHookInstalled = false;
/** Temp files being created right now (their open() has not settled). */
let opening = 0;
/** Set by exitCleanly while a temp file is being created: exit as soon as it is. */
let exitRequested: number | null = null;

/**
 * Ends the process with `code` (for signal handlers), running the 'exit' hook that removes
 * every temp file not committed yet. If a temp file is being created at this moment, the exit
 * waits until its open() has settled, so that it is on the list and removed too (otherwise the
 * file could appear just after the hook ran).
 */
export function exitCleanly(code: number): void {
  exitRequested = code;
  if (opening === 0) process.exit(code);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of pending) {
      try {
        unlinkSync(p);
      } catch {
        // already gone
      }
    }
  });
}

/** `.NAME.tmp-<pid>-<8 hex>` next to `path`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // not supported everywhere (e.g. Windows); the rename itself has happened
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Opens a temp file next to `path` for streaming output; see AtomicFile. */
export async function openAtomic(path: string): Promise<AtomicFile> {
  const tempPath = tempPathFor(path);
  // On the list before it exists: an exit at any later moment removes it (see exitCleanly).
  pending.add(tempPath);
  installExitHook();
  let fh: FileHandle;
  opening++;
  try {
    fh = await open(tempPath, 'wx');
  } catch (err) {
    pending.delete(tempPath);
    throw err;
  } finally {
    opening--;
    if (exitRequested !== null && opening === 0) process.exit(exitRequested);
  }
  let bytesWritten = 0;
  let state: 'open' | 'committed' | 'aborted' = 'open';
  let closed = false;

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await fh.close();
  };

  const file: AtomicFile = {
    path,
    tempPath,
    get bytesWritten() {
      return bytesWritten;
    },
    async write(data) {
      if (state !== 'open') throw new Error(`atomic write of ${path}: write after ${state}`);
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < bytes.byteLength) {
        const len = Math.min(bytes.byteLength - off, MAX_WRITE);
        const { bytesWritten: n } = await fh.write(bytes, off, len, null);
        if (n <= 0) throw new Error(`atomic write of ${path}: write returned ${n}`);
        off += n;
        bytesWritten += n;
      }
    },
    async commit() {
      if (state !== 'open') throw new Error(`atomic write of ${path}: commit after ${state}`);
      try {
        await file.prepare();
        await rename(tempPath, path);
        state = 'committed';
        pending.delete(tempPath);
      } catch (err) {
        await file.abort();
        throw err;
      }
      await fsyncDir(dirname(path));
    },
    async prepare() {
      if (state !== 'open') throw new Error(`atomic write of ${path}: prepare after ${state}`);
      if (closed) return;
      await fh.sync();
      await close();
    },
    renameNow() {
      if (state !== 'open' || !closed) throw new Error(`atomic write of ${path}: rename before prepare or after ${state}`);
      renameSync(tempPath, path);
      state = 'committed';
      pending.delete(tempPath);
    },
    async abort() {
      if (state === 'committed') return;
      state = 'aborted';
      await close().catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
      pending.delete(tempPath);
    },
  };
  return file;
}

/**
 * Commits several atomic files as a set: first every temp file is synced and closed (the part
 * that can take time or fail, e.g. disk full), then all are renamed in one synchronous run, so
 * no signal handler (Node runs them on the event loop) and no other code runs between the
 * renames: an interrupt leaves either none or all of the new files. If a rename fails, the files
 * renamed before it are removed again (a partial set is never left), and every temp file is
 * removed. The folders are fsynced afterwards, best effort.
 */
export async function commitAll(files: AtomicFile[]): Promise<void> {
  try {
    for (const f of files) await f.prepare();
  } catch (err) {
    for (const f of files) await f.abort();
    throw err;
  }
  const renamed: AtomicFile[] = [];
  try {
    for (const f of files) {
      f.renameNow();
      renamed.push(f);
    }
  } catch (err) {
    for (const f of renamed) {
      try {
        unlinkSync(f.path);
      } catch {
        // already gone
      }
    }
    for (const f of files) await f.abort();
    throw err;
  }
  for (const dir of new Set(files.map((f) => dirname(f.path)))) await fsyncDir(dir);
}

/** Writes `data` to `path` atomically (temp file + fsync + rename). */
export async function atomicWriteFile(path: string, data: Uint8Array | string): Promise<void> {
  const file = await openAtomic(path);
  try {
    await file.write(data);
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
}
