import { describe, expect, it } from 'vitest';
import { chwToHwc, denseToInnerProduct, depthwiseToGroupedOihw, flipKernelHW, hwcToChw, hwioToOihw, permuteFlattenRowsHwcToChw } from '../src/core/layout.js';
import { tensor } from '../src/core/tensor.js';

const arr = (t: { data: Float32Array }) => Array.from(t.data);

describe('weight layout transforms', () => {
  it('hwioToOihw: (1,2,2,3) HWIO → (3,2,1,2) OIHW', () => {
    // k[h][w][i][o] = 100h + 10w... use value = w*100 + i*10 + o to read positions back.
    const data: number[] = [];
    for (let w = 0; w < 2; w++) for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) data.push(w * 100 + i * 10 + o);
    const t = hwioToOihw(tensor([1, 2, 2, 3], data));
    expect(t.shape).toEqual([3, 2, 1, 2]);
    // OIHW order: o, i, h, w
    expect(arr(t)).toEqual([0, 100, 10, 110, 1, 101, 11, 111, 2, 102, 12, 112]);
  });

  it('flipKernelHW reverses both spatial axes and keeps the channel block', () => {
    // (2,2,1,2): positions (0,0)=[1,2] (0,1)=[3,4] (1,0)=[5,6] (1,1)=[7,8]
    const t = flipKernelHW(tensor([2, 2, 1, 2], [1, 2, 3, 4, 5, 6, 7, 8]));
    expect(arr(t)).toEqual([7, 8, 5, 6, 3, 4, 1, 2]);
    expect(t.shape).toEqual([2, 2, 1, 2]);
  });

  it('denseToInnerProduct transposes (in,out) → (out,in)', () => {
    const t = denseToInnerProduct(tensor([2, 3], [1, 2, 3, 4, 5, 6]));
    expect(t.shape).toEqual([3, 2]);
    expect(arr(t)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('permuteFlattenRowsHwcToChw moves row (h,w,c) to (c,h,w)', () => {
    // Flatten of [1,2,2]: HWC rows are (w0c0, w0c1, w1c0, w1c1); CHW rows are (c0w0, c0w1, c1w0, c1w1).
    const t = permuteFlattenRowsHwcToChw(tensor([4, 1], [10, 11, 20, 21]), [1, 2, 2]);
    expect(arr(t)).toEqual([10, 20, 11, 21]);
  });

  it('depthwiseToGroupedOihw: (1,1,2,2) → (4,1,1,1) with output c*mult+m', () => {
    // k[0][0][c][m]: c0m0=1 c0m1=2 c1m0=3 c1m1=4
    const t = depthwiseToGroupedOihw(tensor([1, 1, 2, 2], [1, 2, 3, 4]));
    expect(t.shape).toEqual([4, 1, 1, 1]);
    expect(arr(t)).toEqual([1, 2, 3, 4]);
    // 2×1 spatial kernel, 2 channels, mult 1: rows keep per-channel order
    const u = depthwiseToGroupedOihw(tensor([2, 1, 2, 1], [1, 2, 3, 4]));
    expect(u.shape).toEqual([2, 1, 2, 1]);
    expect(arr(u)).toEqual([1, 3, 2, 4]);
  });

  it('hwcToChw and chwToHwc are inverse', () => {
    const t = tensor([2, 1, 3], [1, 2, 3, 4, 5, 6]);
    const c = hwcToChw(t);
    expect(c.shape).toEqual([3, 2, 1]);
    expect(arr(c)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(arr(chwToHwc(c))).toEqual(arr(t));
  });
});
