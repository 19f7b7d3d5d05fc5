import { describe, expect, it } from 'vitest';
import { input, layer } from './helpers/fakeKeras.js';
import { conv2dRef, depthwiseRef, tfPads } from './helpers/convRef.js';
import { biasAct, errorsAgainst, planWith, rnd, TOL } from './helpers/convCheck.js';

const relu = (x: number) => Math.max(x, 0);

interface DwCase {
  name: string;
  shape: [number, number, number];
  k: [number, number];
  s?: [number, number];
  d?: [number, number];
  padding: 'valid' | 'same';
  mult?: number;
  bias?: boolean;
  act?: string;
  decision?: 'grow-kernel' | 'pad-layer';
  backend?: 'tensorflow' | 'theano';
}

const CASES: DwCase[] = [
  { name: 'valid 3x3 s1 relu', shape: [7, 6, 3], k: [3, 3], padding: 'valid', bias: true, act: 'relu' },
  { name: 'same 3x3 s2 even input (pads 0/1), grown kernel', shape: [8, 8, 3], k: [3, 3], s: [2, 2], padding: 'same', mult: 2, bias: true, decision: 'grow-kernel' },
  { name: 'same 3x3 s2 even input (pads 0/1), pad layer', shape: [8, 8, 3], k: [3, 3], s: [2, 2], padding: 'same', mult: 2, bias: true, decision: 'pad-layer' },
  { name: 'same 2x2 s1 (pads 0/1)', shape: [5, 6, 2], k: [2, 2], padding: 'same', bias: false },
  { name: 'same 3x3 dilation 2 (symmetric)', shape: [9, 7, 2], k: [3, 3], d: [2, 2], padding: 'same', mult: 3 },
  { name: 'same 2x2 dilation 3 (pads 1/2, pad layer)', shape: [8, 9, 2], k: [2, 2], d: [3, 3], padding: 'same', bias: true },
  { name: 'same 4x3 strides 2x1', shape: [9, 7, 3], k: [4, 3], s: [2, 1], padding: 'same', bias: true, act: 'relu' },
  { name: 'theano same 3x3 s2 (Theano pads 1/1)', shape: [8, 8, 2], k: [3, 3], s: [2, 2], padding: 'same', bias: true, backend: 'theano' },
  { name: 'theano same 2x2 s1 (Theano pads 1/0)', shape: [6, 5, 2], k: [2, 2], padding: 'same', bias: true, backend: 'theano' },
];

function padsFor(c: DwCase, h: number, w: number): [number, number, number, number] {
  if (c.padding === 'valid') return [0, 0, 0, 0];
  const d = c.d ?? [1, 1];
  if (c.backend === 'theano') {
    const th = (k: number, dd: number) => {
      const e = (k - 1) * dd + 1;
      return [Math.floor(e / 2), e - 1 - Math.floor(e / 2)];
    };
    return [...th(c.k[0], d[0]), ...th(c.k[1], d[1])] as [number, number, number, number];
  }
  const s = c.s ?? [1, 1];
  return [...tfPads(h, c.k[0], s[0], d[0]), ...tfPads(w, c.k[1], s[1], d[1])] as [number, number, number, number];
}

const measured: string[] = [];

describe('DepthwiseConv2D → grouped Convolution', () => {
  it('emits one grouped Convolution with group = C and num_output = C·mult', () => {
    const k = rnd([3, 3, 4, 2], 1);
    const p = planWith([input('x', [6, 6, 4]), layer('dw', 'DepthwiseConv2D', { kernel_size: [3, 3], strides: [1, 1], padding: 'valid', depth_multiplier: 2, use_bias: false, activation: 'linear' }, ['x'])], { dw: { depthwise_kernel: k } });
    const ls = p.layersOf('dw');
    expect(ls.map((l) => l.type)).toEqual(['Convolution']);
    expect(ls[0].params!.convolution_param).toMatchObject({ num_output: 8, group: 4, bias_term: false });
    expect(p.plan.layers[1].outputShapes).toEqual([[4, 4, 8]]);
  });

  it('refuses a kernel that does not match the config', () => {
    const p = planWith([input('x', [6, 6, 4]), layer('dw', 'DepthwiseConv2D', { kernel_size: [3, 3], padding: 'valid', depth_multiplier: 1 }, ['x'])], { dw: { depthwise_kernel: rnd([3, 3, 4, 2], 1) } }, { allowUnconvertible: true });
    expect(p.plan.layers[1].status).toBe('unsupported');
    expect(p.plan.layers[1].reason).toMatch(/does not match/);
  });

  for (const c of CASES)
    it(`numbers: ${c.name}`, async () => {
      const [h, w, ch] = c.shape;
      const mult = c.mult ?? 1;
      const k = rnd([c.k[0], c.k[1], ch, mult], 11);
      const bias = c.bias ? rnd([ch * mult], 12).data : undefined;
      const x = rnd(c.shape, 13, 2);
      const cfg = { kernel_size: c.k, strides: c.s ?? [1, 1], dilation_rate: c.d ?? [1, 1], padding: c.padding, depth_multiplier: mult, use_bias: !!c.bias, activation: c.act ?? 'linear' };
      const p = planWith([input('x', c.shape), layer('dw', 'DepthwiseConv2D', cfg, ['x'])], { dw: { depthwise_kernel: k, ...(bias ? { bias: { shape: [ch * mult], data: bias } } : {}) } }, { backend: c.backend, decisions: c.decision ? { 'dw:padding': c.decision } : {} });
      const ref = biasAct(depthwiseRef(x, k, { strides: c.s, dilation: c.d, pads: padsFor(c, h, w) }), bias, c.act === 'relu' ? relu : undefined);
      expect(p.plan.layers[1].outputShapes[0]).toEqual(ref.shape);
      const e = await errorsAgainst(p, [x], { dw: ref });
      measured.push(`DepthwiseConv2D ${c.name}: opencv ${e.opencv.toExponential(2)}${e.caffe !== undefined ? `, caffe ${e.caffe.toExponential(2)}` : ''}`);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });
});

