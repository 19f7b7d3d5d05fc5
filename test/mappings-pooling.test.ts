import { describe, expect, it } from 'vitest';
import { input, layer } from './helpers/fakeKeras.js';
import { poolRef } from './helpers/convRef.js';
import { errorsAgainst, haveOracle, planWith, rnd, TOL } from './helpers/convCheck.js';
import { tensor, type Tensor } from '../src/core/tensor.js';

/** TF pooling after an explicit zero padding (the pads are real zeros that Keras pools over). */
function zeroPad(x: Tensor, [t, b, l, r]: number[]): Tensor {
  const [h, w, c] = x.shape;
  const out = tensor([h + t + b, w + l + r, c]);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let ch = 0; ch < c; ch++) out.data[((i + t) * (w + l + r) + j + l) * c + ch] = x.data[(i * w + j) * c + ch];
  return out;
}

type PCase = [cls: 'MaxPooling2D' | 'AveragePooling2D', k: [number, number], s: [number, number], padding: 'same' | 'valid', shape: [number, number, number]];

const CASES: PCase[] = [
  ['MaxPooling2D', [2, 2], [2, 2], 'same', [7, 5, 3]],
  ['AveragePooling2D', [2, 2], [2, 2], 'same', [7, 5, 3]],
  ['MaxPooling2D', [3, 3], [2, 2], 'same', [8, 6, 2]],
  ['AveragePooling2D', [3, 3], [2, 2], 'same', [8, 6, 2]],
  ['AveragePooling2D', [3, 3], [1, 1], 'same', [5, 6, 2]],
  ['MaxPooling2D', [3, 3], [3, 3], 'same', [7, 8, 2]],
  ['AveragePooling2D', [3, 2], [2, 2], 'same', [7, 6, 2]],
  ['MaxPooling2D', [3, 3], [2, 1], 'same', [7, 6, 2]],
  ['AveragePooling2D', [5, 5], [3, 3], 'same', [7, 7, 1]],
  ['MaxPooling2D', [2, 2], [2, 2], 'valid', [7, 5, 3]],
  ['AveragePooling2D', [3, 3], [2, 2], 'valid', [8, 7, 2]],
  // Even pools at stride 1 'same' (TF pads 0 before, 1 after): Caffe pads begin + stride and the
  // leading output is sliced off.
  ['MaxPooling2D', [2, 2], [1, 1], 'same', [7, 6, 2]],
  ['AveragePooling2D', [2, 2], [1, 1], 'same', [7, 6, 2]],
  ['AveragePooling2D', [3, 2], [2, 1], 'same', [7, 6, 2]],
  ['MaxPooling2D', [4, 4], [1, 1], 'same', [6, 5, 2]],
];

const measured: string[] = [];
const report = (name: string, e: { opencv: number; caffe?: number }) =>
  measured.push(`${name}: opencv ${e.opencv.toExponential(2)}${e.caffe !== undefined ? `, caffe ${e.caffe.toExponential(2)}` : ''}`);

describe("pooling 'same'/'valid' (pooling.ts) against TF's formula", () => {
  for (const target of ['caffe-1.0', 'bvlc'] as const)
    for (const [cls, k, s, padding, shape] of CASES) {
      const name = `${cls} ${k.join('x')}/${s.join('x')} ${padding} on ${shape.slice(0, 2).join('x')} (${target})`;
      // bvlc nets may use round_mode, which only real Caffe (the oracle) reads
      it.skipIf(target === 'bvlc' && !haveOracle)(`numbers: ${name}`, async () => {
        const x = rnd(shape, 71, 3);
        const p = planWith([input('x', shape), layer('p', cls, { pool_size: k, strides: s, padding }, ['x'])], {}, { target });
        const ref = poolRef(x, cls.startsWith('Max') ? 'max' : 'avg', k, s, padding);
        expect(p.plan.layers[1].outputShapes[0]).toEqual(ref.shape);
        const e = target === 'bvlc' ? await caffeOnly(p, x, ref) : await errorsAgainst(p, [x], { p: ref });
        report(name, e);
        expect(e.opencv).toBeLessThanOrEqual(TOL);
        if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
      });
    }

  for (const [cls, nonNeg] of [['AveragePooling2D', false], ['MaxPooling2D', false], ['MaxPooling2D', true]] as const)
    it(`numbers: ZeroPadding2D ((1,0),(2,1)) then ${cls} 3x3/2 valid${nonNeg ? ' after ReLU (folded)' : ''}`, async () => {
      const x = rnd([6, 5, 2], 72, 3);
      const layers = [input('x', [6, 5, 2])];
      if (nonNeg) layers.push(layer('r', 'Activation', { activation: 'relu' }, ['x']));
      layers.push(layer('zp', 'ZeroPadding2D', { padding: [[1, 0], [2, 1]] }, [nonNeg ? 'r' : 'x']));
      layers.push(layer('p', cls, { pool_size: [3, 3], strides: [2, 2], padding: 'valid' }, ['zp']));
      const p = planWith(layers, {});
      const src = nonNeg ? tensor([...x.shape], x.data.map((v) => Math.max(v, 0))) : x;
      const ref = poolRef(zeroPad(src, [1, 0, 2, 1]), cls.startsWith('Max') ? 'max' : 'avg', [3, 3], [2, 2], 'valid');
      const e = await errorsAgainst(p, [x], { p: ref });
      report(`ZeroPadding2D + ${cls}${nonNeg ? ' (ReLU, folded)' : ''}`, e);
      expect(e.opencv).toBeLessThanOrEqual(TOL);
      if (e.caffe !== undefined) expect(e.caffe).toBeLessThanOrEqual(TOL);
    });

  it('reports', () => console.log(measured.join('\n')));
});

