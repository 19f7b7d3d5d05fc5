/**
 * `verify` must catch real conversion bugs and point at the layer that introduced them: a conv
 * weight changed in the caffemodel, or a Dense after Flatten whose rows were not permuted.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaffeLayer, CaffeNet } from '../src/caffe/net.js';
import { encodeCaffemodel } from '../src/caffe/caffemodel.js';
import { writePrototxt } from '../src/caffe/prototxt.js';
import { denseToInnerProduct } from '../src/core/layout.js';
import { loadModel, type LoadedModel } from '../src/core/model.js';
import { buildNet, planConversion, type Plan } from '../src/core/planner.js';
import { tensor, type Tensor } from '../src/core/tensor.js';
import { buildKerasGraph } from '../src/keras/modelGraph.js';
import { verifyConversion, type VerificationReport } from '../src/verify/verify.js';
import { fakeKerasH5, functionalModel, input, layer, seededValues, type FakeWeights } from './helpers/fakeKeras.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'keras2caffe.js');
const rnd = (shape: number[], seed: number, scale = 1): Tensor => tensor(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed, scale));

function ensureBuilt(): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (existsSync(join(ROOT, 'dist', 'cli', 'verifyCommand.js')) && existsSync(join(ROOT, 'dist', 'verify', 'verify.js'))) return;
    spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  }
  throw new Error('dist/ could not be built (tsc -p tsconfig.json)');
}

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** x[6,6,3] → conv c1 (same, relu) → conv c2 (valid) → Flatten f (4×4×4) → Dense d1 (tanh) → Dense d2 (softmax). */
function testModel(): { model: LoadedModel; plan: Plan; net: CaffeNet; weights: FakeWeights } {
  const config = functionalModel([
    input('x', [6, 6, 3]),
    layer('c1', 'Conv2D', { filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', activation: 'relu', use_bias: true, data_format: 'channels_last', dilation_rate: [1, 1] }, ['x']),
    layer('c2', 'Conv2D', { filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', activation: 'linear', use_bias: true, data_format: 'channels_last', dilation_rate: [1, 1] }, ['c1']),
    layer('f', 'Flatten', { data_format: 'channels_last' }, ['c2']),
    layer('d1', 'Dense', { units: 5, activation: 'tanh', use_bias: true }, ['f']),
    layer('d2', 'Dense', { units: 3, activation: 'softmax', use_bias: true }, ['d1']),
  ]);
  const weights: FakeWeights = {
    c1: { kernel: rnd([3, 3, 3, 4], 1, 0.5), bias: rnd([4], 2, 0.1) },
    c2: { kernel: rnd([3, 3, 4, 4], 3, 0.5), bias: rnd([4], 4, 0.1) },
    d1: { kernel: rnd([64, 5], 5, 0.3), bias: rnd([5], 6, 0.1) },
    d2: { kernel: rnd([5, 3], 7, 0.5), bias: rnd([3], 8, 0.1) },
  };
  const file = fakeKerasH5(weights, { modelConfig: config });
  const graph = buildKerasGraph(config);
  const plan = planConversion(graph, file, { target: 'caffe-1.0' });
  expect(plan.convertible).toBe(true);
  const model = { file, graph, summary: {} as LoadedModel['summary'] };
  return { model, plan, net: buildNet(plan), weights };
}

function caffeLayerOf(plan: Plan, net: CaffeNet, keras: string, type: string): CaffeLayer {
  const names = new Set(plan.layers.find((l) => l.layer.name === keras)!.caffeLayers.map((c) => c.name));
  const found = net.layers.find((c) => names.has(c.name) && c.type === type);
  if (!found) throw new Error(`no ${type} layer for '${keras}'`);
  return found;
}

async function verifyNet(model: LoadedModel, plan: Plan, net: CaffeNet): Promise<VerificationReport> {
  return verifyConversion({ model, plan, prototxt: writePrototxt(net), caffemodel: encodeCaffemodel(net) });
}

describe('verify catches perturbed conversions', () => {
  it('passes the unperturbed conversion, with a row per layer in model order', async () => {
    const { model, plan, net } = testModel();
    const r = await verifyNet(model, plan, net);
    expect(r.passed).toBe(true);
    expect(r.firstFailingLayer).toBeNull();
    expect(r.rows.map((x) => `${x.kind}:${x.name}`)).toEqual(['layer:c1', 'layer:c2', 'layer:f', 'layer:d1', 'output:d2']);
    expect(r.rows.every((x) => x.passed && (x.maxRel ?? 1) < 1e-5)).toBe(true);
    expect(r.rows.at(-1)!.top1?.agree).toBe(true);
  });

  it('points at the convolution whose weight was changed', async () => {
    const { model, plan, net } = testModel();
    const conv = caffeLayerOf(plan, net, 'c2', 'Convolution');
    const original = conv.blobs!;
    conv.blobs = () => {
      const [w, ...rest] = original();
      const data = Float32Array.from(w.data);
      data[7] += 1.0;
      return [{ shape: w.shape, data }, ...rest];
    };
    const r = await verifyNet(model, plan, net);
    expect(r.passed).toBe(false);
    expect(r.complete).toBe(true);
    expect(r.firstFailingLayer).toBe('c2');
    expect(r.rows.find((x) => x.name === 'c1')!.passed).toBe(true);
    expect(r.rows.find((x) => x.name === 'c2')!.maxAbs).toBeGreaterThan(0.01);
    expect(r.rows.find((x) => x.kind === 'output')!.passed).toBe(false);
  });

  it('points at the Dense after Flatten when its rows are not permuted (HWC vs CHW)', async () => {
    const { model, plan, net, weights } = testModel();
    const ip = caffeLayerOf(plan, net, 'd1', 'InnerProduct');
    ip.blobs = () => [denseToInnerProduct(weights.d1.kernel), weights.d1.bias];
    const r = await verifyNet(model, plan, net);
    expect(r.passed).toBe(false);
    expect(r.firstFailingLayer).toBe('d1');
    // the Flatten itself is compared in Caffe's C,H,W order and agrees
    expect(r.rows.find((x) => x.name === 'f')!.passed).toBe(true);
  });

  it('tolerance decides: a tiny perturbation passes at 1e-2 and fails at 1e-7', async () => {
    const { model, plan, net } = testModel();
    const conv = caffeLayerOf(plan, net, 'c1', 'Convolution');
    const original = conv.blobs!;
    conv.blobs = () => {
      const [w, b] = original();
      const bias = Float32Array.from(b.data, (v) => v + 1e-4);
      return [w, { shape: b.shape, data: bias }];
    };
    const prototxt = writePrototxt(net);
    const caffemodel = encodeCaffemodel(net);
    expect((await verifyConversion({ model, plan, prototxt, caffemodel, tolerance: 1e-2 })).passed).toBe(true);
    const strict = await verifyConversion({ model, plan, prototxt, caffemodel, tolerance: 1e-7 });
    expect(strict.passed).toBe(false);
    expect(strict.firstFailingLayer).toBe('c1');
  });
});

describe('keras2caffe verify on a perturbed caffemodel (CLI, exit 3)', () => {
  const fixture = join(ROOT, 'fixtures', 'models', 'dense_flatten.h5');
  let dir = '';
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'k2c-perturb-'));
  });

  async function convertPerturbed(perturb: (plan: Plan, net: CaffeNet, model: LoadedModel) => void): Promise<{ prototxt: string; caffemodel: string }> {
    const model = await loadModel(fixture);
    try {
      const plan = planConversion(model.graph, model.file, {});
      const net = buildNet(plan);
      perturb(plan, net, model);
      const prototxt = join(dir, `p${Math.random().toString(36).slice(2)}.prototxt`);
      const caffemodel = prototxt.replace(/\.prototxt$/, '.caffemodel');
      writeFileSync(prototxt, writePrototxt(net));
      writeFileSync(caffemodel, encodeCaffemodel(net));
      return { prototxt, caffemodel };
    } finally {
      model.file.close();
    }
  }

  it.skipIf(!existsSync(fixture))('exits 3 and names the perturbed convolution', async () => {
    const files = await convertPerturbed((plan, net) => {
      const conv = net.layers.find((l) => l.type === 'Convolution')!;
      const original = conv.blobs!;
      conv.blobs = () => {
        const [w, ...rest] = original();
        const data = Float32Array.from(w.data);
        data[0] += 1.0;
        return [{ shape: w.shape, data }, ...rest];
      };
      expect(plan.layers.some((l) => l.caffeLayers.includes(conv))).toBe(true);
    });
    const r = run(['verify', fixture, files.prototxt, files.caffemodel]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/FAILED/);
    expect(r.stderr).toMatch(/first failing layer 'conv2d_1'/);
    const j = run(['verify', fixture, files.prototxt, files.caffemodel, '--json']);
    expect(j.code).toBe(3);
    const report = JSON.parse(j.stdout);
    expect(report.passed).toBe(false);
    expect(report.firstFailingLayer).toBe('conv2d_1');
  });

  it.skipIf(!existsSync(fixture))('exits 3 and names the Dense when the Flatten permutation is missing', async () => {
    const files = await convertPerturbed((plan, net, model) => {
      const dense = plan.layers.find((l) => l.layer.className === 'Dense')!;
      const ip = dense.caffeLayers.find((c) => c.type === 'InnerProduct')!;
      const entries = model.file.weightEntries(dense.layer.weights.group);
      const kernel = model.file.readWeight(entries.find((e) => e.shortName === 'kernel')!);
      const bias = model.file.readWeight(entries.find((e) => e.shortName === 'bias')!);
      ip.blobs = () => [denseToInnerProduct(kernel), bias];
    });
    const r = run(['verify', fixture, files.prototxt, files.caffemodel, '--json']);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    const dense = report.rows.find((x: { className: string }) => x.className === 'Dense');
    expect(report.firstFailingLayer).toBe(dense.name);
    expect(report.rows.find((x: { className: string }) => x.className === 'Flatten').passed).toBe(true);
  });
});
