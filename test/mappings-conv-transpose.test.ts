import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { input, layer } from './helpers/fakeKeras.js';
import { conv2dTransposeRef } from './helpers/convRef.js';
import { biasAct, errorsAgainst, planWith, relError, rnd, TOL } from './helpers/convCheck.js';
import { deconvOutputLength, transposeCaffeAxis, transposePadBefore } from '../src/mappings/convTranspose.js';
import { flipKernelHW } from '../src/core/layout.js';

interface TCase {
  name: string;
  shape: [number, number, number];
  k: [number, number];
  s: [number, number];
  padding: 'same' | 'valid';
  filters: number;
  op?: [number, number];
  d?: [number, number];
  bias?: boolean;
  act?: string;
  backend?: 'tensorflow' | 'theano';
}

const CASES: TCase[] = [
  { name: 'valid 3x3 s2', shape: [4, 5, 3], k: [3, 3], s: [2, 2], padding: 'valid', filters: 4, bias: true },
  { name: 'valid 2x2 s3 (k < s: zero rows + bias at the end)', shape: [3, 4, 2], k: [2, 2], s: [3, 3], padding: 'valid', filters: 3, bias: true },
  { name: 'same 3x3 s2 (odd k: first row cut)', shape: [4, 5, 3], k: [3, 3], s: [2, 2], padding: 'same', filters: 4, bias: true, act: 'relu' },
  { name: 'same 4x4 s2 (even k)', shape: [4, 3, 2], k: [4, 4], s: [2, 2], padding: 'same', filters: 3, bias: true },
  { name: 'same 5x5 s1', shape: [5, 6, 2], k: [5, 5], s: [1, 1], padding: 'same', filters: 2, bias: false },
  { name: 'same 2x2 s1 (even, total 1)', shape: [5, 4, 2], k: [2, 2], s: [1, 1], padding: 'same', filters: 2, bias: true },
  { name: 'same 1x1 s2', shape: [3, 4, 3], k: [1, 1], s: [2, 2], padding: 'same', filters: 2, bias: true },
  { name: 'same 3x4 strides 2x3', shape: [4, 3, 2], k: [3, 4], s: [2, 3], padding: 'same', filters: 3, bias: true },
  { name: 'same 3x3 s2 output_padding 0', shape: [4, 4, 2], k: [3, 3], s: [2, 2], padding: 'same', filters: 2, op: [0, 0], bias: true },
  { name: 'same 3x3 s2 output_padding 1', shape: [4, 4, 2], k: [3, 3], s: [2, 2], padding: 'same', filters: 2, op: [1, 1], bias: true },
  { name: 'valid 3x3 s2 output_padding 1x0', shape: [3, 4, 2], k: [3, 3], s: [2, 2], padding: 'valid', filters: 2, op: [1, 0], bias: true },
  { name: 'same 4x4 s3 output_padding 2', shape: [3, 3, 2], k: [4, 4], s: [3, 3], padding: 'same', filters: 2, op: [2, 2], bias: true },
  { name: 'same 3x3 dilation 2', shape: [5, 5, 2], k: [3, 3], s: [1, 1], d: [2, 2], padding: 'same', filters: 2, bias: true },
  { name: 'valid 2x2 dilation 2', shape: [4, 4, 2], k: [2, 2], s: [1, 1], d: [2, 2], padding: 'valid', filters: 3, bias: true },
  { name: 'theano same 3x3 s2 (pad_before 1)', shape: [4, 5, 2], k: [3, 3], s: [2, 2], padding: 'same', filters: 3, bias: true, backend: 'theano' },
  { name: 'theano valid 3x3 s2', shape: [4, 3, 2], k: [3, 3], s: [2, 2], padding: 'valid', filters: 2, bias: true, backend: 'theano' },
];

function outSize(c: TCase): [number, number] {
  return [0, 1].map((i) => deconvOutputLength(c.shape[i], c.k[i], c.padding, c.op ? c.op[i] : null, c.s[i], c.d ? c.d[i] : 1)) as [number, number];
}

const measured: string[] = [];

