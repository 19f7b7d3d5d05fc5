import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '../src/core/tensor.js';
import { broadcastShapes, scaleBroadcast } from '../src/mappings/merge.js';
import { defaultRegistry } from '../src/mappings/index.js';
import { input, layer, seededValues, type LayerSpec } from './helpers/fakeKeras.js';
import { broadcast, concat } from './helpers/elementwiseRef.js';
import { haveOracle, kerasInput, planModel, relError, runInCaffe, runInOpenCV } from './helpers/runPlan.js';
import { TOLERANCE } from './helpers/parity.js';
import { figuresText, fixtureEntry, fixtureParity } from './helpers/fixtureParity.js';

const H = 3;
const W = 4;
const C = 5;
const statusOf = (p: ReturnType<typeof planModel>, n: string) => p.plan.layers.find((l) => l.layer.name === n)!;

describe('merge mappings: registry and shapes', () => {
  it('registers every class', () => {
    for (const c of ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate']) expect(defaultRegistry.get(c), c).toBeDefined();
  });

  it('broadcasts numpy-style', () => {
    expect(broadcastShapes([[H, W, C], [1, 1, C]])).toEqual([H, W, C]);
    expect(broadcastShapes([[H, W, C], [C]])).toEqual([H, W, C]);
    expect(broadcastShapes([[H, 1, C], [1, W, 1]])).toEqual([H, W, C]);
    expect(() => broadcastShapes([[H, W, C], [H, W, 2]])).toThrow(/do not broadcast/);
  });

  it('plans Scale broadcasts on contiguous Caffe axes', () => {
    expect(scaleBroadcast([1, 1, C], [H, W, C])).toEqual({ axis: 0, dims: [1, C] });
    expect(scaleBroadcast([C], [H, W, C])).toEqual({ axis: 0, dims: [1, C] });
    expect(scaleBroadcast([H, W, 1], [H, W, C])).toEqual({ axis: 2, dims: [H, W] });
    expect(scaleBroadcast([H, 1, C], [H, W, C])).toEqual({ axis: 0, dims: [1, C, H] });
    expect(scaleBroadcast([1, W, 1], [H, W, C])).toEqual({ axis: 3, dims: [W] });
    expect(scaleBroadcast([1], [H, W, C])).toEqual({ axis: 0, dims: [1] });
    expect(scaleBroadcast([1, W, C], [H, W, C])).toBeNull(); // C and W are not adjacent in C×H×W
    expect(scaleBroadcast([1, C], [W, C])).toEqual({ axis: 0, dims: [1, C] });
    expect(scaleBroadcast([W, 1], [W, C])).toEqual({ axis: 3, dims: [W] });
  });
});

describe('merge mappings: emitted layers', () => {
  const three = [input('a', [H, W, C]), input('b', [H, W, C]), input('c', [H, W, C])];
  const m = (name: string, cls: string, ins: string[], cfg: Record<string, unknown> = {}) => layer(name, cls, cfg, ins);

  it('Eltwise for equal shapes, with any number of inputs', () => {
    const p = planModel(
      [
        ...three,
        m('add', 'Add', ['a', 'b', 'c']),
        m('sub', 'Subtract', ['a', 'b']),
        m('mul', 'Multiply', ['a', 'b', 'c']),
        m('avg', 'Average', ['a', 'b', 'c']),
        m('max', 'Maximum', ['a', 'b']),
        m('min', 'Minimum', ['a', 'b', 'c']),
      ],
      {},
      { outputs: ['add', 'sub', 'mul', 'avg', 'max', 'min'] },
    );
    expect(p.layersOf('add').map((l) => [l.type, l.bottom, l.top, l.params])).toEqual([['Eltwise', ['a', 'b', 'c'], ['add'], { eltwise_param: { operation: 'SUM' } }]]);
    expect(p.layersOf('sub')[0].params).toEqual({ eltwise_param: { operation: 'SUM', coeff: [1, -1] } });
    expect(p.layersOf('mul')[0].params).toEqual({ eltwise_param: { operation: 'PROD' } });
    expect(p.layersOf('avg')[0].params).toEqual({ eltwise_param: { operation: 'SUM', coeff: [1 / 3, 1 / 3, 1 / 3] } });
    expect(p.layersOf('max')[0].params).toEqual({ eltwise_param: { operation: 'MAX' } });
    const min = p.layersOf('min');
    expect(min.map((l) => l.type)).toEqual(['Power', 'Power', 'Power', 'Eltwise', 'Power']);
    expect(min[0].params).toEqual({ power_param: { power: 1, scale: -1, shift: 0 } });
    expect(min[3].bottom).toEqual(['min/neg0', 'min/neg1', 'min/neg2']);
    expect(min[4].top).toEqual(['min']);
    for (const n of ['add', 'sub', 'mul', 'avg', 'max', 'min']) expect(statusOf(p, n).status).toBe('exact');
  });

  it('refuses Subtract with three inputs', () => {
    const p = planModel([...three, m('sub', 'Subtract', ['a', 'b', 'c'])], {}, { allowUnconvertible: true });
    expect(statusOf(p, 'sub').reason).toMatch(/exactly 2 inputs/);
  });

  it('tracks nonNegative', () => {
    const p = planModel(
      [
        ...three,
        m('ra', 'ReLU', ['a']),
        m('rb', 'ReLU', ['b']),
        m('add', 'Add', ['ra', 'rb']),
        m('max1', 'Maximum', ['ra', 'c']),
        m('min1', 'Minimum', ['ra', 'c']),
        m('sub', 'Subtract', ['ra', 'rb']),
        m('cat', 'Concatenate', ['ra', 'rb']),
        m('cat2', 'Concatenate', ['ra', 'c']),
      ],
      {},
      { outputs: ['add', 'max1', 'min1', 'sub', 'cat', 'cat2'] },
    );
    const nn = (n: string) => !!p.plan.tensorBlobs.get(`${n}:0`)?.nonNegative;
    expect([nn('add'), nn('max1'), nn('min1'), nn('sub'), nn('cat'), nn('cat2')]).toEqual([true, true, false, false, true, false]);
  });

  it('Multiply broadcasting (1,1,C) → Reshape to 1×C and a two-bottom Scale axis 0', () => {
    const p = planModel([input('x', [H, W, C]), input('s', [1, 1, C]), m('mul', 'Multiply', ['x', 's'])]);
    expect(p.layersOf('mul').map((l) => [l.type, l.bottom, l.top, l.params])).toEqual([
      ['Reshape', ['s'], ['mul/in1_dims'], { reshape_param: { shape: { dim: [1, C] } } }],
      ['Scale', ['x', 'mul/in1_dims'], ['mul'], { scale_param: { axis: 0 } }],
    ]);
    expect(statusOf(p, 'mul').explanation!.notes.join(' ')).toMatch(/broadcasts/);
  });

  it('Add broadcasting stretches with Power(0·x + 1) and Scale, then Eltwise', () => {
    const p = planModel([input('x', [H, W, C]), input('s', [C]), m('add', 'Add', ['s', 'x'])]);
    expect(p.layersOf('add').map((l) => [l.type, l.bottom, l.params])).toEqual([
      ['Power', ['x'], { power_param: { power: 1, scale: 0, shift: 1 } }],
      ['Scale', ['add/ones', 's'], { scale_param: { axis: 0 } }],
      ['Eltwise', ['add/in0_full', 'x'], { eltwise_param: { operation: 'SUM' } }],
    ]);
  });

  it('refuses broadcasts Scale cannot express, naming the shapes', () => {
    const p = planModel([input('x', [H, W, C]), input('s', [1, W, C]), m('add', 'Add', ['x', 's'])], {}, { allowUnconvertible: true });
    expect(statusOf(p, 'add').reason).toMatch(/\(1,4,5\).*not one contiguous run/);
    const q = planModel([input('x', [H, 1, C]), input('y', [1, W, C]), m('add', 'Add', ['x', 'y'])], {}, { allowUnconvertible: true });
    expect(statusOf(q, 'add').reason).toMatch(/no input has the full output shape/);
  });

  it('elementwise merges of Flatten outputs keep their reordered layout; mixed layouts are refused', () => {
    const base = [input('x', [H, W, C]), input('y', [H, W, C]), m('fx', 'Flatten', ['x']), m('fy', 'Flatten', ['y'])];
    const p = planModel([...base, m('add', 'Add', ['fx', 'fy']), m('d', 'Dense', ['add'], { units: 2, use_bias: false })], { d: { kernel: tensor([H * W * C, 2]) } });
    expect(p.plan.tensorBlobs.get('add:0')?.layout).toEqual({ kind: 'flat-chw', from: [H, W, C] });
    const q = planModel(
      [input('x', [H, W, C]), input('v', [H * W * C]), m('fx', 'Flatten', ['x']), m('add', 'Add', ['fx', 'v'])],
      {},
      { allowUnconvertible: true },
    );
    expect(statusOf(q, 'add').reason).toMatch(/different orders/);
  });

  it('Concatenate maps the axis and refuses reordered Flatten inputs', () => {
    const cases: [number[], number, number][] = [
      [[H, W, C], -1, 1],
      [[H, W, C], 3, 1],
      [[H, W, C], 1, 2],
      [[H, W, C], 2, 3],
      [[W, C], -1, 1],
      [[W, C], 1, 3],
      [[C], -1, 1],
    ];
    for (const [shape, axis, caffe] of cases) {
      const p = planModel([input('a', shape), input('b', shape), m('cat', 'Concatenate', ['a', 'b', 'a'], { axis })]);
      expect(p.layersOf('cat').map((l) => [l.type, l.bottom, l.params]), `${shape} axis ${axis}`).toEqual([['Concat', ['a', 'b', 'a'], { concat_param: { axis: caffe } }]]);
      const k = (axis < 0 ? axis + shape.length + 1 : axis) - 1;
      expect(p.plan.outputs[0].kerasShape[k]).toBe(shape[k] * 3);
    }
    const q = planModel([input('x', [H, W, C]), input('y', [H, W, C]), m('fx', 'Flatten', ['x']), m('fy', 'Flatten', ['y']), m('cat', 'Concatenate', ['fx', 'fy'])], {}, { allowUnconvertible: true });
    expect(statusOf(q, 'cat').reason).toMatch(/Flatten of \(3,4,5\)/);
    const bad = planModel([input('a', [H, W, C]), input('b', [H, W + 1, C]), m('cat', 'Concatenate', ['a', 'b'])], {}, { allowUnconvertible: true });
    expect(statusOf(bad, 'cat').reason).toMatch(/equal other dimensions/);
  });
});

// ---------------------------------------------------------------------------------------------
// Numbers

const SHAPES: Record<string, number[]> = {
  a: [H, W, C],
  b: [H, W, C],
  c: [H, W, C],
  s1c: [1, 1, C], // channel vector (e.g. squeeze-excitation)
  vc: [C],
  hw1: [H, W, 1],
  h1c: [H, 1, C],
  w1: [1, W, 1],
  one: [1],
};

interface Case {
  spec: LayerSpec;
  ref: (t: Record<string, Tensor>) => Tensor;
}

const sum = (xs: number[]) => xs.reduce((p, q) => Math.fround(p + q), 0);
const OPS: Record<string, (xs: number[]) => number> = {
  Add: sum,
  Subtract: (xs) => xs[0] - xs[1],
  Multiply: (xs) => xs.reduce((p, q) => Math.fround(p * q), 1),
  Average: (xs) => sum(xs) / xs.length,
  Maximum: (xs) => Math.max(...xs),
  Minimum: (xs) => Math.min(...xs),
};

const CASES: Case[] = [];
const add = (name: string, cls: string, ins: string[]) =>
  CASES.push({ spec: layer(name, cls, {}, ins), ref: (t) => broadcast(ins.map((i) => t[i]), OPS[cls]) });
for (const cls of Object.keys(OPS)) {
  add(`${cls}_2`, cls, ['a', 'b']);
  if (cls !== 'Subtract') add(`${cls}_3`, cls, ['a', 'b', 'c']);
  add(`${cls}_s1c`, cls, ['a', 's1c']);
  add(`${cls}_vc_first`, cls, ['vc', 'a']);
  add(`${cls}_hw1`, cls, ['hw1', 'a']);
  if (cls !== 'Subtract') add(`${cls}_mixed`, cls, ['a', 'h1c', 'w1', 'b']);
  add(`${cls}_scalar`, cls, ['a', 'one']);
}
const cat = (name: string, ins: string[], axis: number) =>
  CASES.push({ spec: layer(name, 'Concatenate', { axis }, ins), ref: (t) => concat(ins.map((i) => t[i]), (axis < 0 ? axis + 4 : axis) - 1) });
cat('cat_c', ['a', 'b', 'c'], -1);
cat('cat_h', ['a', 'b'], 1);
cat('cat_w', ['a', 'c'], 2);

const results: string[] = [];

describe('merge mappings: numbers', () => {
  const names = Object.keys(SHAPES);
  const values: Record<string, Tensor> = {};
  names.forEach((n, i) => (values[n] = kerasInput(SHAPES[n], 100 + i, 2)));
  const model = [...names.map((n) => input(n, SHAPES[n])), ...CASES.map((c) => c.spec)];
  const check = (got: Map<string, Tensor>, where: string) => {
    for (const c of CASES) {
      const e = relError(got.get(c.spec.name)!, c.ref(values));
      results.push(`${where} ${c.spec.name}: ${e.toExponential(2)}`);
      expect(e, `${where} ${c.spec.name}`).toBeLessThanOrEqual(1e-6);
    }
  };

  it('every case is planned exactly', () => {
    const p = planModel(model, {}, { outputs: CASES.map((c) => c.spec.name) });
    for (const c of CASES) expect(statusOf(p, c.spec.name).status, c.spec.name).toBe('exact');
  });

  it('match Keras in OpenCV DNN', async () => {
    const p = planModel(model, {}, { outputs: CASES.map((c) => c.spec.name) });
    check(await runInOpenCV(p, names.map((n) => values[n])), 'opencv');
  }, 60_000);

  it.skipIf(!haveOracle)('match Keras in BVLC Caffe', async () => {
    const p = planModel(model, {}, { outputs: CASES.map((c) => c.spec.name) });
    check(await runInCaffe(p, names.map((n) => values[n])), 'caffe');
  }, 180_000);

  it('Add of two Flatten outputs (reordered layout) followed by Dense matches Keras', async () => {
    const n = H * W * C;
    const k = seededValues(n * 2, 55);
    const p = planModel(
      [input('a', [H, W, C]), input('b', [H, W, C]), layer('fa', 'Flatten', {}, ['a']), layer('fb', 'Flatten', {}, ['b']), layer('s', 'Add', {}, ['fa', 'fb']), layer('d', 'Dense', { units: 2, use_bias: false }, ['s'])],
      { d: { kernel: tensor([n, 2], k) } },
    );
    const got = (await runInOpenCV(p, [values.a, values.b])).get('d')!;
    const ref = new Float32Array(2);
    for (let o = 0; o < 2; o++) for (let i = 0; i < n; i++) ref[o] += (values.a.data[i] + values.b.data[i]) * k[i * 2 + o];
    const e = relError(got, tensor([2], ref));
    results.push(`opencv flatten+flatten→Add→Dense: ${e.toExponential(2)}`);
    expect(e).toBeLessThanOrEqual(1e-5);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Real-Keras fixtures (fixtures/models, made by fixtures/make_fixtures.py with Keras 2.3.1)

describe('merge mappings: Keras fixture parity', () => {
  for (const name of ['merges', 'concat_axes', 'minimum'])
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
