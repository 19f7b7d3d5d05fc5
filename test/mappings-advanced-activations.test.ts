import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '../src/core/tensor.js';
import { broadcastAlphaToChw } from '../src/mappings/advancedActivations.js';
import { defaultRegistry } from '../src/mappings/index.js';
import { input, layer, seededValues, type LayerSpec } from './helpers/fakeKeras.js';
import { elu, kerasRelu, softmax } from './helpers/elementwiseRef.js';
import { haveOracle, kerasInput, mapValues, planModel, relError, runInCaffe, runInOpenCV } from './helpers/runPlan.js';
import { TOLERANCE } from './helpers/parity.js';
import { figuresText, fixtureEntry, fixtureParity } from './helpers/fixtureParity.js';

const SHAPE = [3, 4, 5]; // H, W, C
const C = SHAPE[2];

const types = (p: ReturnType<typeof planModel>, n: string) => p.layersOf(n).map((l) => l.type);
const statusOf = (p: ReturnType<typeof planModel>, n: string) => p.plan.layers.find((l) => l.layer.name === n)!;

describe('advanced activations: registry', () => {
  it('registers every class', () => {
    for (const c of ['ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'ThresholdedReLU', 'Softmax']) expect(defaultRegistry.get(c), c).toBeDefined();
  });
});

describe('ReLU layer: emitted layers', () => {
  const relu = (name: string, cfg: Record<string, unknown>) => layer(name, 'ReLU', { max_value: null, negative_slope: 0, threshold: 0, ...cfg }, ['x']);

  it('plain, leaky and capped forms', () => {
    const model = [input('x', SHAPE), relu('r', {}), relu('leaky', { negative_slope: 0.1 }), relu('r6', { max_value: 6 }), relu('r4', { max_value: 4, negative_slope: 0.2 })];
    const outputs = ['r', 'leaky', 'r6', 'r4'];
    const c = planModel(model, {}, { outputs, target: 'caffe-1.0' });
    expect(c.layersOf('r').map((l) => [l.type, l.params])).toEqual([['ReLU', undefined]]);
    expect(c.layersOf('leaky').map((l) => [l.type, l.params])).toEqual([['ReLU', { relu_param: { negative_slope: 0.1 } }]]);
    expect(types(c, 'r6')).toEqual(['ReLU', 'Power', 'ReLU', 'Power']);
    expect(c.layersOf('r6')[1].params).toEqual({ power_param: { power: 1, scale: -1, shift: 6 } });
    expect(types(c, 'r4')).toEqual(['ReLU', 'Power', 'ReLU', 'Power']);
    expect(c.layersOf('r4')[0].params).toEqual({ relu_param: { negative_slope: 0.2 } });
    expect(c.layersOf('r4')[1].params).toEqual({ power_param: { power: 1, scale: -1, shift: 4 } });
    const b = planModel(model, {}, { outputs, target: 'bvlc' });
    expect(b.layersOf('r6').map((l) => [l.type, l.params])).toEqual([['Clip', { clip_param: { min: 0, max: 6 } }]]);
    // With a negative slope a Clip would cut the negative part too: the min-chain stays.
    expect(types(b, 'r4')).toEqual(['ReLU', 'Power', 'ReLU', 'Power']);
    expect(c.plan.tensorBlobs.get('r6:0')?.nonNegative).toBe(true);
    expect(c.plan.tensorBlobs.get('leaky:0')?.nonNegative).toBeUndefined();
  });

  it('threshold: Threshold mask and Eltwise PROD, plus the negative part', () => {
    const model = [input('x', SHAPE), relu('t', { threshold: 0.5 }), relu('tn', { threshold: 0.5, negative_slope: 0.1 }), relu('tmn', { threshold: 0.3, max_value: 4, negative_slope: 0.2 })];
    const p = planModel(model, {}, { outputs: ['t', 'tn', 'tmn'] });
    expect(p.layersOf('t').map((l) => [l.type, l.params])).toEqual([
      ['Threshold', { threshold_param: { threshold: 0.5 } }],
      ['Eltwise', { eltwise_param: { operation: 'PROD' } }],
    ]);
    expect(types(p, 'tn')).toEqual(['Threshold', 'Eltwise', 'Power', 'ReLU', 'Eltwise']);
    expect(p.layersOf('tn')[2].params).toEqual({ power_param: { power: 1, scale: -1, shift: 0.5 } });
    expect(p.layersOf('tn')[4].params).toEqual({ eltwise_param: { operation: 'SUM', coeff: [1, -0.1] } });
    expect(types(p, 'tmn')).toEqual(['Threshold', 'Eltwise', 'ReLU', 'Power', 'ReLU', 'Power', 'Power', 'ReLU', 'Eltwise']);
    for (const n of ['t', 'tn', 'tmn']) expect(p.layersOf(n).at(-1)!.top).toEqual([n]);
    expect(p.plan.tensorBlobs.get('t:0')?.nonNegative).toBe(true);
  });
});

describe('Threshold-based forms on a target without Threshold (opencv)', () => {
  it('refuses ReLU(threshold) and ThresholdedReLU, naming the missing layer', () => {
    const p = planModel(
      [input('x', SHAPE), layer('t', 'ReLU', { threshold: 0.5 }, ['x']), layer('tr', 'ThresholdedReLU', { theta: 1 }, ['x']), layer('r6', 'ReLU', { max_value: 6 }, ['x'])],
      {},
      { target: 'opencv', outputs: ['t', 'tr', 'r6'], allowUnconvertible: true },
    );
    for (const n of ['t', 'tr']) {
      expect(statusOf(p, n).status).toBe('unsupported');
      expect(statusOf(p, n).reason).toMatch(/step function; target 'opencv' has no Threshold layer/);
    }
    expect(statusOf(p, 'r6').status).toBe('exact');
  });
});

describe('LeakyReLU / ELU / ThresholdedReLU / Softmax: emitted layers', () => {
  it('LeakyReLU reads alpha (Keras 2) or negative_slope (Keras 3), default 0.3', () => {
    const p = planModel(
      [input('x', SHAPE), layer('a', 'LeakyReLU', { alpha: 0.2 }, ['x']), layer('b', 'LeakyReLU', { negative_slope: 0.05 }, ['x']), layer('c', 'LeakyReLU', {}, ['x'])],
      {},
      { outputs: ['a', 'b', 'c'] },
    );
    expect(p.layersOf('a')[0].params).toEqual({ relu_param: { negative_slope: 0.2 } });
    expect(p.layersOf('b')[0].params).toEqual({ relu_param: { negative_slope: 0.05 } });
    expect(p.layersOf('c')[0].params).toEqual({ relu_param: { negative_slope: 0.3 } });
  });

  it('ELU keeps alpha', () => {
    const p = planModel([input('x', SHAPE), layer('e', 'ELU', { alpha: 0.7 }, ['x'])]);
    expect(p.layersOf('e').map((l) => [l.type, l.params])).toEqual([['ELU', { elu_param: { alpha: 0.7 } }]]);
  });

  it('ThresholdedReLU is Threshold + Eltwise PROD', () => {
    const p = planModel([input('x', SHAPE), layer('t', 'ThresholdedReLU', { theta: 0.5 }, ['x'])]);
    expect(p.layersOf('t').map((l) => [l.type, l.params, l.bottom])).toEqual([
      ['Threshold', { threshold_param: { threshold: 0.5 } }, ['x']],
      ['Eltwise', { eltwise_param: { operation: 'PROD' } }, ['x', 't/mask']],
    ]);
  });

  it('Softmax maps the Keras axis to the Caffe axis', () => {
    const cases: [number[], unknown, number][] = [
      [SHAPE, -1, 1],
      [SHAPE, 3, 1],
      [SHAPE, 1, 2],
      [SHAPE, 2, 3],
      [SHAPE, [-1], 1],
      [[4, 6], -1, 1],
      [[4, 6], 1, 3],
      [[6], -1, 1],
    ];
    for (const [shape, axis, caffe] of cases) {
      const p = planModel([input('x', shape), layer('s', 'Softmax', { axis }, ['x'])]);
      expect(p.layersOf('s').map((l) => [l.type, l.params]), `${shape} axis ${axis}`).toEqual([['Softmax', { softmax_param: { axis: caffe } }]]);
    }
    const bad = planModel([input('x', SHAPE), layer('s', 'Softmax', { axis: [1, 2] }, ['x'])], {}, { allowUnconvertible: true });
    expect(statusOf(bad, 's').reason).toMatch(/several axes/);
  });
});

// ---------------------------------------------------------------------------------------------
// PReLU

const alphaShared = tensor([1, 1, C], seededValues(C, 11, 0.5));
const alphaFull = tensor(SHAPE, seededValues(SHAPE[0] * SHAPE[1] * C, 12, 0.5));
const alphaRow = tensor([SHAPE[0], 1, C], seededValues(SHAPE[0] * C, 13, 0.5));
const alphaOne = tensor([1, 1, 1], [0.25]);

describe('PReLU: emitted layers', () => {
  const model = [
    input('x', SHAPE),
    layer('p_shared', 'PReLU', { shared_axes: [1, 2] }, ['x']),
    layer('p_one', 'PReLU', { shared_axes: [1, 2, 3] }, ['x']),
    layer('p_full', 'PReLU', { shared_axes: null }, ['x']),
    layer('p_row', 'PReLU', { shared_axes: [2] }, ['x']),
  ];
  const weights = { p_shared: { alpha: alphaShared }, p_one: { alpha: alphaOne }, p_full: { alpha: alphaFull }, p_row: { alpha: alphaRow } };
  const p = planModel(model, weights, { outputs: ['p_shared', 'p_one', 'p_full', 'p_row'] });

  it('one slope per channel → Caffe PReLU with blobs (C)', () => {
    const [l] = p.layersOf('p_shared');
    expect(l.type).toBe('PReLU');
    expect(l.params).toBeUndefined();
    expect(l.blobShapes).toEqual([[C]]);
    const [b] = l.blobs!();
    expect(b.shape).toEqual([C]);
    expect(Array.from(b.data)).toEqual(Array.from(alphaShared.data));
    const w = statusOf(p, 'p_shared').explanation!.weights[0];
    expect(w.from).toBe(`alpha (1,1,${C})`);
    expect(w.to).toBe(`blobs[0] (${C})`);
  });

  it('a single shared slope → PReLU with the slope repeated per channel', () => {
    const [l] = p.layersOf('p_one');
    expect(l.params).toBeUndefined();
    expect(l.blobShapes).toEqual([[C]]);
    expect(Array.from(l.blobs!()[0].data)).toEqual(new Array(C).fill(0.25));
  });

  it('alpha varying over H/W → ReLU, Eltwise, Scale with a (C,H,W) blob, Eltwise', () => {
    for (const n of ['p_full', 'p_row']) {
      const ls = p.layersOf(n);
      expect(ls.map((l) => l.type)).toEqual(['ReLU', 'Eltwise', 'Scale', 'Eltwise']);
      expect(ls[1].params).toEqual({ eltwise_param: { operation: 'SUM', coeff: [1, -1] } });
      expect(ls[2].params).toEqual({ scale_param: { axis: 1, num_axes: -1, bias_term: false } });
      expect(ls[2].blobShapes).toEqual([[C, SHAPE[0], SHAPE[1]]]);
    }
    const b = p.layersOf('p_row')[2].blobs!()[0];
    // (c, h, w) of the Caffe blob is alpha[h, 0, c] of Keras's (H,1,C) alpha.
    expect(b.data[(2 * SHAPE[0] + 1) * SHAPE[1] + 3]).toBe(alphaRow.data[1 * C + 2]);
    expect(statusOf(p, 'p_full').explanation!.weights[0].to).toBe(`Scale blobs[0] (${C},${SHAPE[0]},${SHAPE[1]}) (C,H,W)`);
  });

  it('broadcastAlphaToChw transposes HWC to CHW', () => {
    const t = broadcastAlphaToChw(tensor([1, 2, 3], [1, 2, 3, 4, 5, 6]), [2, 2, 3]);
    expect(t.shape).toEqual([3, 2, 2]);
    expect(Array.from(t.data)).toEqual([1, 4, 1, 4, 2, 5, 2, 5, 3, 6, 3, 6]);
  });
});

// ---------------------------------------------------------------------------------------------
// Numbers

interface Case {
  spec: LayerSpec;
  ref: (x: Tensor) => Tensor;
  /** Needs Caffe's Threshold layer, which OpenCV DNN does not have. */
  threshold?: boolean;
}

const prelu = (alpha: Tensor) => (x: Tensor) =>
  mapValues(x, (v, i) => {
    const [H, W, Cc] = SHAPE;
    const c = i % Cc;
    const w = Math.floor(i / Cc) % W;
    const h = Math.floor(i / (Cc * W)) % H;
    const [ah, aw, ac] = alpha.shape;
    const a = alpha.data[((ah === 1 ? 0 : h) * aw + (aw === 1 ? 0 : w)) * ac + (ac === 1 ? 0 : c)];
    return v > 0 ? v : a * v;
  });

const reluCase = (name: string, alpha: number, maxValue: number | null, threshold: number): Case => ({
  spec: layer(name, 'ReLU', { max_value: maxValue, negative_slope: alpha, threshold }, ['x']),
  ref: (x) => mapValues(x, (v) => kerasRelu(v, alpha, maxValue, threshold)),
  threshold: threshold !== 0,
});

const CASES: Case[] = [
  reluCase('relu', 0, null, 0),
  reluCase('relu_leaky', 0.1, null, 0),
  reluCase('relu6', 0, 6, 0),
  reluCase('relu_cap4_leaky', 0.2, 4, 0),
  reluCase('relu_t', 0, null, 0.5),
  reluCase('relu_t_neg', 0, null, -0.5),
  reluCase('relu_t_leaky', 0.1, null, 0.5),
  reluCase('relu_t_cap_leaky', 0.2, 4, 0.3),
  reluCase('relu_t_cap', 0, 2, 1),
  { spec: layer('leaky', 'LeakyReLU', { alpha: 0.2 }, ['x']), ref: (x) => mapValues(x, (v) => (v > 0 ? v : 0.2 * v)) },
  { spec: layer('elu', 'ELU', { alpha: 0.7 }, ['x']), ref: (x) => mapValues(x, (v) => elu(v, 0.7)) },
  { spec: layer('p_shared', 'PReLU', { shared_axes: [1, 2] }, ['x']), ref: prelu(alphaShared) },
  { spec: layer('p_one', 'PReLU', { shared_axes: [1, 2, 3] }, ['x']), ref: prelu(alphaOne) },
  { spec: layer('p_full', 'PReLU', { shared_axes: null }, ['x']), ref: prelu(alphaFull) },
  { spec: layer('p_row', 'PReLU', { shared_axes: [2] }, ['x']), ref: prelu(alphaRow) },
  { spec: layer('thr', 'ThresholdedReLU', { theta: 0.5 }, ['x']), ref: (x) => mapValues(x, (v) => (v > Math.fround(0.5) ? v : 0)), threshold: true },
  { spec: layer('thr_neg', 'ThresholdedReLU', { theta: -0.5 }, ['x']), ref: (x) => mapValues(x, (v) => (v > -0.5 ? v : 0)), threshold: true },
  { spec: layer('sm_c', 'Softmax', { axis: -1 }, ['x']), ref: (x) => softmax(x, 2) },
  { spec: layer('sm_h', 'Softmax', { axis: 1 }, ['x']), ref: (x) => softmax(x, 0) },
  { spec: layer('sm_w', 'Softmax', { axis: 2 }, ['x']), ref: (x) => softmax(x, 1) },
];
const WEIGHTS = { p_shared: { alpha: alphaShared }, p_one: { alpha: alphaOne }, p_full: { alpha: alphaFull }, p_row: { alpha: alphaRow } };

const results: string[] = [];
function check(got: Map<string, Tensor>, x: Tensor, cases: Case[], where: string) {
  for (const c of cases) {
    const e = relError(got.get(c.spec.name)!, c.ref(x));
    results.push(`${where} ${c.spec.name}: ${e.toExponential(2)}`);
    expect(e, `${where} ${c.spec.name}`).toBeLessThanOrEqual(1e-5);
  }
}

describe('advanced activations: numbers', () => {
  // Random inputs plus the thresholds and caps themselves, so the x = threshold / max_value edges are hit exactly.
  const x = kerasInput(SHAPE, 21, 5);
  x.data[0] = 0.5;
  x.data[1] = -0.5;
  x.data[2] = 0.3;
  x.data[3] = 4;
  x.data[4] = 6;
  x.data[5] = 1;
  x.data[6] = 0;
  x.data[7] = 7;

  for (const target of ['caffe-1.0', 'opencv'] as const)
    it(`match Keras in OpenCV DNN (target ${target}; the Threshold-based cases excluded: OpenCV has no Threshold layer)`, async () => {
      const cases = CASES.filter((c) => !c.threshold);
      const p = planModel([input('x', SHAPE), ...cases.map((c) => c.spec)], WEIGHTS, { target, outputs: cases.map((c) => c.spec.name) });
      check(await runInOpenCV(p, [x]), x, cases, `opencv/${target}`);
    }, 60_000);

  for (const target of ['caffe-1.0', 'bvlc'] as const)
    it.skipIf(!haveOracle)(`match Keras in BVLC Caffe (target ${target})`, async () => {
      const p = planModel([input('x', SHAPE), ...CASES.map((c) => c.spec)], WEIGHTS, { target, outputs: CASES.map((c) => c.spec.name) });
      check(await runInCaffe(p, [x]), x, CASES, `caffe/${target}`);
    }, 180_000);

  it('PReLU after a reordering Flatten permutes its per-element alpha', async () => {
    const n = SHAPE[0] * SHAPE[1] * C;
    const alpha = tensor([n], seededValues(n, 31, 0.5));
    const p = planModel([input('x', SHAPE), layer('f', 'Flatten', {}, ['x']), layer('p', 'PReLU', { shared_axes: null }, ['f']), layer('d', 'Dense', { units: 3 }, ['p'])], {
      p: { alpha },
      d: { kernel: tensor([n, 3], seededValues(n * 3, 32)), bias: tensor([3], [0.1, -0.2, 0.3]) },
    });
    expect(p.layersOf('p')[0].type).toBe('PReLU');
    const got = (await runInOpenCV(p, [x])).get('d')!;
    const k = seededValues(n * 3, 32);
    const ref = new Float32Array(3);
    for (let o = 0; o < 3; o++) {
      let s = [0.1, -0.2, 0.3][o];
      for (let i = 0; i < n; i++) {
        const v = x.data[i];
        s += (v > 0 ? v : alpha.data[i] * v) * k[i * 3 + o];
      }
      ref[o] = s;
    }
    const e = relError(got, tensor([3], ref));
    results.push(`opencv flatten→PReLU→Dense: ${e.toExponential(2)}`);
    expect(e).toBeLessThanOrEqual(1e-5);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Real-Keras fixtures (fixtures/models, made by fixtures/make_fixtures.py with Keras 2.3.1)

describe('advanced activations: Keras fixture parity', () => {
  for (const name of ['activations_adv', 'softmax_2d', 'relu6'])
    for (const target of ['caffe-1.0', 'bvlc', 'opencv'] as const)
      it.skipIf(!fixtureEntry(name))(`${name}.h5 (${target}) matches Keras: max|Δ| ≤ 1e-4·max(1, max|ref|)`, async () => {
        if (target === 'opencv' && name === 'relu6') {
          // ReLU(threshold=…) needs Caffe's Threshold layer, which OpenCV DNN lacks: refused, not mis-converted.
          await expect(fixtureParity(name, target)).rejects.toThrow(/no Threshold layer/);
          return;
        }
        const runs = await fixtureParity(name, target);
        results.push(...figuresText(name, target, runs));
        for (const r of runs) for (const e of r.figures) expect(e.rel, `${name} ${target} ${r.runtime}`).toBeLessThanOrEqual(TOLERANCE);
      }, 180_000);

  it('prints the error figures', () => {
    if (results.length) console.log(results.join('\n'));
  });
});