describe('AVE pooling over padded cells: a decision, exact by default', () => {
  const model = [input('x', [5, 6, 2]), layer('p', 'AveragePooling2D', { pool_size: [3, 3], strides: [1, 1], padding: 'same' }, ['x'])];
  const x = rnd([5, 6, 2], 73, 3);
  const ref = poolRef(x, 'avg', [3, 3], [1, 1], 'same');

  it('offers the Scale correction (exact, the default) and plain AVE (with its error said)', () => {
    const p = planWith(model, {});
    const d = p.plan.layers[1].decisions.find((x) => x.key === 'p:average')!;
    expect(d.chosen).toBe('scale');
    expect(d.spec.options.map((o) => [o.id, o.exact])).toEqual([['scale', true], ['plain', false]]);
    // A 3×3 window at a corner holds 4 real cells of 9: Keras divides by 4, Caffe by 9.
    expect(d.spec.options[1].error).toContain('down to 0.444');
    expect(d.spec.diagram).toMatch(/rows +Keras: 2 3 3 3 2 +Caffe: 3 3 3 3 3\ncolumns Keras: 2 3 3 3 3 2 +Caffe: 3 3 3 3 3 3\n/);
    expect(p.layersOf('p').map((l) => l.type)).toEqual(['Pooling', 'Scale']);
    expect(p.plan.layers[1].status).toBe('decision');
  });

  it('plain AVE is marked inexact, and its numbers differ from Keras exactly by count ratio at the borders', async () => {
    const p = planWith(model, {}, { decisions: { 'p:average': 'plain' } });
    expect(p.layersOf('p').map((l) => l.type)).toEqual(['Pooling']);
    expect(p.plan.layers[1].status).toBe('inexact');
    // Caffe's plain AVE is the Keras sum over real cells divided by 9 everywhere.
    const counts = (i: number, n: number) => Math.min(i + 2, n) - Math.max(i - 1, 0);
    const [h, w, c] = ref.shape;
    const plain = tensor([h, w, c], ref.data.map((v, idx) => {
      const ch = idx % c;
      const j = ((idx - ch) / c) % w;
      const i = Math.floor(idx / (c * w));
      return (v * counts(i, h) * counts(j, w)) / 9;
    }));
    const exact = await errorsAgainst(p, [x], { p: plain });
    expect(exact.opencv).toBeLessThanOrEqual(TOL);
    if (exact.caffe !== undefined) expect(exact.caffe).toBeLessThanOrEqual(TOL);
    const off = await errorsAgainst(p, [x], { p: ref });
    expect(off.opencv).toBeGreaterThan(1e-2);
  });
});

async function caffeOnly(p: ReturnType<typeof planWith>, x: Tensor, ref: Tensor): Promise<{ opencv: number; caffe?: number }> {
  const { runInCaffe, relError } = await import('./helpers/runPlan.js');
  const got = await runInCaffe(p, [x]);
  const e = relError(got.get('p')!, ref);
  return { opencv: 0, caffe: e };
}
