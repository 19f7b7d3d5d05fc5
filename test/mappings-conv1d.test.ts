import { describe, expect, it } from 'vitest';
import { input, layer } from './helpers/fakeKeras.js';
import { conv2dRef, depthwiseRef, poolRef, tfPads } from './helpers/convRef.js';
import { biasAct, errorsAgainst, planWith, rnd, TOL } from './helpers/convCheck.js';
import { tensor, type Tensor } from '../src/core/tensor.js';
import { flipKernel1d } from '../src/core/layout.js';

const as2d = (t: Tensor) => tensor([1, ...t.shape], t.data);
const as1d = (t: Tensor) => tensor([t.shape[1], t.shape[2]], t.data);

interface C1 {
  name: string;
  steps: number;
  cin: number;
  filters: number;
  k: number;
  s?: number;
  d?: number;
  padding: 'valid' | 'same' | 'causal';
  decision?: 'grow-kernel' | 'pad-layer';
  backend?: 'theano';
  act?: string;
}

const CASES: C1[] = [
  { name: 'valid k3', steps: 9, cin: 3, filters: 4, k: 3, padding: 'valid', act: 'relu' },
  { name: 'same k4 (pads 1/2)', steps: 8, cin: 2, filters: 3, k: 4, padding: 'same' },
  { name: 'same k3 s2 even steps (pads 0/1)', steps: 10, cin: 2, filters: 3, k: 3, s: 2, padding: 'same', decision: 'pad-layer' },
  { name: 'causal k3 (grown kernel)', steps: 7, cin: 2, filters: 3, k: 3, padding: 'causal', decision: 'grow-kernel' },
  { name: 'causal k3 (pad layer)', steps: 7, cin: 2, filters: 3, k: 3, padding: 'causal', decision: 'pad-layer' },
  { name: 'causal k2 dilation 3', steps: 9, cin: 2, filters: 2, k: 2, d: 3, padding: 'causal' },
  { name: 'causal k3 s2', steps: 9, cin: 3, filters: 2, k: 3, s: 2, padding: 'causal' },
  { name: 'theano same k3 s2 (pads 1/1, kernel flipped in the file)', steps: 8, cin: 2, filters: 2, k: 3, s: 2, padding: 'same', backend: 'theano' },
];

const measured: string[] = [];
const report = (name: string, e: { opencv: number; caffe?: number }) =>
  measured.push(`${name}: opencv ${e.opencv.toExponential(2)}${e.caffe !== undefined ? `, caffe ${e.caffe.toExponential(2)}` : ''}`);

describe('Conv1D → Convolution 1×k', () => {
  it('emits a 1×k Convolution on the 1×C×1×S blob with kernel (out, in, 1, k)', () => {
    const p = planWith([input('x', [8, 3]), layer('c', 'Conv1D', { filters: 4, kernel_size: [3], strides: [1], padding: 'valid', dilation_rate: [1], use_bias: true, activation: 'linear' }, ['x'])], {
      c: { kernel: rnd([3, 3, 4], 1), bias: rnd([4], 2) },
    });
    const ls = p.layersOf('c');
    expect(ls.map((l) => l.type)).toEqual(['Convolution']);
    expect(ls[0].blobShapes).toEqual([[4, 3, 1, 3], [4]]);
    expect(ls[0].params!.convolution_param).toMatchObject({ kernel_h: 1, kernel_w: 3 });
    expect(p.plan.layers[1].outputShapes).toEqual([[6, 4]]);
  });
  for (const c of CASES)
    it(`numbers: ${c.name}`, async () => {
      const k = rnd([c.k, c.cin, c.filters], 61);
      const bias = rnd([c.filters], 62).data;
      const x = rnd([c.steps, c.cin], 63, 2);
      const s = c.s ?? 1;
      const d = c.d ?? 1;
      const kEff = (c.k - 1) * d + 1;
      const th = (e: number) => [Math.floor(e / 2), e - 1 - Math.floor(e / 2)];
      const [l, r] = c.padding === 'causal' ? [kEff - 1, 0] : c.padding === 'same' ? (c.backend === 'theano' ? th(kEff) : tfPads(c.steps, c.k, s, d)) : [0, 0];
      const ref = as1d(biasAct(conv2dRef(as2d(x), tensor([1, ...k.shape], k.data), { strides: [1, s], dilation: [1, d], pads: [0, 0, l, r] }), bias, c.act === 'relu' ? (v) => Math.max(v, 0) : undefined));
      const stored = c.backend === 'theano' ? flipKernel1d(k) : k;
      const p = planWith(
        [input('x', [c.steps, c.cin]), layer('c', 'Conv1D', { filters: c.filters, kernel_size: [c.k], strides: [s], padding: c.padding, dilation_rate: [d], use_bias: true, activation: c.act ?? 'linear' }, ['x'])],
        { c: { kernel: stored, bias: { shape: [c.filters], data: bias } } },
        { backend: c.backend, decisions: c.decision ? { 'c:padding': c.decision } : {} },
      );
      expect(p.plan.layers[1].outputShapes[0]).toEqual(ref.shape);
      const e = await errorsAgainst(p, [x], { c: ref });
      report(`Conv1D ${c.name}`, e);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });
});