describe('SeparableConv2D → grouped Convolution + 1×1 Convolution', () => {
  const SEP: { name: string; shape: [number, number, number]; k: [number, number]; s: [number, number]; padding: 'same' | 'valid'; mult: number; filters: number; bias: boolean; act: string; zp?: boolean }[] = [
    { name: 'same 3x3 s1 mult 2 relu', shape: [6, 7, 3], k: [3, 3], s: [1, 1], padding: 'same', mult: 2, filters: 5, bias: true, act: 'relu' },
    { name: 'same 3x3 s2 odd/even input, no bias', shape: [9, 8, 4], k: [3, 3], s: [2, 2], padding: 'same', mult: 1, filters: 3, bias: false, act: 'linear' },
    { name: 'valid after a folded ZeroPadding2D', shape: [6, 6, 2], k: [3, 3], s: [2, 2], padding: 'valid', mult: 1, filters: 4, bias: true, act: 'linear', zp: true },
  ];
  it('emits the depthwise Convolution (no bias) then a 1×1 Convolution with the bias', () => {
    const p = planWith([input('x', [5, 5, 2]), layer('sep', 'SeparableConv2D', { filters: 3, kernel_size: [3, 3], padding: 'valid', depth_multiplier: 1, use_bias: true, activation: 'relu' }, ['x'])], {
      sep: { depthwise_kernel: rnd([3, 3, 2, 1], 1), pointwise_kernel: rnd([1, 1, 2, 3], 2), bias: rnd([3], 3) },
    });
    const ls = p.layersOf('sep');
    expect(ls.map((l) => l.type)).toEqual(['Convolution', 'Convolution', 'ReLU']);
    expect(ls[0].params!.convolution_param).toMatchObject({ num_output: 2, group: 2, bias_term: false });
    expect(ls[1].params!.convolution_param).toMatchObject({ num_output: 3, kernel_size: [1] });
  });
  for (const c of SEP)
    it(`numbers: ${c.name}`, async () => {
      const [h, w, ch] = c.shape;
      const dk = rnd([c.k[0], c.k[1], ch, c.mult], 21);
      const pk = rnd([1, 1, ch * c.mult, c.filters], 22);
      const bias = c.bias ? rnd([c.filters], 23).data : undefined;
      const x = rnd(c.shape, 24, 2);
      const layers = [input('x', c.shape)];
      if (c.zp) layers.push(layer('zp', 'ZeroPadding2D', { padding: [[1, 0], [0, 1]] }, ['x']));
      layers.push(layer('sep', 'SeparableConv2D', { filters: c.filters, kernel_size: c.k, strides: c.s, padding: c.padding, depth_multiplier: c.mult, use_bias: c.bias, activation: c.act }, [c.zp ? 'zp' : 'x']));
      const p = planWith(layers, { sep: { depthwise_kernel: dk, pointwise_kernel: pk, ...(bias ? { bias: { shape: [c.filters], data: bias } } : {}) } });
      const pads: [number, number, number, number] = c.zp ? [1, 0, 0, 1] : c.padding === 'same' ? [...tfPads(h, c.k[0], c.s[0]), ...tfPads(w, c.k[1], c.s[1])] as [number, number, number, number] : [0, 0, 0, 0];
      const dw = depthwiseRef(x, dk, { strides: c.s, pads });
      const ref = biasAct(conv2dRef(dw, pk), bias, c.act === 'relu' ? relu : undefined);
      const e = await errorsAgainst(p, [x], { sep: ref });
      measured.push(`SeparableConv2D ${c.name}: opencv ${e.opencv.toExponential(2)}${e.caffe !== undefined ? `, caffe ${e.caffe.toExponential(2)}` : ''}`);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });
  it('reports', () => {
    console.log(measured.join('\n'));
  });
});
