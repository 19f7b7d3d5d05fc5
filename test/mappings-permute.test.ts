import { describe, expect, it } from 'vitest';
import { input, layer } from './helpers/fakeKeras.js';
import { transposeRef } from './helpers/convRef.js';
import { planWith, relError, rnd, TOL } from './helpers/convCheck.js';
import { runInOpenCV } from './helpers/runPlan.js';
import { caffePermuteOrder } from '../src/mappings/permute.js';

const measured: string[] = [];

describe('Permute → Caffe Permute (opencv target only)', () => {
  it('orders: Keras dims composed with NHWC ↔ NCHW, batch axis first', () => {
    expect(caffePermuteOrder([2, 1, 3])).toEqual([0, 1, 3, 2]); // swap H and W
    expect(caffePermuteOrder([3, 1, 2])).toEqual([0, 3, 1, 2]);
    expect(caffePermuteOrder([2, 1])).toEqual([0, 3, 2, 1]); // [S,C] → [C,S] on 1×C×1×S blobs
    expect(caffePermuteOrder([1, 2, 3])).toEqual([0, 1, 2, 3]);
  });
  it('refuses on targets without Permute, with the reason', () => {
    for (const target of ['caffe-1.0', 'bvlc'] as const) {
      const p = planWith([input('x', [3, 4, 2]), layer('p', 'Permute', { dims: [2, 1, 3] }, ['x'])], {}, { target, allowUnconvertible: true });
      expect(p.plan.layers[1].status).toBe('unsupported');
      expect(p.plan.layers[1].reason).toMatch(/no Permute|does not have/);
      expect(p.plan.layers[1].reason).toMatch(/--target opencv/);
    }
  });
  it('the identity permutation emits nothing', () => {
    const p = planWith([input('x', [3, 4, 2]), layer('p', 'Permute', { dims: [1, 2, 3] }, ['x']), layer('r', 'Activation', { activation: 'relu' }, ['p'])], {}, { target: 'opencv' });
    expect(p.layersOf('p')).toEqual([]);
  });
  for (const [dims, shape] of [
    [[2, 1, 3], [3, 4, 2]],
    [[3, 1, 2], [3, 4, 2]],
    [[1, 3, 2], [2, 3, 4]],
    [[3, 2, 1], [2, 3, 4]],
    [[2, 3, 1], [4, 2, 3]],
    [[2, 1], [5, 3]],
  ] as const)
    it(`numbers (OpenCV): Permute ${JSON.stringify(dims)} on [${shape}]`, async () => {
      const x = rnd([...shape], 81, 3);
      const p = planWith([input('x', [...shape]), layer('p', 'Permute', { dims: [...dims] }, ['x'])], {}, { target: 'opencv' });
      const ref = transposeRef(x, dims.map((d) => d - 1));
      expect(p.plan.layers[1].outputShapes[0]).toEqual(ref.shape);
      const got = (await runInOpenCV(p, [x])).get('p')!;
      const e = relError(got, ref);
      measured.push(`Permute ${JSON.stringify(dims)} [${shape}]: opencv ${e}`);
      expect(e).toBeLessThanOrEqual(TOL);
      expect(e).toBe(0);
    });
  it('reports', () => console.log(measured.join('\n')));
});
