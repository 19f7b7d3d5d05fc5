/**
 * Fuzzing (issue 7): a seeded PRNG damages the fixture .h5 files (bit flips, overwritten byte
 * runs, truncations, swapped chunks, zeroed blocks; one to three per file) and `convert` runs on
 * each. Every run must end with exit 0 or 2 within the time limit: no exit 1 (internal error),
 * no exception out of main(), no signal, no hang; exit 2 with exactly one stderr line; and the
 * output folder holds either nothing or the finished pair, never a temp file.
 *
 * The runs go in-process through the CLI's own main() (a third of them with the h5wasm reader
 * forced, KERAS2CAFFE_H5=h5wasm, so both HDF5 readers see damaged files), plus a few spawned
 * `node bin/keras2caffe.js convert` runs for the real exit codes and stderr.
 *
 * A synchronous hang inside wasm cannot be interrupted in-process: a watchdog thread kills this
 * test process (vitest then reports the file as failed) after HANG_MS, printing the mutation.
 *
 * FUZZ_COUNT (default 240) and FUZZ_SEED set the number of mutations and the seed;
 * FUZZ_SPAWNED (default 8) the number of spawned runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cloneDump, fixtureFiles, fixturesDir, readKeras, runMain, writeKeras } from './helpers/badFiles.js';
import { h5wasmStats } from '../src/h5/kerasH5.js';

const COUNT = Number(process.env.FUZZ_COUNT ?? 240);
const SEED = Number(process.env.FUZZ_SEED ?? 0x6b326337);
const SPAWNED = Number(process.env.FUZZ_SPAWNED ?? 8);
const CONFIG_COUNT = Number(process.env.FUZZ_CONFIG_COUNT ?? 120);
/** FUZZ_CONFIG_ONLY=7,99: run only these config mutations. */
const CONFIG_ONLY = process.env.FUZZ_CONFIG_ONLY ? process.env.FUZZ_CONFIG_ONLY.split(',').map(Number) : null;
/** FUZZ_ONLY=12,345: run only these mutation indexes (to reproduce one). */
const ONLY = process.env.FUZZ_ONLY ? process.env.FUZZ_ONLY.split(',').map(Number) : null;
/** FUZZ_KEEP=1: keep the mutated files (the temp folder is printed). */
const KEEP = !!process.env.FUZZ_KEEP;
const LIMIT_MS = 5000;
const HANG_MS = Number(process.env.FUZZ_HANG_MS ?? 60_000);
const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'keras2caffe.js');

/** mulberry32: a small, fast, seedable PRNG (32-bit state). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Mutant {
  index: number;
  source: string;
  bytes: Buffer;
  /** What was done, e.g. "bitflip@1234.5; zero@800+64". */
  desc: string;
  reader: 'typescript' | 'h5wasm';
}

function mutate(index: number, source: string, original: Buffer, rnd: () => number): Mutant {
  let b = Buffer.from(original);
  const int = (n: number) => Math.floor(rnd() * n);
  const steps: string[] = [];
  const n = 1 + int(3);
  for (let s = 0; s < n && b.length > 0; s++) {
    const kind = int(5);
    if (kind === 0) {
      const flips = 1 + int(8);
      const at: string[] = [];
      for (let f = 0; f < flips; f++) {
        const pos = int(b.length);
        const bit = int(8);
        b[pos] ^= 1 << bit;
        at.push(`${pos}.${bit}`);
      }
      steps.push(`bitflip@${at.join(',')}`);
    } else if (kind === 1) {
      const len = 1 + int(64);
      const pos = int(b.length);
      for (let i = pos; i < Math.min(b.length, pos + len); i++) b[i] = int(256);
      steps.push(`overwrite@${pos}+${len}`);
    } else if (kind === 2) {
      const len = int(b.length);
      b = b.subarray(0, len);
      steps.push(`truncate@${len}`);
    } else if (kind === 3) {
      const len = 16 + int(496);
      if (b.length < 2 * len) continue;
      const p = int(b.length - len);
      const q = int(b.length - len);
      const tmp = Buffer.from(b.subarray(p, p + len));
      b.copy(b, p, q, q + len);
      tmp.copy(b, q);
      steps.push(`swap@${p}<->${q}+${len}`);
    } else {
      const len = 16 + int(4080);
      const pos = int(b.length);
      b.fill(0, pos, Math.min(b.length, pos + len));
      steps.push(`zero@${pos}+${len}`);
    }
  }
  return { index, source: basename(source), bytes: b, desc: steps.join('; '), reader: index % 3 === 2 ? 'h5wasm' : 'typescript' };
}

