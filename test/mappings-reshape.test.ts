import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '../src/core/tensor.js';
import type { TargetName } from '../src/core/targets.js';
import { reshapeTarget, sameElementOrder } from '../src/mappings/reshape.js';
import { defaultRegistry } from '../src/mappings/index.js';
import { input, layer, seededValues, type LayerSpec } from './helpers/fakeKeras.js';
import { haveOracle, kerasInput, planModel, relError, runInCaffe, runInOpenCV } from './helpers/runPlan.js';
import { TOLERANCE } from './helpers/parity.js';
import { figuresText, fixtureEntry, fixtureParity } from './helpers/fixtureParity.js';

const H = 3;
const W = 4;
const C = 5;
const N = H * W * C;
const reshape = (name: string, target_shape: unknown[], from = 'x') => layer(name, 'Reshape', { target_shape }, [from]);
const statusOf = (p: ReturnType<typeof planModel>, n: string) => p.plan.layers.find((l) => l.layer.name === n)!;

describe('Reshape: shapes and element order', () => {
  it('is registered', () => expect(defaultRegistry.get('Reshape')).toBeDefined());

  it('fills −1 and checks the size', () => {
    expect(reshapeTarget([-1], [H, W, C])).toEqual([N]);
    expect(reshapeTarget([H * W, -1], [H, W, C])).toEqual([H * W, C]);
    expect(reshapeTarget([1, 1, 6], [6])).toEqual([1, 1, 6]);
    expect(() => reshapeTarget([7, -1], [H, W, C])).toThrow(/cannot reshape/);
    expect(() => reshapeTarget([-1, -1], [H, W, C])).toThrow(/more than one/);
    expect(() => reshapeTarget([2, 2], [H, W, C])).toThrow(/cannot reshape/);
  });

  it('knows when Keras and Caffe orders agree', () => {
    expect(sameElementOrder([1, 1, C], [C])).toBe(true);
    expect(sameElementOrder([H, W, C], [H * W, C])).toBe(true);
    expect(sameElementOrder([H, W, C], [W, H, C])).toBe(true);
    expect(sameElementOrder([H, W, 1], [H * W])).toBe(true);
    expect(sameElementOrder([H, W, C], [N])).toBe(false);
    expect(sameElementOrder([H, W, C], [H, W * C])).toBe(false);
    expect(sameElementOrder([H, W, 1], [H, W])).toBe(false); // [H,W] is S=H steps of W channels
  });
});

