/**
 * Runs a Caffe deploy net in real BVLC Caffe (the "oracle": a Debian chroot with python3-caffe,
 * set up by `../shared/oracle/setup.sh`, see /work/shared/oracle/README.md). Used by tests and
 * benchmarks only; the CLI never needs it.
 *
 * How it works: `../shared/oracle/run CMD` chroots into $ORACLE_ROOT with only its current folder
 * bind-mounted, so everything the command touches must live under the repo. We therefore stage a
 * private folder `<repo>/.cache/oracle-tmp/<unique>/` (.cache is gitignored) holding copies of the
 * prototxt, the caffemodel, the inputs (.npy, float32) and caffe_forward.py (which lives outside the
 * repo, in ../shared/oracle/), run `run python3 <tmp>/caffe_forward.py ...` with cwd = repo root and
 * repo-relative paths, read the .npz it writes and delete the folder.
 *
 * Blob naming: Caffe names results by blob (top) name. With an in-place layer (top == bottom, e.g.
 * ReLU after Convolution) the blob holds only the last writer's output: the pre-activation values
 * are not observable here (OpenCV, by contrast, can return them by layer name; see opencvNet.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../core/tensor.js';
import { readNpz, writeNpy } from './npy.js';

export type OracleStatus = { ok: true } | { ok: false; reason: string };

export interface OracleRunOptions {
  /** Also return every intermediate blob (Caffe's `net.blobs`), keyed by blob name. */
  allBlobs?: boolean;
  /** Kill the run after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Keep the staging folder for debugging (its path is in the thrown error / printed on stderr). */
  keepTemp?: boolean;
}

let cachedRepo: string | undefined;

function isRepo(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'keras2caffe';
  } catch {
    return false;
  }
}

/** The repository root: the nearest folder above this module whose package.json is keras2caffe's. */
export function repoRoot(): string {
  if (cachedRepo) return cachedRepo;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (isRepo(dir)) return (cachedRepo = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('caffeOracle: cannot find the keras2caffe repository root above this module');
    dir = up;
  }
}

/** Where the oracle's root filesystem lives: $ORACLE_ROOT or ~/.cache/caffe-oracle. */
export function oracleRoot(): string {
  return process.env.ORACLE_ROOT || join(homedir(), '.cache', 'caffe-oracle');
}

/** `<repo>/../shared/oracle`: the run script and caffe_forward.py. */
export function oracleScriptsDir(): string {
  return resolve(repoRoot(), '..', 'shared', 'oracle');
}

/** Whether real Caffe can be run here; when not, a one-line reason. */
export function oracleAvailable(): OracleStatus {
  if (process.platform !== 'linux') return { ok: false, reason: `the Caffe oracle needs Linux (this is ${process.platform})` };
  const dir = oracleScriptsDir();
  const run = join(dir, 'run');
  try {
    accessSync(run, constants.X_OK);
  } catch {
    return { ok: false, reason: `oracle run script not found or not executable: ${run}` };
  }
  if (!existsSync(join(dir, 'caffe_forward.py'))) return { ok: false, reason: `${join(dir, 'caffe_forward.py')} is missing` };
  const ready = join(oracleRoot(), '.ready');
  if (!existsSync(ready)) return { ok: false, reason: `Caffe oracle not set up (no ${ready}); run ${join(dir, 'setup.sh')} as root` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ok: false, reason: 'the Caffe oracle needs root (it chroots and bind-mounts)' };
  }
  return { ok: true };
}

function makeStagingDir(repo: string): string {
  const base = join(repo, '.cache', 'oracle-tmp');
  mkdirSync(base, { recursive: true });
  const dir = join(base, `${process.pid}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  return dir;
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return (all.length > lines ? ['…', ...all.slice(-lines)] : all).join('\n');
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runProcess(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/**
 * Forwards `inputs` (in the order of the net's inputs; NCHW for 4-D blobs) through the net in real
 * Caffe. Returns the net outputs (blobs no layer consumes) by blob name; with `allBlobs`, every blob
 * of the net as well (final contents, so an in-place blob holds its last writer's output), including
 * the `<blob>_<layer>_<i>_split_<j>` copies of the Split layers Caffe inserts for multi-use blobs.
 */
export async function runCaffeInOracle(
  prototxtPath: string,
  caffemodelPath: string,
  inputs: Tensor[],
  options: OracleRunOptions = {},
): Promise<Map<string, Tensor>> {
  const status = oracleAvailable();
  if (!status.ok) throw new Error(`Caffe oracle unavailable: ${status.reason}`);
  const repo = repoRoot();
  const dir = makeStagingDir(repo);
  const rel = (f: string) => relative(repo, join(dir, f)).split(sep).join('/');
  const keep = options.keepTemp === true;
  try {
    copyFileSync(join(oracleScriptsDir(), 'caffe_forward.py'), join(dir, 'caffe_forward.py'));
    copyFileSync(prototxtPath, join(dir, 'net.prototxt'));
    copyFileSync(caffemodelPath, join(dir, 'net.caffemodel'));
    const inputArgs = inputs.map((t, i) => {
      writeFileSync(join(dir, `in${i}.npy`), writeNpy(t));
      return rel(`in${i}.npy`);
    });
    const outArg = (options.allBlobs ? 'ALL:' : '') + rel('out.npz');
    const args = ['python3', rel('caffe_forward.py'), rel('net.prototxt'), rel('net.caffemodel'), outArg, ...inputArgs];
    const res = await runProcess(join(oracleScriptsDir(), 'run'), args, repo, options.timeoutMs ?? 600_000);
    if (res.code !== 0 || !existsSync(join(dir, 'out.npz'))) {
      const how = res.timedOut ? 'timed out' : res.signal ? `was killed by ${res.signal}` : `failed (exit code ${res.code})`;
      const where = keep ? ` [files kept in ${dir}]` : '';
      const err = tail(res.stderr || res.stdout || '(no output)', 40);
      throw new Error(`Caffe oracle ${how} on ${prototxtPath}${where}:\n${err}`);
    }
    const npz = readNpz(readFileSync(join(dir, 'out.npz')), 'oracle output');
    const out = new Map<string, Tensor>();
    for (const [k, v] of npz) if (!k.startsWith('__all__/')) out.set(k, v);
    if (options.allBlobs) {
      for (const [k, v] of npz) if (k.startsWith('__all__/') && !out.has(k.slice(8))) out.set(k.slice(8), v);
    }
    return out;
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`caffeOracle: kept ${dir}\n`);
  }
}
