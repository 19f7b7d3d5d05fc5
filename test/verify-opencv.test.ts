import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as pb from 'protobufjs';
import protobuf from '../src/caffe/protobufjs.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../src/core/tensor.js';
import { loadOpenCV, OpenCVError, opencvVersion, runCaffeInOpenCV } from '../src/verify/opencvNet.js';
import { describeOracle, repoRoot, runCaffeInOracle } from './helpers/oracle.js';

// A caffemodel only needs layer names and blobs (both runtimes match weights to layers by name).
// Field numbers are BVLC caffe.proto's.
const PROTO = `syntax = "proto2";
message BlobShape { repeated int64 dim = 1 [packed = true]; }
message BlobProto { repeated float data = 5 [packed = true]; optional BlobShape shape = 7; }
message LayerParameter { optional string name = 1; optional string type = 2; repeated BlobProto blobs = 7; }
message NetParameter { optional string name = 1; repeated LayerParameter layer = 100; }`;
const NetParameter = protobuf.parse(PROTO).root.lookupType('NetParameter');

function caffemodel(layers: { name: string; blobs: { shape: number[]; data: number[] }[] }[]): Uint8Array {
  const msg = { name: 't', layer: layers.map((l) => ({ name: l.name, blobs: l.blobs.map((b) => ({ shape: { dim: b.shape }, data: b.data })) })) };
  return NetParameter.encode(NetParameter.create(msg)).finish();
}

const t = (shape: number[], data: number[]): Tensor => ({ shape, data: Float32Array.from(data) });
const round = (x: Float32Array, d = 5) => Array.from(x, (v) => +v.toFixed(d));

