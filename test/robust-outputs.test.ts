/**
 * Outputs (issue 7): files are written to temp files in the target folder and renamed at the
 * end, as a set; a failure, Ctrl-C (SIGINT) or SIGTERM leaves no partial or temp file (and old
 * files untouched); nothing is overwritten without --force; a missing, read-only or
 * not-a-folder output path gets a clear one-line error.
 *
 * Read-only folders: the tests run as root, which chmod does not stop. So (1) the CLI is run
 * as the unprivileged user `nobody` (spawn's uid/gid options) on a chmod 555 folder: the real
 * "not writable" case; (2) as root on /sys and /proc, which pass access(W_OK) but refuse to
 * create files (EACCES and ENOENT): the error then comes from the write itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fixture, makeDenseChain, runMain } from './helpers/badFiles.js';
import { writeOutputs, outputPaths } from '../src/core/session.js';
import { openAtomic, commitAll } from '../src/caffe/atomicWrite.js';
import type { CaffeNet } from '../src/caffe/net.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'keras2caffe.js');

let work: string;
let big: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'k2c-robust-out-'));
  chmodSync(work, 0o755); // readable by `nobody` (mkdtemp makes it 0700)
  big = await makeDenseChain(join(work, 'big.h5'), 2048, 8); // 134 MB of weights
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const temps = (dir: string) => readdirSync(dir).filter((n) => n.includes('.tmp-'));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Folder listings taken while the process ran. */
  snapshots: string[][];
  /** The signal was sent while a temp caffemodel existed. */
  interrupted: boolean;
}

/**
 * Spawns the CLI and watches `dir`; with `signal`, sends it as soon as the temp .caffemodel
 * appears (the conversion is then streaming weights).
 */
function run(args: string[], dir: string, signal?: NodeJS.Signals, opts: { uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const snapshots: string[][] = [];
    let interrupted = false;
    const poll = setInterval(() => {
      const names = existsSync(dir) ? readdirSync(dir) : [];
      snapshots.push(names);
      if (signal && !interrupted && names.some((n) => /\.caffemodel\.tmp-/.test(n))) {
        interrupted = true;
        child.kill(signal);
      }
    }, 1);
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, sig) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolve({ code, signal: sig, stdout, stderr, snapshots, interrupted });
    });
  });
}

function expectOneLine(stderr: string, want: RegExp): void {
  const lines = stderr.split('\n');
  expect(lines, JSON.stringify(stderr)).toHaveLength(2);
  expect(lines[1]).toBe('');
  expect(lines[0]).toMatch(want);
}