function mutants(): Mutant[] {
  const sources = fixtureFiles();
  if (sources.length === 0) throw new Error('no fixtures in fixtures/models: regenerate them (fixtures/make_fixtures.py) or set KERAS2CAFFE_FIXTURES');
  const originals = sources.map((p) => readFileSync(p));
  const rnd = prng(SEED);
  const list = Array.from({ length: COUNT }, (_, i) => mutate(i, sources[i % sources.length], originals[i % sources.length], rnd));
  return ONLY ? list.filter((m) => ONLY.includes(m.index)) : list;
}

/** Kills this process if one run blocks the thread for HANG_MS (see the header). */
function startWatchdog(state: Float64Array, currentFile: string): Worker {
  const code = `
    const { workerData } = require('node:worker_threads');
    const { readFileSync, writeSync } = require('node:fs');
    const state = new Float64Array(workerData.sab);
    setInterval(() => {
      const started = state[0];
      if (started > 0 && Date.now() - started > ${HANG_MS}) {
        let what = '?';
        try { what = readFileSync(workerData.currentFile, 'utf8'); } catch {}
        writeSync(2, '\\nrobust-fuzz watchdog: a convert run has blocked for over ${HANG_MS / 1000} s: ' + what + '; killing the test process\\n');
        process.kill(process.pid, 'SIGKILL');
      }
    }, 500); // keeps the watchdog thread alive until terminate()
  `;
  const w = new Worker(code, { eval: true, workerData: { sab: state.buffer, currentFile } });
  w.unref();
  return w;
}

interface Outcome {
  m: Mutant;
  code: number | 'threw';
  ms: number;
  stderr: string;
  files: string[];
}

let work: string;
let all: Mutant[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'k2c-fuzz-'));
  // Written at once (not buffered like console.log): if a run crashes the test process, the
  // mutation it was on is in current.txt there.
  writeSync(2, `robust-fuzz: ${COUNT} mutations, seed 0x${SEED.toString(16)}, work folder ${work} (current run in current.txt)\n`);
  mkdirSync(join(work, 'in'));
  mkdirSync(join(work, 'out'));
  all = mutants();
});

afterAll(() => {
  if (KEEP) console.log(`fuzz: mutated files kept in ${work}`);
  else if (work) rmSync(work, { recursive: true, force: true });
});

function problemsOf(o: Outcome, stem: string): string[] {
  const p: string[] = [];
  if (o.code !== 0 && o.code !== 2) p.push(`exit ${o.code}`);
  if (o.ms > LIMIT_MS) p.push(`took ${o.ms.toFixed(0)} ms`);
  const lines = o.stderr.split('\n').slice(0, -1);
  if (!o.stderr.endsWith('\n') && o.stderr !== '') p.push('stderr not newline-terminated');
  if (o.code === 2 && lines.length !== 1) p.push(`${lines.length} stderr lines`);
  if (o.code === 0 && lines.some((l) => !l.startsWith('keras2caffe: warning: '))) p.push('stderr other than warnings');
  if (/internal error|\n\s+at /.test(o.stderr)) p.push('internal error or stack trace');
  const want = o.code === 0 ? [`${stem}.caffemodel`, `${stem}.prototxt`] : [];
  if (JSON.stringify(o.files) !== JSON.stringify(want)) p.push(`output folder holds [${o.files.join(', ')}]`);
  return p;
}