describe('DepthwiseConv1D / SeparableConv1D → their 2-D twins on the 1×C×1×S blob', () => {
  for (const [cls, k, s, padding, mult, filters] of [
    ['DepthwiseConv1D', 3, 1, 'valid', 2, 0],
    ['DepthwiseConv1D', 4, 2, 'same', 1, 0],
    ['SeparableConv1D', 3, 1, 'same', 2, 4],
    ['SeparableConv1D', 3, 1, 'causal', 1, 3],
    ['SeparableConv1D', 2, 2, 'same', 1, 3],
  ] as const)
    it(`numbers: ${cls} k${k}/${s} ${padding} mult ${mult}`, async () => {
      const steps = 9;
      const cin = 3;
      const dk = rnd([k, cin, mult], 67);
      const pk = rnd([1, cin * mult, filters || 1], 68);
      const nOut = cls === 'DepthwiseConv1D' ? cin * mult : filters;
      const bias = rnd([nOut], 69).data;
      const x = rnd([steps, cin], 70, 2);
      const [l, r] = padding === 'causal' ? [k - 1, 0] : padding === 'same' ? tfPads(steps, k, s) : [0, 0];
      const dw = depthwiseRef(as2d(x), tensor([1, ...dk.shape], dk.data), { strides: [1, s], pads: [0, 0, l, r] });
      const ref = as1d(cls === 'DepthwiseConv1D' ? biasAct(dw, bias) : biasAct(conv2dRef(dw, tensor([1, ...pk.shape], pk.data)), bias));
      const cfg = { kernel_size: [k], strides: [s], padding, depth_multiplier: mult, dilation_rate: [1], use_bias: true, activation: 'linear', ...(filters ? { filters } : {}) };
      const weights = cls === 'DepthwiseConv1D' ? { depthwise_kernel: dk, bias: { shape: [nOut], data: bias } } : { depthwise_kernel: dk, pointwise_kernel: pk, bias: { shape: [nOut], data: bias } };
      const p = planWith([input('x', [steps, cin]), layer('c', cls, cfg, ['x'])], { c: weights });
      expect(p.plan.layers[1].outputShapes[0]).toEqual(ref.shape);
      const e = await errorsAgainst(p, [x], { c: ref });
      report(`${cls} k${k}/${s} ${padding} mult ${mult}`, e);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });
});

describe('1-D pooling, global pooling and ZeroPadding1D', () => {
  for (const [cls, p, s, padding, steps] of [
    ['MaxPooling1D', 2, 2, 'valid', 9],
    ['MaxPooling1D', 3, 2, 'same', 8],
    ['AveragePooling1D', 3, 2, 'same', 9],
    ['AveragePooling1D', 3, 3, 'valid', 10],
    // TF pads 0 before, 1 after: Caffe pads 1 and the leading output is sliced off.
    ['AveragePooling1D', 2, 1, 'same', 6],
    ['MaxPooling1D', 2, 1, 'same', 6],
  ] as const)
    it(`numbers: ${cls} ${p}/${s} ${padding} on ${steps} steps`, async () => {
      const x = rnd([steps, 3], 64, 3);
      const plan = planWith([input('x', [steps, 3]), layer('p', cls, { pool_size: [p], strides: [s], padding }, ['x'])], {});
      const ref = as1d(poolRef(as2d(x), cls.startsWith('Max') ? 'max' : 'avg', [1, p], [1, s], padding));
      expect(plan.plan.layers[1].outputShapes[0]).toEqual(ref.shape);
      const e = await errorsAgainst(plan, [x], { p: ref });
      report(`${cls} ${p}/${s} ${padding} steps ${steps}`, e);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });
  for (const cls of ['GlobalAveragePooling1D', 'GlobalMaxPooling1D'])
    it(`numbers: ${cls}`, async () => {
      const x = rnd([7, 4], 65, 3);
      const plan = planWith([input('x', [7, 4]), layer('g', cls, {}, ['x'])], {});
      const ref = tensor([4]);
      for (let c = 0; c < 4; c++) {
        const col = Array.from({ length: 7 }, (_, i) => x.data[i * 4 + c]);
        ref.data[c] = cls.includes('Max') ? Math.max(...col) : col.reduce((a, b) => a + b, 0) / 7;
      }
      const e = await errorsAgainst(plan, [x], { g: ref });
      report(cls, e);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
    });
  it('numbers: ZeroPadding1D (2, 1)', async () => {
    const x = rnd([5, 2], 66, 3);
    const plan = planWith([input('x', [5, 2]), layer('z', 'ZeroPadding1D', { padding: [2, 1] }, ['x'])], {});
    const ref = tensor([8, 2]);
    ref.data.set(x.data, 4);
    const e = await errorsAgainst(plan, [x], { z: ref });
    report('ZeroPadding1D (2,1)', e);
    expect(e.opencv).toBe(0);
  });
  it('reports', () => console.log(measured.join('\n')));
});