describe('atomic output', () => {
  it('writes temp files in the target folder and renames them at the end', async () => {
    const out = mkdtempSync(join(work, 'ok-'));
    const r = await run(['convert', big, '--out', out, '--yes'], out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['big.caffemodel', 'big.prototxt']);
    // While the weights streamed: the temp file was there, the final name was not.
    const during = r.snapshots.filter((s) => s.some((n) => /^\.big\.caffemodel\.tmp-\d+-[0-9a-f]{8}$/.test(n)));
    expect(during.length).toBeGreaterThan(0);
    for (const s of during) expect(s).not.toContain('big.caffemodel');
  }, 120_000);

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} mid-write: exit ${code}, one line, no partial or temp file`, async () => {
      const out = mkdtempSync(join(work, `${signal}-`));
      const r = await run(['convert', big, '--out', out, '--yes', '--save-plan', join(out, 'big.plan.json')], out, signal);
      expect(r.interrupted).toBe(true);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(code);
      expectOneLine(r.stderr, new RegExp(`^keras2caffe: interrupted \\(${signal}\\); unfinished output files were removed$`));
      expect(readdirSync(out)).toEqual([]);
    }, 120_000);
  }

  it('SIGINT at 16 seeded random moments: the folder holds the complete set or nothing, never a temp file', async () => {
    let seed = 0x51c1e7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const delays = Array.from({ length: 16 }, () => Math.floor(rnd() * 6000));
    const outcomes: string[] = [];
    const queue = delays.map((d, i) => ({ d, i }));
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const out = mkdtempSync(join(work, `random-${job.i}-`));
        const r = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [BIN, 'convert', big, '--out', out, '--yes', '--save-plan', join(out, 'big.plan.json')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d) => (stderr += d));
          const t = setTimeout(() => child.kill('SIGINT'), job!.d);
          child.on('close', (code, signal) => {
            clearTimeout(t);
            resolve({ code, signal, stderr });
          });
        });
        const files = readdirSync(out).sort();
        const complete = JSON.stringify(files) === JSON.stringify(['big.caffemodel', 'big.plan.json', 'big.prototxt']);
        // Before the command has started (Node still loading), SIGINT's default action ends the
        // process; nothing has been written then.
        const early = r.signal === 'SIGINT' && files.length === 0;
        const ok = early || (r.signal === null && ((r.code === 130 && files.length === 0) || (r.code === 0 && complete) || (r.code === 130 && complete)));
        outcomes.push(`${job.d} ms: exit ${r.code}${r.signal ? ` ${r.signal}` : ''}, [${files.join(', ')}]${ok ? '' : ` BAD ${JSON.stringify(r.stderr)}`}`);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    console.log(`SIGINT after:\n  ${outcomes.join('\n  ')}`);
    expect(outcomes.filter((o) => o.includes('BAD'))).toEqual([]);
    // Some runs were interrupted while writing, some finished (the delays span the whole run).
    expect(outcomes.some((o) => o.includes('exit 130, []'))).toBe(true);
  }, 180_000);

  it('SIGINT mid-write with --force keeps the old files exactly as they were', async () => {
    const out = mkdtempSync(join(work, 'force-int-'));
    writeFileSync(join(out, 'big.prototxt'), 'old prototxt');
    writeFileSync(join(out, 'big.caffemodel'), 'old caffemodel');
    const r = await run(['convert', big, '--out', out, '--yes', '--force'], out, 'SIGINT');
    expect(r.interrupted).toBe(true);
    expect(r.code).toBe(130);
    expect(readdirSync(out).sort()).toEqual(['big.caffemodel', 'big.prototxt']);
    expect(readFileSync(join(out, 'big.prototxt'), 'utf8')).toBe('old prototxt');
    expect(readFileSync(join(out, 'big.caffemodel'), 'utf8')).toBe('old caffemodel');
  }, 120_000);

  it('a failure while streaming the weights removes every temp file (writeOutputs)', async () => {
    const out = mkdtempSync(join(work, 'fail-'));
    let calls = 0;
    const net: CaffeNet = {
      name: 'n',
      layers: [
        { name: 'data', type: 'Input', bottom: [], top: ['data'], params: { input_param: { shape: [{ dim: [1, 2] }] } } },
        ...[1, 2, 3].map((i) => ({
          name: `ip${i}`,
          type: 'InnerProduct',
          bottom: [i === 1 ? 'data' : `ip${i - 1}`],
          top: [`ip${i}`],
          params: { inner_product_param: { num_output: 2 } },
          blobShapes: [[2, 2], [2]],
          blobs: () => {
            if (++calls === 2) throw new Error('disk on fire');
            return [
              { shape: [2, 2], data: new Float32Array(4) },
              { shape: [2], data: new Float32Array(2) },
            ];
          },
        })),
      ],
    };
    const paths = outputPaths(out, 'n');
    await expect(writeOutputs(net, paths, { planFile: { keras2caffe: 1, model: 'n.h5', target: 'caffe-1.0', decisions: {} } })).rejects.toThrow('disk on fire');
    expect(calls).toBe(2);
    expect(readdirSync(out)).toEqual([]);
  });

  it('commitAll: when a rename fails, the files renamed before it are removed again, and the temps', async () => {
    const out = mkdtempSync(join(work, 'rename-'));
    const a = await openAtomic(join(out, 'a.txt'));
    const b = await openAtomic(join(out, 'b.txt'));
    await a.write('A');
    await b.write('B');
    mkdirSync(join(out, 'b.txt', 'inside'), { recursive: true }); // a non-empty folder where b.txt goes
    await expect(commitAll([a, b])).rejects.toThrow();
    expect(readdirSync(out)).toEqual(['b.txt']); // only the folder that was in the way
  });

  it('a folder where the .caffemodel goes (--force): one-line error, no prototxt, no temp file', async () => {
    const out = mkdtempSync(join(work, 'in-the-way-'));
    mkdirSync(join(out, 'conv2d_valid.caffemodel', 'x'), { recursive: true });
    const r = await run(['convert', fixture('conv2d_valid'), '--out', out, '--yes', '--force'], out);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /^keras2caffe: cannot write the output files in .*in-the-way-\w+: (a folder is in the way|\w+); nothing was written; pick another folder with --out$/);
    expect(readdirSync(out)).toEqual(['conv2d_valid.caffemodel']);
  }, 60_000);
});

describe('no overwrite without --force', () => {
  for (const existing of [['conv2d_valid.prototxt'], ['conv2d_valid.caffemodel'], ['conv2d_valid.prototxt', 'conv2d_valid.caffemodel']]) {
    it(`refuses when ${existing.join(' and ')} exist${existing.length === 1 ? 's' : ''}; --force replaces both`, async () => {
      const out = mkdtempSync(join(work, 'exists-'));
      for (const f of existing) writeFileSync(join(out, f), 'keep me');
      const r = await runMain(['convert', fixture('conv2d_valid'), '--out', out, '--yes']);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr, new RegExp(`^keras2caffe: ${existing.join(' and ').replaceAll('.', '\\.')} already exists? in .*; pass --force to overwrite or choose --out$`));
      for (const f of existing) expect(readFileSync(join(out, f), 'utf8')).toBe('keep me');
      expect(temps(out)).toEqual([]);
      const forced = await runMain(['convert', fixture('conv2d_valid'), '--out', out, '--yes', '--force']);
      expect(forced.code, forced.stderr).toBe(0);
      expect(readFileSync(join(out, 'conv2d_valid.prototxt'), 'utf8')).toMatch(/^name: /);
      expect(readFileSync(join(out, 'conv2d_valid.caffemodel')).length).toBeGreaterThan(100);
      expect(temps(out)).toEqual([]);
    });
  }

  it('an existing --save-plan file is not overwritten either', async () => {
    const out = mkdtempSync(join(work, 'plan-'));
    writeFileSync(join(out, 'p.json'), '{}');
    const r = await runMain(['convert', fixture('conv2d_valid'), '--out', out, '--yes', '--save-plan', join(out, 'p.json')]);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /p\.json already exists .*--force/);
    expect(readdirSync(out)).toEqual(['p.json']);
    const ok = await runMain(['convert', fixture('conv2d_valid'), '--out', out, '--yes', '--save-plan', join(out, 'p.json'), '--force']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['conv2d_valid.caffemodel', 'conv2d_valid.prototxt', 'p.json']);
    expect(JSON.parse(readFileSync(join(out, 'p.json'), 'utf8')).keras2caffe).toBe(1);
  });
});

describe('output folder problems: exit 2, one clear line, nothing written', () => {
  it('a missing folder', async () => {
    const r = await runMain(['convert', fixture('conv2d_valid'), '--out', join(work, 'no', 'such', 'dir'), '--yes']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /^keras2caffe: output folder .*no\/such\/dir does not exist; create it or pick another with --out$/);
  });

  it('a file where the folder should be', async () => {
    const f = join(work, 'a-file');
    writeFileSync(f, 'x');
    const r = await runMain(['convert', fixture('conv2d_valid'), '--out', f, '--yes']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /^keras2caffe: output path .*a-file is not a folder; pick a folder with --out$/);
  });

  it.skipIf(userInfo().uid !== 0)('a read-only folder (chmod 555, run as the user nobody)', async () => {
    const ro = join(work, 'read-only');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const model = join(work, 'conv2d_valid.h5');
    writeFileSync(model, readFileSync(fixture('conv2d_valid')));
    chmodSync(model, 0o644);
    const r = await run(['convert', model, '--out', ro, '--yes'], ro, undefined, { uid: 65534, gid: 65534 });
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /^keras2caffe: output folder .*read-only is not writable; pick another with --out$/);
    expect(readdirSync(ro)).toEqual([]);
  }, 60_000);

  for (const [dir, reason] of [['/sys', 'permission denied'], ['/proc', 'the folder does not exist \\(or was removed\\)']] as const) {
    it.skipIf(!existsSync(dir))(`${dir}: writable by access(), but creating files fails`, async () => {
      const r = await runMain(['convert', fixture('conv2d_valid'), '--out', dir, '--yes']);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr, new RegExp(`^keras2caffe: cannot write the output files in ${dir}: (${reason}|[a-z ]+); nothing was written; pick another folder with --out$`));
    });
  }
});
