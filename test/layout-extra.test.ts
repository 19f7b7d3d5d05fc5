import { describe, expect, it } from 'vitest';
import { conv1dToOihw, convTransposeToIohw, dilateKernelHW, flipKernel1d, zeroPadKernelHW } from '../src/core/layout.js';
import { tensor } from '../src/core/tensor.js';

const arr = (t: { data: Float32Array }) => Array.from(t.data);

describe('weight layout transforms (conv family)', () => {
  it('convTransposeToIohw: (1,2,3,2) (kh,kw,out,in) → (2,3,1,2) (in,out,kh,kw)', () => {
    // value = 100w + 10o + i
    const data: number[] = [];
    for (let w = 0; w < 2; w++) for (let o = 0; o < 3; o++) for (let i = 0; i < 2; i++) data.push(100 * w + 10 * o + i);
    const t = convTransposeToIohw(tensor([1, 2, 3, 2], data));
    expect(t.shape).toEqual([2, 3, 1, 2]);
    // order i, o, h, w
    expect(arr(t)).toEqual([0, 100, 10, 110, 20, 120, 1, 101, 11, 111, 21, 121]);
  });
  it('conv1dToOihw: (3,1,2) (k,in,out) → (2,1,1,3)', () => {
    // k[t][0][o] = 10t + o
    const t = conv1dToOihw(tensor([3, 1, 2], [0, 1, 10, 11, 20, 21]));
    expect(t.shape).toEqual([2, 1, 1, 3]);
    expect(arr(t)).toEqual([0, 10, 20, 1, 11, 21]);
  });
  it('flipKernel1d reverses the time axis only', () => {
    const t = flipKernel1d(tensor([3, 1, 2], [0, 1, 10, 11, 20, 21]));
    expect(arr(t)).toEqual([20, 21, 10, 11, 0, 1]);
    expect(t.shape).toEqual([3, 1, 2]);
  });
  it('zeroPadKernelHW adds zero rows/columns around each (A,B) kernel', () => {
    const t = zeroPadKernelHW(tensor([1, 1, 1, 2], [1, 2]), [1, 0, 0, 1]);
    expect(t.shape).toEqual([1, 1, 2, 3]);
    expect(arr(t)).toEqual([0, 0, 0, 1, 2, 0]);
  });
  it('dilateKernelHW writes taps at multiples of the dilation', () => {
    const t = dilateKernelHW(tensor([1, 1, 2, 2], [1, 2, 3, 4]), [2, 3]);
    expect(t.shape).toEqual([1, 1, 3, 4]);
    expect(arr(t)).toEqual([1, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 4]);
  });
});
