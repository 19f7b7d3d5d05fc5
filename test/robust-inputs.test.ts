/**
 * Bad input (issue 7): every file that is not a convertible model gets exit code 2 and one line
 * on stderr naming the problem and the way out, within 5 s, and nothing is written. Checked
 * in-process (both HDF5 readers: the TypeScript one and h5wasm) and through the real
 * executable. Also: awkward layer names come out as valid prototxt strings that OpenCV DNN
 * loads, names that collide after nested models are inlined are made unique deterministically,
 * and NaN/Inf weights warn (or fail under --strict).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configLayers, fixture, fixturesDir, makeAwkwardNames, makeBadFiles, readKeras, renameLayer, runMain, writeKeras } from './helpers/badFiles.js';
import { loadModel } from '../src/core/model.js';
import { planConversion } from '../src/core/planner.js';
import { runCaffeInOpenCV } from '../src/verify/opencvNet.js';
import { readNpy } from '../src/verify/npy.js';
import { caffeInputs, compareOutputs, TOLERANCE } from './helpers/parity.js';
import type { Tensor } from '../src/core/tensor.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'keras2caffe.js');
const LIMIT_MS = 5000;

let work: string;
let files: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'k2c-robust-in-'));
  files = await makeBadFiles(join(work, 'in'));
  // A real .caffemodel (and .prototxt), given back as the input.
  const made = join(work, 'made');
  mkdirSync(made);
  const r = await runMain(['convert', fixture('conv2d_valid'), '--out', made, '--yes']);
  expect(r.code, r.stderr).toBe(0);
  files.caffemodel = join(made, 'conv2d_valid.caffemodel');
  files.prototxt = join(made, 'conv2d_valid.prototxt');
  // The error fixtures made by real Keras (fixtures/models/manifest.json).
  for (const [key, name] of [['kerasWeightsOnly', 'weights_only'], ['kerasKeras1', 'keras1'], ['kerasChannelsFirst', 'channels_first'], ['kerasLambda', 'lambda_only']] as const)
    if (existsSync(join(fixturesDir(), `${name}.h5`))) files[key] = fixture(name);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Bad input → what its one-line message must say (problem and way out). */