// Input 1x1x3x3 = 1..9. Convolution "conv" (top "conv_out", 2 outputs, 2x2 kernel, no pad):
//   channel 0: kernel [[1, 0], [0, -1]], bias 0.1  -> x[i][j] - x[i+1][j+1] + 0.1 = -4 + 0.1 = -3.9 everywhere
//   channel 1: kernel all 0.5, bias -10            -> 0.5 * (sum of the 2x2 window) - 10:
//              windows (1,2,4,5)=12 (2,3,5,6)=16 (4,5,7,8)=24 (5,6,8,9)=28 -> -4, -2, 2, 4
// then ReLU "relu" in place (top == bottom == "conv_out"): 0,0,0,0, 0,0,2,4
// and Slice "split" of the input along H into rows 0 and 1..2.
const PROTOTXT = `name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 3 dim: 3 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv_out"
  convolution_param { num_output: 2 kernel_size: 2 } }
layer { name: "relu" type: "ReLU" bottom: "conv_out" top: "conv_out" }
layer { name: "split" type: "Slice" bottom: "data" top: "row0" top: "rows12" slice_param { axis: 2 slice_point: 1 } }
`;
const WEIGHTS = caffemodel([{ name: 'conv', blobs: [{ shape: [2, 1, 2, 2], data: [1, 0, 0, -1, 0.5, 0.5, 0.5, 0.5] }, { shape: [2], data: [0.1, -10] }] }]);
const INPUT = t([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
const PRE_RELU = [-3.9, -3.9, -3.9, -3.9, -4, -2, 2, 4];
const POST_RELU = [0, 0, 0, 0, 0, 0, 2, 4];

describe('opencv.js loading', () => {
  it('loads once, quietly, without leaving process listeners behind', async () => {
    const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
    const [a, b] = await Promise.all([loadOpenCV(), loadOpenCV()]);
    expect(a).toBe(b);
    expect(typeof a.readNetFromCaffe).toBe('function');
    expect('then' in a).toBe(false); // a thenable module would hang `await`
    expect([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]).toEqual(before);
    expect(await opencvVersion()).toBe('4.12.0');
  });
});

describe('runCaffeInOpenCV', () => {
  it('forwards the tiny conv net to the hand-computed values', async () => {
    const out = await runCaffeInOpenCV(PROTOTXT, WEIGHTS, [{ name: 'data', tensor: INPUT }], ['conv_out', '@conv', 'row0', 'rows12', 'data']);
    expect([...out.keys()]).toEqual(['conv_out', '@conv', 'row0', 'rows12', 'data']);
    expect(out.get('conv_out')!.shape).toEqual([1, 2, 2, 2]);
    expect(round(out.get('conv_out')!.data)).toEqual(POST_RELU); // the blob as Caffe sees it: after the in-place ReLU
    expect(round(out.get('@conv')!.data)).toEqual(PRE_RELU); // OpenCV keeps the convolution's own output too
    expect(out.get('row0')).toEqual(t([1, 1, 1, 3], [1, 2, 3]));
    expect(out.get('rows12')).toEqual(t([1, 1, 2, 3], [4, 5, 6, 7, 8, 9]));
    expect(out.get('data')).toEqual(INPUT);
  });

  it('defaults to the unconnected outputs, keyed by blob name', async () => {
    const out = await runCaffeInOpenCV(PROTOTXT, WEIGHTS, [{ name: 'data', tensor: INPUT }]);
    expect([...out.keys()].sort()).toEqual(['conv_out', 'row0', 'rows12']);
    expect(round(out.get('conv_out')!.data)).toEqual(POST_RELU);
  });

  it('takes N>1 batches, 2-D (N x C) inputs and several inputs', async () => {
    const prototxt = `
layer { name: "a" type: "Input" top: "a" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "img" type: "Input" top: "img" input_param { shape { dim: 2 dim: 1 dim: 2 dim: 2 } } }
layer { name: "fc" type: "InnerProduct" bottom: "a" top: "fc" inner_product_param { num_output: 2 } }
layer { name: "pool" type: "Pooling" bottom: "img" top: "pool" pooling_param { pool: MAX global_pooling: true } }
layer { name: "flat" type: "Flatten" bottom: "pool" top: "flat" }
layer { name: "sum" type: "Eltwise" bottom: "fc" bottom: "fc" top: "sum" eltwise_param { coeff: 1 coeff: -0.5 } }
`;
    const w = caffemodel([{ name: 'fc', blobs: [{ shape: [2, 3], data: [1, 2, 3, 0, 0, -1] }, { shape: [2], data: [0, 0.5] }] }]);
    const a = t([2, 3], [1, 1, 1, 2, 0, 1]);
    const img = t([2, 1, 2, 2], [1, 5, 2, 3, -1, -2, -3, -4]);
    const out = await runCaffeInOpenCV(prototxt, w, [{ name: 'a', tensor: a }, { name: 'img', tensor: img }], ['fc', 'flat', 'sum']);
    expect(out.get('fc')).toEqual(t([2, 2], [6, -0.5, 5, -0.5]));
    expect(out.get('flat')).toEqual(t([2, 1], [5, -1]));
    expect(out.get('sum')).toEqual(t([2, 2], [3, -0.25, 2.5, -0.25]));
  });

  it('reports unknown blobs, unsupported layers and bad nets as OpenCVError', async () => {
    const input = [{ name: 'data', tensor: INPUT }];
    await expect(runCaffeInOpenCV(PROTOTXT, WEIGHTS, input, ['nope'])).rejects.toThrow(/no blob named 'nope'/);
    const bias = PROTOTXT + 'layer { name: "b" type: "Bias" bottom: "row0" top: "b" }\n';
    const wb = caffemodel([
      { name: 'conv', blobs: [{ shape: [2, 1, 2, 2], data: [1, 0, 0, -1, 0.5, 0.5, 0.5, 0.5] }, { shape: [2], data: [0.1, -10] }] },
      { name: 'b', blobs: [{ shape: [1], data: [1] }] },
    ]);
    await expect(runCaffeInOpenCV(bias, wb, input, ['b'])).rejects.toThrow(/Can't create layer "b" of type "Bias"/);
    const err = await runCaffeInOpenCV('layer { name: "x" type: "Input" top: "x" ', WEIGHTS, input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenCVError);
    // the Emscripten heap files are cleaned up after failures too
    const cv = (await loadOpenCV()) as unknown as { FS: { readdir(p: string): string[] } };
    expect(cv.FS.readdir('/').filter((f) => f.startsWith('keras2caffe-'))).toEqual([]);
  });
});

// Facts about this OpenCV build that the "opencv" target profile relies on (the table at the top of
// src/verify/opencvNet.ts; the comparisons with real Caffe behind it were made with the oracle).
describe('this OpenCV build', () => {
  const x = t([1, 2, 2, 2], [-1, -0.75, -0.5, -0.25, 0.5, 1, 2, 4]);
  const net = (layer: string) => `input: "data"\ninput_shape { dim: 1 dim: 2 dim: 2 dim: 2 }\n${layer}\n`;
  const run = (layer: string, weights: Uint8Array = new Uint8Array(0), blobs = ['out']) =>
    runCaffeInOpenCV(net(layer), weights, [{ name: 'data', tensor: x }], blobs);

  it('cannot create Bias, Clip, Threshold, Reduction, ArgMax or Python layers', async () => {
    for (const [type, param] of [
      ['Bias', ''],
      ['Clip', 'clip_param { min: 0 max: 1 }'],
      ['Threshold', ''],
      ['Reduction', ''],
      ['ArgMax', ''],
      ['Python', 'python_param { module: "m" layer: "L" }'],
    ]) {
      const w = type === 'Bias' ? caffemodel([{ name: 'l', blobs: [{ shape: [2], data: [1, 2] }] }]) : undefined;
      await expect(run(`layer { name: "l" type: "${type}" bottom: "data" top: "out" ${param} }`, w)).rejects.toThrow(/Can't create layer/);
    }
  });

  it('runs ReLU6, Swish (beta 1) and Permute', async () => {
    expect(round((await run('layer { name: "r" type: "ReLU6" bottom: "data" top: "out" }')).get('out')!.data)).toEqual([0, 0, 0, 0, 0.5, 1, 2, 4]);
    const sw = (await run('layer { name: "s" type: "Swish" bottom: "data" top: "out" }')).get('out')!;
    expect(round(sw.data)).toEqual(round(x.data.map((v) => v / (1 + Math.exp(-v)))));
    const p = (await run('layer { name: "p" type: "Permute" bottom: "data" top: "out" permute_param { order: 0 order: 2 order: 3 order: 1 } }')).get('out')!;
    expect(p.shape).toEqual([1, 2, 2, 2]);
    expect(Array.from(p.data)).toEqual([-1, 0.5, -0.75, 1, -0.5, 2, -0.25, 4]);
  });

  it('ignores Log scale/shift/base, InnerProduct transpose and Swish beta', async () => {
    const pos = 'layer { name: "a" type: "AbsVal" bottom: "data" top: "a" }\n';
    const log = (await run(pos + 'layer { name: "l" type: "Log" bottom: "a" top: "out" log_param { base: 10 scale: 2 shift: 1 } }')).get('out')!;
    expect(round(log.data)).toEqual(round(x.data.map((v) => Math.log(Math.abs(v))))); // Caffe: log10(2|x| + 1)
    const sw = (await run('layer { name: "s" type: "Swish" bottom: "data" top: "out" swish_param { beta: 2 } }')).get('out')!;
    expect(round(sw.data)).toEqual(round(x.data.map((v) => v / (1 + Math.exp(-v))))); // Caffe: x * sigmoid(2x)
    const w = caffemodel([{ name: 'fc', blobs: [{ shape: [8, 2], data: [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }] }]);
    const fc = (await run('layer { name: "fc" type: "InnerProduct" bottom: "data" top: "out" inner_product_param { num_output: 2 bias_term: false transpose: true } }', w)).get('out')!;
    // the [8, 2] blob read as 2x8 (no transpose): out = [x0 + x3, 0]; Caffe's transpose gives [x0, x1] = [-1, -0.75]
    expect(Array.from(fc.data)).toEqual([-1.25, 0]);
  });

  it('fails on Pooling round_mode and on Slice without slice_point', async () => {
    await expect(run('layer { name: "p" type: "Pooling" bottom: "data" top: "out" pooling_param { pool: MAX kernel_size: 2 round_mode: FLOOR } }')).rejects.toThrow(/kernel/);
    await expect(run('layer { name: "s" type: "Slice" bottom: "data" top: "out" top: "o2" slice_param { axis: 1 } }')).rejects.toThrow(/splits/);
    const ok = await run('layer { name: "s" type: "Slice" bottom: "data" top: "out" top: "o2" slice_param { axis: 1 slice_point: 1 } }', undefined, ['out', 'o2']);
    expect(Array.from(ok.get('o2')!.data)).toEqual([0.5, 1, 2, 4]);
  });

  it('finds layers it renames: Convolutions (named after their top) and repeated names', async () => {
    const w = caffemodel([{ name: 'c', blobs: [{ shape: [1, 2, 1, 1], data: [1, 1] }] }]);
    const conv = 'layer { name: "c" type: "Convolution" bottom: "data" top: "t" convolution_param { num_output: 1 kernel_size: 1 bias_term: false } }\n';
    const out = await run(conv + 'layer { name: "d" type: "AbsVal" bottom: "t" top: "out" }\nlayer { name: "d" type: "TanH" bottom: "out" top: "o2" }', w, ['t', '@c', 'out', 'o2']);
    expect(Array.from(out.get('t')!.data)).toEqual([-0.5, 0.25, 1.5, 3.75]);
    expect(out.get('@c')).toEqual(out.get('t'));
    expect(Array.from(out.get('out')!.data)).toEqual([0.5, 0.25, 1.5, 3.75]);
    expect(round(out.get('o2')!.data)).toEqual(round(Float32Array.from([0.5, 0.25, 1.5, 3.75].map(Math.tanh))));
  });
});

describeOracle('real Caffe (oracle) on the same tiny net', () => {
  const dir = join(repoRoot(), '.cache', 'test-verify-opencv');
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tiny.prototxt'), PROTOTXT);
    writeFileSync(join(dir, 'tiny.caffemodel'), WEIGHTS);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the hand-computed numbers, like OpenCV', async () => {
    const caffe = await runCaffeInOracle(join(dir, 'tiny.prototxt'), join(dir, 'tiny.caffemodel'), [INPUT]);
    expect([...caffe.keys()].sort()).toEqual(['conv_out', 'row0', 'rows12']);
    expect(caffe.get('conv_out')!.shape).toEqual([1, 2, 2, 2]);
    expect(round(caffe.get('conv_out')!.data)).toEqual(POST_RELU);
    const cv = await runCaffeInOpenCV(PROTOTXT, WEIGHTS, [{ name: 'data', tensor: INPUT }]);
    for (const [k, v] of caffe) {
      expect(cv.get(k)!.shape).toEqual(v.shape);
      expect(round(cv.get(k)!.data)).toEqual(round(v.data));
    }
  });

  it('returns every blob with allBlobs (in-place blobs hold their last writer) and cleans up', async () => {
    const all = await runCaffeInOracle(join(dir, 'tiny.prototxt'), join(dir, 'tiny.caffemodel'), [INPUT], { allBlobs: true });
    // Caffe also reports the blobs of the Split layers it inserts for a blob with several consumers
    expect([...all.keys()].filter((k) => !/_split_\d+$/.test(k)).sort()).toEqual(['conv_out', 'data', 'row0', 'rows12']);
    expect(all.get('data_data_0_split_0')).toEqual(INPUT);
    expect(all.get('data')).toEqual(INPUT);
    expect(round(all.get('conv_out')!.data)).toEqual(POST_RELU);
    const tmp = join(repoRoot(), '.cache', 'oracle-tmp');
    expect(readdirSync(tmp).filter((f) => f.startsWith(`${process.pid}-`))).toEqual([]);
  });

  it("surfaces Caffe's error output when the net does not load", async () => {
    const bad = caffemodel([{ name: 'conv', blobs: [{ shape: [3, 1, 2, 2], data: new Array(12).fill(0) }, { shape: [3], data: [0, 0, 0] }] }]);
    writeFileSync(join(dir, 'bad.caffemodel'), bad);
    await expect(runCaffeInOracle(join(dir, 'tiny.prototxt'), join(dir, 'bad.caffemodel'), [INPUT])).rejects.toThrow(
      /Caffe oracle failed \(exit code \d+\)[\s\S]*shape mismatch/,
    );
  });
});
