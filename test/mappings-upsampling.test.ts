import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { input, layer } from './helpers/fakeKeras.js';
import { resizeBilinearRef, upsampleNearestRef } from './helpers/convRef.js';
import { errorsAgainst, planWith, relError, rnd, TOL } from './helpers/convCheck.js';
import { bilinearStencil, stencilKernel } from '../src/mappings/upsampling.js';
import { tensor } from '../src/core/tensor.js';

const measured: string[] = [];
const report = (name: string, e: { opencv: number; caffe?: number }) =>
  measured.push(`${name}: opencv ${e.opencv.toExponential(2)}${e.caffe !== undefined ? `, caffe ${e.caffe.toExponential(2)}` : ''}`);

describe('UpSampling2D nearest → grouped Deconvolution of ones', () => {
  it('emits one Deconvolution, group C, stride = kernel = size, no bias', () => {
    const p = planWith([input('x', [3, 4, 5]), layer('u', 'UpSampling2D', { size: [2, 3], interpolation: 'nearest' }, ['x'])], {});
    const ls = p.layersOf('u');
    expect(ls.map((l) => l.type)).toEqual(['Deconvolution']);
    expect(ls[0].params!.convolution_param).toMatchObject({ num_output: 5, group: 5, bias_term: false, kernel_h: 2, kernel_w: 3, stride_h: 2, stride_w: 3 });
    expect(p.plan.layers[1].outputShapes).toEqual([[6, 12, 5]]);
  });
  for (const [a, b, shape] of [[2, 2, [3, 4, 3]], [3, 2, [2, 5, 2]], [1, 3, [4, 3, 2]]] as const)
    it(`numbers: ${a}x${b} on [${shape}]`, async () => {
      const x = rnd([...shape], 41, 3);
      const p = planWith([input('x', [...shape]), layer('u', 'UpSampling2D', { size: [a, b], interpolation: 'nearest' }, ['x'])], {});
      const e = await errorsAgainst(p, [x], { u: upsampleNearestRef(x, a, b) });
      report(`UpSampling2D nearest ${a}x${b}`, e);
      expect(e.opencv).toBe(0);
      if (e.caffe !== undefined) expect(e.caffe).toBe(0);
    });
  it('numbers: UpSampling1D ×3 on [5, 2]', async () => {
    const x = rnd([5, 2], 42, 3);
    const p = planWith([input('x', [5, 2]), layer('u', 'UpSampling1D', { size: 3 }, ['x'])], {});
    const ref = tensor([15, 2]);
    for (let i = 0; i < 15; i++) for (let c = 0; c < 2; c++) ref.data[i * 2 + c] = x.data[Math.floor(i / 3) * 2 + c];
    const e = await errorsAgainst(p, [x], { u: ref });
    report('UpSampling1D ×3', e);
    expect(e.opencv).toBe(0);
  });
});

describe('UpSampling2D bilinear → edge copies + Deconvolution', () => {
  it('the stencils: legacy ×2 reads x[i], x[i+1]; half-pixel ×2 reads x[i−1..i+1]', () => {
    const l2 = bilinearStencil(2, false);
    expect([l2.dmin, l2.dmax]).toEqual([0, 1]);
    expect(l2.weights).toEqual([[1, 0], [0.5, 0.5]]);
    expect(stencilKernel(l2)).toEqual([0, 0.5, 1, 0.5]);
    const h2 = bilinearStencil(2, true);
    expect([h2.dmin, h2.dmax]).toEqual([-1, 1]);
    expect(h2.weights).toEqual([[0.25, 0.75, 0], [0, 0.75, 0.25]]);
  });
  it('the JS reference equals tfjs resizeBilinear (legacy and half-pixel)', () => {
    const x = rnd([3, 4, 2], 7, 2);
    for (const half of [false, true])
      for (const [oh, ow] of [[6, 8], [9, 8], [3, 12]]) {
        const t = tf.image.resizeBilinear(tf.tensor3d(x.data, [3, 4, 2]), [oh, ow], false, half);
        expect(relError({ shape: [oh, ow, 2], data: t.dataSync() as Float32Array }, resizeBilinearRef(x, oh, ow, half))).toBeLessThan(1e-6);
        t.dispose();
      }
  });
  const CASES: [number, number, number[], 'half-pixel' | 'legacy'][] = [
    [2, 2, [4, 5, 3], 'half-pixel'],
    [2, 2, [4, 5, 3], 'legacy'],
    [3, 3, [3, 4, 2], 'half-pixel'],
    [3, 3, [3, 4, 2], 'legacy'],
    [2, 3, [3, 3, 2], 'half-pixel'],
    [4, 1, [3, 2, 2], 'legacy'],
    [2, 2, [1, 3, 2], 'half-pixel'],
    [2, 2, [1, 1, 1], 'legacy'],
  ];
  for (const [a, b, shape, sem] of CASES)
    it(`numbers: ${a}x${b} ${sem} on [${shape}]`, async () => {
      const x = rnd(shape, 43, 3);
      const p = planWith([input('x', shape), layer('u', 'UpSampling2D', { size: [a, b], interpolation: 'bilinear' }, ['x'])], {}, { decisions: { 'u:bilinear': sem } });
      expect(p.plan.layers[1].decisions.map((d) => d.chosen)).toEqual([sem]);
      const e = await errorsAgainst(p, [x], { u: resizeBilinearRef(x, shape[0] * a, shape[1] * b, sem === 'half-pixel') });
      report(`UpSampling2D bilinear ${a}x${b} ${sem} [${shape}]`, e);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });
  it('refuses bilinear for Theano files and other interpolations', () => {
    const th = planWith([input('x', [2, 2, 1]), layer('u', 'UpSampling2D', { size: [2, 2], interpolation: 'bilinear' }, ['x'])], {}, { backend: 'theano', allowUnconvertible: true });
    expect(th.plan.layers[1].status).toBe('unsupported');
    expect(th.plan.layers[1].reason).toMatch(/theano/i);
    const bc = planWith([input('x', [2, 2, 1]), layer('u', 'UpSampling2D', { size: [2, 2], interpolation: 'bicubic' }, ['x'])], {}, { allowUnconvertible: true });
    expect(bc.plan.layers[1].reason).toMatch(/bicubic/);
  });
  it('reports', () => console.log(measured.join('\n')));
});
