import { describe, expect, it } from 'vitest';
import { input, layer } from './helpers/fakeKeras.js';
import { errorsAgainst, planWith, rnd } from './helpers/convCheck.js';
import { tensor, type Tensor } from '../src/core/tensor.js';

function cropRef(x: Tensor, [t, b, l, r]: number[]): Tensor {
  const [h, w, c] = x.shape;
  const oh = h - t - b;
  const ow = w - l - r;
  const out = tensor([oh, ow, c]);
  for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let ch = 0; ch < c; ch++) out.data[(i * ow + j) * c + ch] = x.data[((i + t) * w + j + l) * c + ch];
  return out;
}

const measured: string[] = [];

describe('Cropping2D → Slice', () => {
  it('emits a Slice per cropped axis with the kept part as the named top', () => {
    const p = planWith([input('x', [6, 7, 2]), layer('c', 'Cropping2D', { cropping: [[1, 2], [0, 3]] }, ['x'])], {});
    const ls = p.layersOf('c');
    expect(ls.map((l) => l.type)).toEqual(['Slice', 'Slice']);
    expect(ls[0].params!.slice_param).toEqual({ axis: 2, slice_point: [1, 4] });
    expect(ls[1].params!.slice_param).toEqual({ axis: 3, slice_point: [4] });
    expect(ls[1].top[0]).toBe('c');
    expect(p.plan.layers[1].outputShapes).toEqual([[3, 4, 2]]);
  });
  it('refuses a crop that leaves nothing', () => {
    const p = planWith([input('x', [3, 3, 1]), layer('c', 'Cropping2D', { cropping: [[2, 1], [0, 0]] }, ['x'])], {}, { allowUnconvertible: true });
    expect(p.plan.layers[1].status).toBe('unsupported');
  });
  for (const crop of [[[1, 2], [0, 3]], [[0, 0], [2, 1]], [[3, 0], [0, 0]], 1, [1, 2]] as const)
    it(`numbers: cropping ${JSON.stringify(crop)}`, async () => {
      const x = rnd([6, 7, 3], 51, 3);
      const amounts = typeof crop === 'number' ? [crop, crop, crop, crop] : typeof crop[0] === 'number' ? [crop[0], crop[0], crop[1], crop[1]] : [...(crop[0] as readonly number[]), ...(crop[1] as readonly number[])];
      const p = planWith([input('x', [6, 7, 3]), layer('c', 'Cropping2D', { cropping: crop }, ['x'])], {});
      const e = await errorsAgainst(p, [x], { c: cropRef(x, amounts as number[]) });
      measured.push(`Cropping2D ${JSON.stringify(crop)}: opencv ${e.opencv}${e.caffe !== undefined ? `, caffe ${e.caffe}` : ''}`);
      expect(e.opencv).toBe(0);
      if (e.caffe !== undefined) expect(e.caffe).toBe(0);
    });
  it('numbers: Cropping1D (2, 1) on [7, 3]', async () => {
    const x = rnd([7, 3], 52, 3);
    const p = planWith([input('x', [7, 3]), layer('c', 'Cropping1D', { cropping: [2, 1] }, ['x'])], {});
    const ref = tensor([4, 3], x.data.slice(6, 18));
    const e = await errorsAgainst(p, [x], { c: ref });
    measured.push(`Cropping1D (2,1): opencv ${e.opencv}${e.caffe !== undefined ? `, caffe ${e.caffe}` : ''}`);
    expect(e.opencv).toBe(0);
  });
  it('reports', () => console.log(measured.join('\n')));
});