const CASES: [string, RegExp, string[]?][] = [
  ['missing', /does-not-exist\.h5: no such file; check the path/],
  ['directory', /is a directory; give the path of a Keras \.h5 model file/],
  ['empty', /empty\.h5 is empty; give a Keras \.h5 model file/],
  ['truncated', /truncated\.h5 is truncated \(\d+ bytes of \d+\); download or save the model again/],
  ['truncatedHeader', /is truncated/],
  ['png', /picture\.png is not an HDF5 file; give a Keras \.h5 model saved with model\.save\(\)/],
  ['pngAsH5', /picture\.h5 is not an HDF5 file/],
  ['text', /notes\.h5 is not an HDF5 file/],
  ['keras', /the \.keras \(zip\) format is not supported yet; save the model as \.h5/],
  ['caffemodel', /conv2d_valid\.caffemodel is a Caffe file, not a Keras model; give the Keras \.h5 file/],
  ['prototxt', /conv2d_valid\.prototxt is a Caffe file/],
  ['weightsOnly', /is a weights-only file \(saved with save_weights, no model_config\); save the whole model with model\.save/],
  ['kerasWeightsOnly', /weights-only/],
  ['keras1', /this is a Keras 1 model, which is not supported yet; load it in Keras 2 and save it again/],
  ['kerasKeras1', /Keras 1/],
  ['channelsFirst', /'conv2d_1' \(Conv2D\): channels_first layers are not supported yet; rebuild the model with data_format="channels_last"; nothing was written/],
  ['kerasChannelsFirst', /channels_first/],
  ['lambda', /'lambda_1' \(Lambda\): Lambda 'lambda_1' runs Python code .*\(to choose: --decide lambda_1:handler=identity\|python\|cut\); nothing was written/],
  ['kerasLambda', /\(Lambda\).*--decide \S+:handler=/],
  ['shapeMismatch', /'conv2d_1' \(Conv2D\): kernel weights \(2,2,3,4\) do not match the config \(kernel 3×3/],
  ['missingWeights', /'conv2d_1' \(Conv2D\): the file has no kernel weights for this layer/],
  ['missingDataset', /weight 'conv2d_1\/kernel:0' of layer 'conv2d_1' is missing or unreadable; re-save the model/],
  ['invalidJson', /model_config is not valid JSON \(corrupted file\?\); re-save the model/],
  ['configNotObject', /model_config has no class_name; not a Keras model file/],
  ['unknownLayer', /'conv2d_1' \(FancyConv\): no Caffe mapping for Keras layer class 'FancyConv' \(to choose: --decide conv2d_1:handler=/],
  ['newlineName', /'bad\\nname\\x1b\[31m' \(FancyConv\): no Caffe mapping/],
  ['cycle', /model_config: layer 'conv2d_1' depends on a cycle or a missing node of 'conv2d_2'/],
  ['danglingInbound', /model_config: layer 'conv2d_1' takes input from unknown layer 'ghost_layer'/],
  ['danglingNode', /model_config: layer 'conv2d_2' depends on a cycle or a missing node of 'conv2d_1'/],
  ['huge', /weight 'conv2d_1\/kernel:0' declares shape \[1024,1024,1024,1024\] \(1\.10e\+12 values\), more than this tool reads/],
  ['unstoredBig', /weight 'conv2d_1\/kernel:0' declares shape \[3,3,3,4000000\] \(432000000 bytes\) but the whole file has \d+ bytes/],
  ['deepModels', /model_config is nested more than 2000 levels deep/],
  ['nestedModels', /models are nested more than 64 deep, which this tool does not read; flatten the model/],
  ['deepJson', /model_config is nested more than 2000 levels deep/],
  ['nanWeights', /layer 'conv2d_1' has 3 NaN\/Inf weight values \(--strict\); fix the model or drop --strict; nothing was written/, ['--strict']],
];

function expectOneLine(stderr: string, want: RegExp): void {
  const lines = stderr.split('\n');
  expect(lines.length, JSON.stringify(stderr)).toBe(2); // one line, newline-terminated
  expect(lines[1]).toBe('');
  expect(lines[0]).toMatch(/^keras2caffe: /);
  expect(lines[0]).not.toMatch(/internal error|\bat .*\.(js|ts):\d+/);
  expect(lines[0]).toMatch(want);
}

describe('bad input: exit 2, one line on stderr, within 5 s, nothing written (in-process)', () => {
  for (const reader of ['typescript', 'h5wasm'] as const) {
    for (const [name, want, extra] of CASES) {
      it(`${name} [${reader} reader]`, async (ctx) => {
        if (!files[name]) ctx.skip();
        const out = mkdtempSync(join(work, 'out-'));
        const r = await runMain(['convert', files[name], '--out', out, '--yes', ...(extra ?? [])], reader === 'h5wasm' ? { KERAS2CAFFE_H5: 'h5wasm' } : {});
        expect(r.code, r.stderr).toBe(2);
        expectOneLine(r.stderr, want);
        expect(r.ms).toBeLessThan(LIMIT_MS);
        expect(readdirSync(out)).toEqual([]);
      });
    }
  }
});

interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function spawnCli(args: string[], timeoutMs = 30_000): Promise<Spawned> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

describe('bad input through the executable (bin/keras2caffe.js)', () => {
  it('every bad input: exit 2, no signal, exactly one stderr line, within 5 s, nothing written', async () => {
    const todo = CASES.filter(([name]) => files[name]);
    const failures: string[] = [];
    const queue = [...todo];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const [name, want, extra] = c;
        const out = mkdtempSync(join(work, 'spawn-'));
        const r = await spawnCli(['convert', files[name], '--out', out, '--yes', ...(extra ?? [])]);
        const lines = r.stderr.split('\n');
        const ok = r.code === 2 && r.signal === null && lines.length === 2 && lines[1] === '' && want.test(lines[0]) && r.ms < LIMIT_MS && readdirSync(out).length === 0;
        if (!ok) failures.push(`${name}: code ${r.code} signal ${r.signal} ${r.ms.toFixed(0)} ms stderr ${JSON.stringify(r.stderr)} files ${readdirSync(out)}`);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(failures).toEqual([]);
  }, 180_000);
});

function fixtureNpy(name: string): Tensor | null {
  const p = join(fixturesDir(), name);
  return existsSync(p) ? readNpy(new Uint8Array(readFileSync(p)), name) : null;
}

/** Converts `model` with the CLI into a fresh folder, then runs the written net in OpenCV DNN. */
async function convertAndRun(model: string, refName: string) {
  const out = mkdtempSync(join(work, 'names-'));
  const r = await runMain(['convert', model, '--out', out, '--yes']);
  expect(r.code, r.stderr).toBe(0);
  const stem = model.replace(/^.*\//, '').replace(/\.h5$/, '');
  const prototxt = readFileSync(join(out, `${stem}.prototxt`), 'utf8');
  const caffemodel = new Uint8Array(readFileSync(join(out, `${stem}.caffemodel`)));
  const loaded = await loadModel(model);
  try {
    const plan = planConversion(loaded.graph, loaded.file, {});
    const input = fixtureNpy(`${refName}.in0.npy`);
    const ref = fixtureNpy(`${refName}.out0.npy`);
    expect(input && ref, `${refName} reference arrays`).toBeTruthy();
    const outMap = await runCaffeInOpenCV(prototxt, caffemodel, caffeInputs(plan, [input!]), plan.outputs.map((o) => o.blob));
    const errs = compareOutputs(plan, outMap, [ref!]);
    return { prototxt, caffemodel, plan, errs };
  } finally {
    loaded.file.close();
  }
}

describe('layer names', () => {
  it('quotes, spaces, backslashes, unicode and newlines become valid prototxt strings that OpenCV DNN loads', async () => {
    const names = ['in "put"', 'conv one\nline two', 'back\\slash ✓ ünï'];
    const model = await makeAwkwardNames(join(work, 'in'), names);
    const { prototxt, errs } = await convertAndRun(model, 'conv2d_valid');
    // Protobuf text format escapes: \" \\ \n, and octal UTF-8 bytes (what Caffe's parser reads back).
    expect(prototxt).toContain('name: "in \\"put\\""');
    expect(prototxt).toContain('"conv one\\nline two');
    expect(prototxt).toContain('"back\\\\slash \\342\\234\\223 \\303\\274n\\303\\257');
    expect(prototxt).not.toMatch(/[^\x09\x0a\x20-\x7e]/); // pure printable ASCII
    for (const e of errs) expect(e.rel).toBeLessThanOrEqual(TOLERANCE);
  }, 60_000);

  it('names that collide after a nested model is inlined are made unique, the same way every time', async () => {
    // nested_func_in_seq: Sequential [conv2d_3, Model residual_block (conv2d_1, conv2d_2, add_1),
    // global_average_pooling2d_1, dense_1]. Rename the outer conv2d_3 to conv2d_1 (the inner
    // model's first conv) and dense_1 to conv2d_1_1 (the name the inner conv2d_1 then gets).
    const d = await readKeras(fixture('nested_func_in_seq'));
    renameLayer(d, 'conv2d_3', 'conv2d_1');
    renameLayer(d, 'dense_1', 'conv2d_1_1');
    const model = await writeKeras(join(work, 'in', 'duplicates.h5'), d);
    const a = await convertAndRun(model, 'nested_func_in_seq');
    const b = await convertAndRun(model, 'nested_func_in_seq');
    expect(b.prototxt).toBe(a.prototxt);
    expect(Buffer.from(b.caffemodel).equals(Buffer.from(a.caffemodel))).toBe(true);
    const caffeNames = [...a.prototxt.matchAll(/^ {2}name: "(.*)"$/gm)].map((m) => m[1]);
    expect(new Set(caffeNames).size).toBe(caffeNames.length);
    const kerasNames = a.plan.layers.map((l) => l.layer.name);
    expect(new Set(kerasNames).size).toBe(kerasNames.length);
    // Outer conv2d_1 keeps its name; the inner one gets the first free suffix, then the outer
    // layer that was called conv2d_1_1 the next one.
    expect(kerasNames.filter((n) => n.startsWith('conv2d_1'))).toEqual(['conv2d_1', 'conv2d_1_1', 'conv2d_1_1_1']);
    for (const e of a.errs) expect(e.rel).toBeLessThanOrEqual(TOLERANCE);
  }, 60_000);
});

describe('NaN and Inf weights', () => {
  it('warn naming the layer, and the conversion goes on', async () => {
    const out = mkdtempSync(join(work, 'nan-'));
    const r = await runMain(['convert', files.nanWeights, '--out', out, '--yes']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("keras2caffe: warning: layer 'conv2d_1' has 3 NaN/Inf weight values; the converted net computes with them\n");
    expect(readdirSync(out).sort()).toEqual(['nan-weights.caffemodel', 'nan-weights.prototxt']);
  });

  it('are an error under --strict (see the table above), through the executable too', async () => {
    const out = mkdtempSync(join(work, 'nan-strict-'));
    const r = await spawnCli(['convert', files.nanWeights, '--out', out, '--yes', '--strict']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /NaN\/Inf.*--strict/);
    expect(readdirSync(out)).toEqual([]);
  });
});