describe(`fuzz: ${COUNT} seeded mutations of the fixtures (seed 0x${SEED.toString(16)})`, () => {
  it('every run ends with exit 0 or 2 within 5 s, one stderr line on errors, no temp files', async () => {
    const state = new Float64Array(new SharedArrayBuffer(8));
    const currentFile = join(work, 'current.txt');
    const dog = startWatchdog(state, currentFile);
    const outcomes: Outcome[] = [];
    try {
      for (const m of all) {
        const stem = `m${m.index}`;
        const input = join(work, 'in', `${stem}.h5`);
        const out = join(work, 'out', stem);
        writeFileSync(input, m.bytes);
        mkdirSync(out);
        writeFileSync(currentFile, `#${m.index} ${m.source} [${m.reader}] ${m.desc} (${input})`);
        state[0] = Date.now();
        let r: { code: number | 'threw'; stderr: string; ms: number };
        const t0 = performance.now();
        try {
          r = await runMain(['convert', input, '--out', out, '--yes', '--force'], m.reader === 'h5wasm' ? { KERAS2CAFFE_H5: 'h5wasm' } : { KERAS2CAFFE_H5: undefined });
        } catch (err) {
          r = { code: 'threw', stderr: `main() threw: ${(err as Error)?.stack ?? err}\n`, ms: performance.now() - t0 };
        }
        state[0] = 0;
        outcomes.push({ m, code: r.code, ms: r.ms, stderr: r.stderr, files: readdirSync(out).sort() });
      }
    } finally {
      await dog.terminate();
    }

    const histogram: Record<string, number> = {};
    for (const o of outcomes) histogram[String(o.code)] = (histogram[String(o.code)] ?? 0) + 1;
    const slowest = [...outcomes].sort((a, b) => b.ms - a.ms)[0];
    const byReader = (r: string) => outcomes.filter((o) => o.m.reader === r).length;
    const messages = new Map<string, number>();
    for (const o of outcomes)
      if (o.code === 2) {
        const gist = o.stderr.replace(/\/\S+\/m\d+\.h5/g, 'FILE').replace(/\b\d+\b/g, 'N').trim();
        messages.set(gist, (messages.get(gist) ?? 0) + 1);
      }
    const stats = await h5wasmStats();
    console.log(
      [
        `fuzz: ${outcomes.length} runs (${byReader('typescript')} default reader, ${byReader('h5wasm')} h5wasm forced), exit codes ${JSON.stringify(histogram)}`,
        `slowest: ${slowest.ms.toFixed(0)} ms, #${slowest.m.index} ${slowest.m.source} [${slowest.m.reader}] ${slowest.m.desc} -> exit ${slowest.code}`,
        `h5wasm instances started: ${stats.instances}`,
        'most frequent messages:',
        ...[...messages].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([msg, n]) => `  ${n}× ${msg}`),
      ].join('\n'),
    );

    const bad = outcomes.map((o) => ({ o, p: problemsOf(o, `m${o.m.index}`) })).filter((x) => x.p.length);
    expect(
      bad.map(({ o, p }) => `#${o.m.index} ${o.m.source} [${o.m.reader}] ${o.m.desc}: ${p.join(', ')}; stderr ${JSON.stringify(o.stderr.slice(0, 400))}`),
    ).toEqual([]);
    expect(outcomes.length).toBe(ONLY ? ONLY.length : COUNT);
  }, 600_000);

  it(`${CONFIG_COUNT} seeded mutations of model_config values (wrong types, huge, negative, missing): exit 0 or 2`, async () => {
    const names = ['conv2d_valid', 'dense_mlp', 'batchnorm', 'pool_valid', 'mobilenet_tiny', 'multi_io', 'merges', 'nested_func_in_seq', 'activations', 'zeropad_fold', 'dropout_reshape', 'lambda_only'];
    const dumps = [];
    for (const n of names) if (existsSync(join(fixturesDir(), `${n}.h5`))) dumps.push({ n, d: await readKeras(join(fixturesDir(), `${n}.h5`)) });
    expect(dumps.length).toBeGreaterThan(3);
    const rnd = prng(SEED ^ 0x5eed);
    const int = (k: number) => Math.floor(rnd() * k);
    const HOSTILE: unknown[] = [null, -1, 0, 1, 3.5, 1e12, -1e12, 2 ** 31, 'x', '', 'same', 'relu', [], [0], [-1, -1], [1e9, 1e9], [1, 2, 3], {}, { a: 1 }, true, false, [null, null], ['a', 'b']];
    const CLASSES = ['Conv2D', 'Dense', 'MaxPooling2D', 'Flatten', 'Add', 'Concatenate', 'BatchNormalization', 'Reshape', 'Lambda', 'Model', 'Sequential', 'InputLayer', 'Activation', 'DepthwiseConv2D', 'ZeroPadding2D', 'Cropping2D', 'UpSampling2D'];
    const problems: string[] = [];
    const histogram: Record<string, number> = {};
    let slowest = { ms: 0, what: '' };
    const state = new Float64Array(new SharedArrayBuffer(8));
    const currentFile = join(work, 'current.txt');
    const dog = startWatchdog(state, currentFile);
    try {
    for (let i = 0; i < CONFIG_COUNT; i++) {
      const { n, d } = dumps[i % dumps.length];
      const m = cloneDump(d);
      // Every path into the config (objects and arrays), then change one to three of them.
      const paths: (string | number)[][] = [];
      const walk = (v: any, p: (string | number)[]) => {
        paths.push(p);
        if (Array.isArray(v)) v.forEach((x, k) => walk(x, [...p, k]));
        else if (v && typeof v === 'object') for (const k of Object.keys(v)) walk(v[k], [...p, k]);
      };
      walk(m.config, []);
      const steps: string[] = [];
      for (let s = 0, count = 1 + int(3); s < count; s++) {
        const path = paths[1 + int(paths.length - 1)];
        let parent: any = m.config;
        for (const k of path.slice(0, -1)) parent = parent?.[k];
        if (!parent || typeof parent !== 'object') continue;
        const key = path[path.length - 1];
        const kind = int(10);
        if (kind === 0 && !Array.isArray(parent)) {
          delete parent[key];
          steps.push(`delete ${path.join('.')}`);
        } else if (kind === 1 && key === 'class_name') {
          parent[key] = CLASSES[int(CLASSES.length)];
          steps.push(`${path.join('.')}=${parent[key]}`);
        } else {
          parent[key] = structuredClone(HOSTILE[int(HOSTILE.length)]);
          steps.push(`${path.join('.')}=${JSON.stringify(parent[key])}`);
        }
      }
      if (CONFIG_ONLY && !CONFIG_ONLY.includes(i)) continue;
      const file = await writeKeras(join(work, 'in', `c${i}.h5`), m);
      const out = join(work, 'out', `c${i}`);
      mkdirSync(out);
      writeFileSync(currentFile, `config #${i} ${n}: ${steps.join('; ')} (${file})`);
      state[0] = Date.now();
      let r: { code: number | 'threw'; stderr: string; ms: number };
      try {
        r = await runMain(['convert', file, '--out', out, '--yes', '--force'], { KERAS2CAFFE_H5: undefined });
      } catch (err) {
        r = { code: 'threw', stderr: `main() threw: ${(err as Error)?.stack ?? err}\n`, ms: 0 };
      }
      state[0] = 0;
      histogram[String(r.code)] = (histogram[String(r.code)] ?? 0) + 1;
      if (r.ms > slowest.ms) slowest = { ms: r.ms, what: `#${i} ${n}: ${steps.join('; ')}` };
      const o: Outcome = { m: { index: i, source: `${n}.h5`, bytes: Buffer.alloc(0), desc: steps.join('; '), reader: 'typescript' }, code: r.code, ms: r.ms, stderr: r.stderr, files: readdirSync(out).sort() };
      const p = problemsOf(o, `c${i}`);
      if (p.length) problems.push(`config #${i} ${n}: ${steps.join('; ')}: ${p.join(', ')}; stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
    }
    } finally {
      await dog.terminate();
    }
    const runs = Object.values(histogram).reduce((a, b) => a + b, 0);
    console.log(`config fuzz: ${runs} runs, exit codes ${JSON.stringify(histogram)}, slowest ${slowest.ms.toFixed(0)} ms (${slowest.what})`);
    expect(problems).toEqual([]);
  }, 600_000);

  it(`${SPAWNED} of the mutations through the executable: exit 0 or 2, no signal, one stderr line on errors`, async () => {
    const pick = Array.from({ length: Math.min(SPAWNED, all.length) }, (_, k) => all[Math.floor((k * all.length) / Math.max(1, SPAWNED))]);
    const spawnOne = (m: Mutant) =>
          new Promise<{ m: Mutant; code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number; files: string[] }>((resolve) => {
            const stem = `s${m.index}`;
            const input = join(work, 'in', `${stem}.h5`);
            const out = join(work, 'out', stem);
            writeFileSync(input, m.bytes);
            mkdirSync(out, { recursive: true });
            const t0 = performance.now();
            const env = { ...process.env };
            if (m.reader === 'h5wasm') env.KERAS2CAFFE_H5 = 'h5wasm';
            else delete env.KERAS2CAFFE_H5;
            const child = spawn(process.execPath, [BIN, 'convert', input, '--out', out, '--yes', '--force'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
            let stderr = '';
            child.stderr.on('data', (d) => (stderr += d));
            const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
            child.on('close', (code, signal) => {
              clearTimeout(timer);
              resolve({ m, code, signal, stderr, ms: performance.now() - t0, files: readdirSync(out).sort() });
            });
          });
    // Four at a time: timing is part of the check, and machines running tests are often busy.
    const results: Awaited<ReturnType<typeof spawnOne>>[] = [];
    const queue = [...pick];
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        for (let m = queue.shift(); m; m = queue.shift()) results.push(await spawnOne(m));
      }),
    );
    results.sort((a, b) => a.m.index - b.m.index);
    const problems: string[] = [];
    for (const r of results) {
      const o: Outcome = { m: r.m, code: r.code ?? -1, ms: r.ms, stderr: r.stderr, files: r.files };
      const p = problemsOf(o, `s${r.m.index}`);
      if (r.signal) p.push(`killed by ${r.signal}`);
      if (p.length) problems.push(`#${r.m.index} ${r.m.source} ${r.m.desc}: ${p.join(', ')}; stderr ${JSON.stringify(r.stderr.slice(0, 400))}`);
    }
    console.log(`spawned: ${results.map((r) => `#${r.m.index}→${r.code} (${r.ms.toFixed(0)} ms)`).join(', ')}`);
    expect(problems).toEqual([]);
    for (const r of results) expect(statSync(join(work, 'in', `s${r.m.index}.h5`)).isFile()).toBe(true);
  }, 120_000);
});