describe('Reshape: emitted layers', () => {
  const plan = (specs: LayerSpec[], target: TargetName = 'caffe-1.0', weights = {}) => planModel([input('x', [H, W, C]), ...specs], weights, { target, allowUnconvertible: true });

  it('same shape → dropped', () => {
    const p = plan([reshape('r', [H, W, C])]);
    expect(statusOf(p, 'r').status).toBe('dropped');
    expect(p.plan.outputs[0].blob).toBe('x');
  });

  it('[1,1,C] ↔ [C] → Caffe Reshape with the batch kept (dim 0)', () => {
    const p = planModel([input('v', [C]), reshape('up', [1, 1, C], 'v'), reshape('down', [C], 'up')]);
    expect(p.layersOf('up').map((l) => [l.type, l.params])).toEqual([['Reshape', { reshape_param: { shape: { dim: [0, C, 1, 1] } } }]]);
    expect(p.layersOf('down').map((l) => [l.type, l.params])).toEqual([['Reshape', { reshape_param: { shape: { dim: [0, C] } } }]]);
    expect(p.plan.tensorBlobs.get('up:0')?.layout).toEqual({ kind: 'nchw' });
  });

  it('[H,W,C] → [H·W, C] and → [W,H,C] are exact Caffe Reshapes', () => {
    const p = plan([reshape('seq', [H * W, C]), reshape('swap', [W, H, C])]);
    expect(p.layersOf('seq')[0].params).toEqual({ reshape_param: { shape: { dim: [0, C, 1, H * W] } } });
    expect(p.layersOf('swap')[0].params).toEqual({ reshape_param: { shape: { dim: [0, C, W, H] } } });
  });

  it('[S,C] → [1,S,C] has the same Caffe blob: dropped', () => {
    const p = planModel([input('s', [W, C]), reshape('r', [1, W, C], 's')]);
    expect(statusOf(p, 'r').status).toBe('dropped');
  });

  it('to 1-D behaves like Flatten (reordered layout for the next Dense)', () => {
    const p = plan([reshape('flat', [-1]), layer('d', 'Dense', { units: 2 }, ['flat'])], 'caffe-1.0', { d: { kernel: tensor([N, 2]), bias: tensor([2]) } });
    expect(p.layersOf('flat').map((l) => l.type)).toEqual(['Flatten']);
    expect(p.plan.tensorBlobs.get('flat:0')?.layout).toEqual({ kind: 'flat-chw', from: [H, W, C] });
    expect(statusOf(p, 'flat').explanation!.summary).toMatch(/^Reshape \(3,4,5\) → \(60\) flattens/);
    const q = planModel([input('m', [H, W, 1]), reshape('flat', [H * W], 'm')]);
    expect(q.layersOf('flat')[0].type).toBe('Reshape');
    expect(q.plan.tensorBlobs.get('flat:0')?.layout).toEqual({ kind: 'nchw' });
  });

  it('after a Flatten: to 1-D again passes through; back to a shape of the same order is a Reshape', () => {
    const p = plan([layer('f', 'Flatten', {}, ['x']), reshape('again', [N], 'f'), reshape('back', [H, W, C], 'f'), reshape('seq', [H * W, C], 'f')]);
    expect(statusOf(p, 'again').status).toBe('dropped');
    expect(p.plan.tensorBlobs.get('again:0')?.layout).toEqual({ kind: 'flat-chw', from: [H, W, C] });
    expect(p.layersOf('back')[0].params).toEqual({ reshape_param: { shape: { dim: [0, C, H, W] } } });
    expect(p.layersOf('seq')[0].params).toEqual({ reshape_param: { shape: { dim: [0, C, 1, H * W] } } });
  });

  it('reorderings are refused on caffe-1.0 (naming the shapes) and use Permute on opencv', () => {
    const specs = [reshape('rows', [H, W * C]), layer('f', 'Flatten', {}, ['x']), reshape('ff', [H, W * C], 'f')];
    const c = plan(specs, 'caffe-1.0');
    expect(statusOf(c, 'rows').status).toBe('unsupported');
    expect(statusOf(c, 'rows').reason).toMatch(/Reshape \(3,4,5\) → \(3,20\).*no Permute/);
    expect(statusOf(c, 'ff').reason).toMatch(/\(3,4,5\) \(flattened\) → \(3,20\)/);
    const o = plan(specs, 'opencv');
    expect(o.layersOf('rows').map((l) => [l.type, l.params])).toEqual([
      ['Permute', { permute_param: { order: [0, 2, 3, 1] } }],
      ['Reshape', { reshape_param: { shape: { dim: [0, 1, H, W * C] } } }],
      ['Permute', { permute_param: { order: [0, 3, 1, 2] } }],
    ]);
    expect(o.layersOf('ff').map((l) => l.type)).toEqual(['Reshape', 'Permute', 'Reshape', 'Permute']);
  });

  it('refuses impossible target shapes', () => {
    const p = plan([reshape('r', [7, -1])]);
    expect(statusOf(p, 'r').reason).toMatch(/cannot reshape \(3,4,5\)/);
  });
});

// ---------------------------------------------------------------------------------------------
// Numbers

const results: string[] = [];

/** Keras reshape: the same values, a new shape. */
const kerasReshape = (x: Tensor, shape: number[]) => tensor(shape, x.data);

function dense(x: Float32Array, k: Float32Array, units: number): Tensor {
  const n = x.length;
  const out = new Float32Array(units);
  for (let o = 0; o < units; o++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * k[i * units + o];
    out[o] = s;
  }
  return tensor([units], out);
}

interface Case {
  specs: LayerSpec[];
  out: string;
  ref: (x: Tensor, v: Tensor) => Tensor;
  permute?: boolean;
}