describe('Conv2DTranspose geometry', () => {
  it("Keras's deconv_output_length", () => {
    expect(deconvOutputLength(4, 3, 'valid', null, 2)).toBe(9);
    expect(deconvOutputLength(3, 2, 'valid', null, 3)).toBe(9); // in·s + max(k − s, 0)
    expect(deconvOutputLength(4, 3, 'same', null, 2)).toBe(8);
    expect(deconvOutputLength(4, 3, 'same', 1, 2)).toBe(8); // (4−1)·2 + 3 − 2 + 1
    expect(deconvOutputLength(4, 3, 'same', 0, 2)).toBe(7);
  });
  it('TF pad_before and the grown kernel: same 3x3 s2 on 4 → cut 0, prepend 1, pad 1', () => {
    const a = { in: 4, k: 3, s: 2, d: 1, out: 8 };
    expect(transposePadBefore(a, 'same', 'tensorflow')).toBe(0);
    expect(transposeCaffeAxis(a, 0)).toEqual({ front: 1, back: 0, pad: 1, kernel: 4 });
    expect(transposePadBefore(a, 'same', 'theano')).toBe(1);
  });
  it('refuses what TF itself rejects, and even kernels with same on Theano', () => {
    // same 4x4 s2 output_padding 0: O = (4−1)·2 + 4 − 4 = 6, ceil(6/2) = 3 ≠ 4
    expect(transposePadBefore({ in: 4, k: 4, s: 2, d: 1, out: 6 }, 'same', 'tensorflow')).toMatch(/TensorFlow rejects/);
    expect(transposePadBefore({ in: 4, k: 4, s: 2, d: 1, out: 8 }, 'same', 'theano')).toMatch(/even kernels/);
  });
  it('the JS reference equals tfjs conv2dTranspose (TF semantics) for same and valid', () => {
    for (const [padding, k, s, shape] of [['same', 3, 2, [4, 5, 3]], ['same', 4, 2, [3, 4, 2]], ['valid', 3, 2, [3, 3, 2]], ['same', 2, 1, [4, 4, 2]]] as const) {
      const x = rnd([...shape], 5, 2);
      const w = rnd([k, k, 2, shape[2]], 6);
      const o = [deconvOutputLength(shape[0], k, padding, null, s), deconvOutputLength(shape[1], k, padding, null, s)] as [number, number];
      const ref = conv2dTransposeRef(x, w, o, [s, s], padding);
      const t = tf.conv2dTranspose(tf.tensor4d(x.data, [1, ...shape]), tf.tensor4d(w.data, w.shape as [number, number, number, number]), [1, o[0], o[1], 2], s, padding);
      const got = { shape: ref.shape, data: t.dataSync() as Float32Array };
      expect(relError(got, ref)).toBeLessThan(1e-5);
      t.dispose();
    }
  });
});

describe('Conv2DTranspose → Deconvolution', () => {
  it('emits a single Deconvolution with (in, out, kh, kw) weights', () => {
    const p = planWith([input('x', [4, 5, 3]), layer('t', 'Conv2DTranspose', { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', use_bias: true, activation: 'linear' }, ['x'])], {
      t: { kernel: rnd([3, 3, 4, 3], 1), bias: rnd([4], 2) },
    });
    const ls = p.layersOf('t');
    expect(ls.map((l) => l.type)).toEqual(['Deconvolution']);
    expect(ls[0].blobShapes).toEqual([[3, 4, 4, 4], [4]]);
    expect(p.plan.layers[1].outputShapes).toEqual([[8, 10, 4]]);
  });

  for (const c of CASES)
    it(`numbers: ${c.name}`, async () => {
      const [h, w, ci] = c.shape;
      const k = rnd([c.k[0], c.k[1], c.filters, ci], 31);
      const bias = c.bias ? rnd([c.filters], 32).data : undefined;
      const x = rnd(c.shape, 33, 2);
      const o = outSize(c);
      const cfg = { filters: c.filters, kernel_size: c.k, strides: c.s, padding: c.padding, output_padding: c.op ?? null, dilation_rate: c.d ?? [1, 1], use_bias: !!c.bias, activation: c.act ?? 'linear' };
      const theano = c.backend === 'theano';
      // A Theano file holds the flipped kernel; the model computes with the TF-convention one.
      const stored = theano ? flipKernelHW(k) : k;
      const p = planWith([input('x', c.shape), layer('t', 'Conv2DTranspose', cfg, ['x'])], { t: { kernel: stored, ...(bias ? { bias: { shape: [c.filters], data: bias } } : {}) } }, { backend: c.backend });
      const kEff = (i: number) => (c.k[i] - 1) * (c.d ? c.d[i] : 1) + 1;
      const ref = biasAct(
        conv2dTransposeRef(x, k, o, c.s, c.padding, { dilation: c.d, ...(theano && c.padding === 'same' ? { padBefore: [Math.floor(kEff(0) / 2), Math.floor(kEff(1) / 2)] } : {}) }),
        bias,
        c.act === 'relu' ? (v) => Math.max(v, 0) : undefined,
      );
      expect(p.plan.layers[1].outputShapes[0]).toEqual([o[0], o[1], c.filters]);
      void h, w;
      const e = await errorsAgainst(p, [x], { t: ref });
      measured.push(`Conv2DTranspose ${c.name}: opencv ${e.opencv.toExponential(2)}${e.caffe !== undefined ? `, caffe ${e.caffe.toExponential(2)}` : ''}`);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });
  it('reports', () => console.log(measured.join('\n')));
});