const K = seededValues(N * 3, 77);
const CASES: Case[] = [
  { specs: [reshape('seq', [H * W, C])], out: 'seq', ref: (x) => kerasReshape(x, [H * W, C]) },
  { specs: [reshape('swap', [W, H, C])], out: 'swap', ref: (x) => kerasReshape(x, [W, H, C]) },
  { specs: [reshape('up', [1, 1, N], 'v')], out: 'up', ref: (_x, v) => kerasReshape(v, [1, 1, N]) },
  { specs: [reshape('vup', [2, 2, N / 4], 'v')], out: 'vup', ref: (_x, v) => kerasReshape(v, [2, 2, N / 4]), permute: true },
  { specs: [reshape('rows', [H, W * C])], out: 'rows', ref: (x) => kerasReshape(x, [H, W * C]), permute: true },
  { specs: [reshape('odd', [2, 6, 5])], out: 'odd', ref: (x) => kerasReshape(x, [2, 6, 5]) },
  { specs: [reshape('odd2', [6, 2, 5])], out: 'odd2', ref: (x) => kerasReshape(x, [6, 2, 5]) },
  { specs: [reshape('chan', [H, W * C, 1])], out: 'chan', ref: (x) => kerasReshape(x, [H, W * C, 1]), permute: true },
  {
    specs: [reshape('flat', [-1]), layer('flat_d', 'Dense', { units: 3, use_bias: false }, ['flat'])],
    out: 'flat_d',
    ref: (x) => dense(x.data, K, 3),
  },
  {
    specs: [layer('f1', 'Flatten', {}, ['x']), reshape('f_again', [-1], 'f1'), layer('again_d', 'Dense', { units: 3, use_bias: false }, ['f_again'])],
    out: 'again_d',
    ref: (x) => dense(x.data, K, 3),
  },
  { specs: [layer('f2', 'Flatten', {}, ['x']), reshape('f_back', [H, W, C], 'f2')], out: 'f_back', ref: (x) => x },
  { specs: [layer('f3', 'Flatten', {}, ['x']), reshape('f_seq', [H * W, C], 'f3')], out: 'f_seq', ref: (x) => kerasReshape(x, [H * W, C]) },
  { specs: [layer('f4', 'Flatten', {}, ['x']), reshape('f_rows', [H, W * C], 'f4')], out: 'f_rows', ref: (x) => kerasReshape(x, [H, W * C]), permute: true },
];
const WEIGHTS = { flat_d: { kernel: tensor([N, 3], K) }, again_d: { kernel: tensor([N, 3], K) } };

describe('Reshape: numbers', () => {
  const x = kerasInput([H, W, C], 5);
  const v = kerasInput([N], 6);
  const model = (cases: Case[]) => [input('x', [H, W, C]), input('v', [N]), ...cases.flatMap((c) => c.specs)];
  const check = (got: Map<string, Tensor>, cases: Case[], where: string) => {
    for (const c of cases) {
      const e = relError(got.get(c.out)!, c.ref(x, v));
      results.push(`${where} ${c.out}: ${e.toExponential(2)}`);
      expect(e, `${where} ${c.out}`).toBeLessThanOrEqual(1e-6);
    }
  };

  it('match Keras in OpenCV DNN (target opencv, with the Permute cases)', async () => {
    const p = planModel(model(CASES), WEIGHTS, { target: 'opencv', outputs: CASES.map((c) => c.out) });
    check(await runInOpenCV(p, [x, v]), CASES, 'opencv/opencv');
  }, 60_000);

  it('match Keras in OpenCV DNN (target caffe-1.0)', async () => {
    const cases = CASES.filter((c) => !c.permute);
    const p = planModel(model(cases), WEIGHTS, { target: 'caffe-1.0', outputs: cases.map((c) => c.out) });
    check(await runInOpenCV(p, [x, v]), cases, 'opencv/caffe-1.0');
  }, 60_000);

  it.skipIf(!haveOracle)('match Keras in BVLC Caffe (target caffe-1.0)', async () => {
    const cases = CASES.filter((c) => !c.permute);
    const p = planModel(model(cases), WEIGHTS, { target: 'caffe-1.0', outputs: cases.map((c) => c.out) });
    check(await runInCaffe(p, [x, v]), cases, 'caffe/caffe-1.0');
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------
// Real-Keras fixtures (fixtures/models, made by fixtures/make_fixtures.py with Keras 2.3.1)

describe('Reshape: Keras fixture parity', () => {
  for (const name of ['dropout_reshape'])
    for (const target of ['caffe-1.0', 'bvlc', 'opencv'] as const)
      it.skipIf(!fixtureEntry(name))(`${name}.h5 (${target}) matches Keras: max|Δ| ≤ 1e-4·max(1, max|ref|)`, async () => {
        const runs = await fixtureParity(name, target);
        results.push(...figuresText(name, target, runs));
        for (const r of runs) for (const e of r.figures) expect(e.rel, `${name} ${target} ${r.runtime}`).toBeLessThanOrEqual(TOLERANCE);
      }, 180_000);

  it('prints the error figures', () => {
    if (results.length) console.log(results.join('\n'));
  });
});
