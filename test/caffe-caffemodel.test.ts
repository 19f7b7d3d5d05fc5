import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../src/core/tensor.js';
import { encodeCaffemodel, streamCaffemodel, writeCaffemodel } from '../src/caffe/caffemodel.js';
import { openAtomic } from '../src/caffe/atomicWrite.js';
import type { CaffeLayer, CaffeNet } from '../src/caffe/net.js';
import { caffeProto } from '../src/caffe/proto.js';

function randomTensor(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32 - 0.5) * 4;
  }
  return { shape, data };
}

function lazy(...tensors: Tensor[]): Pick<CaffeLayer, 'blobs' | 'blobShapes'> {
  return { blobs: () => tensors, blobShapes: tensors.map((t) => t.shape) };
}

function testNet(): CaffeNet {
  const special = new Float32Array([0, -0, Infinity, -Infinity, 1.401298464324817e-45, 3.4028234663852886e38, -1.5]);
  return {
    name: 'model "é"',
    layers: [
      { name: 'data', type: 'Input', bottom: [], top: ['data'], params: { input_param: { shape: [{ dim: [1, 2, 4, 4] }] } } },
      {
        name: 'conv',
        type: 'Convolution',
        bottom: ['data'],
        top: ['conv'],
        params: { convolution_param: { num_output: 3, bias_term: true, kernel_size: [3], pad: [1], stride: [1] } },
        ...lazy(randomTensor([3, 2, 3, 3], 1), randomTensor([3], 2)),
      },
      {
        name: 'bn',
        type: 'BatchNorm',
        bottom: ['conv'],
        top: ['bn'],
        params: { batch_norm_param: { use_global_stats: true, eps: 0.001 } },
        ...lazy(randomTensor([3], 3), { shape: [3], data: new Float32Array([1, 2, 3]) }, { shape: [1], data: new Float32Array([1]) }),
      },
      { name: 'relu', type: 'ReLU', bottom: ['bn'], top: ['bn'] },
      {
        name: 'pool',
        type: 'Pooling',
        bottom: ['bn'],
        top: ['pool'],
        params: { pooling_param: { pool: 'AVE', kernel_size: 2, stride: 2, round_mode: 'FLOOR' } },
      },
      {
        name: 'odd',
        type: 'Parameter',
        bottom: [],
        top: ['odd'],
        // a scalar blob, an empty blob, and special values
        ...lazy({ shape: [], data: new Float32Array([42]) }, { shape: [0, 5], data: new Float32Array(0) }, { shape: [7], data: special }),
      },
      {
        name: 'fc',
        type: 'InnerProduct',
        bottom: ['pool'],
        top: ['fc'],
        params: { inner_product_param: { num_output: 5 } },
        ...lazy(randomTensor([5, 12], 4), randomTensor([5], 5)),
      },
    ],
  };
}

function bits(a: ArrayLike<number>): number[] {
  return Array.from(new Uint32Array(Float32Array.from(a).buffer));
}

interface DecodedLayer {
  name: string;
  type: string;
  bottom?: string[];
  top?: string[];
  blobs?: { shape?: { dim?: number[] }; data?: number[] }[];
  [k: string]: unknown;
}

function decode(bytes: Uint8Array): { name: string; layer: DecodedLayer[] } {
  const { NetParameter } = caffeProto();
  const msg = NetParameter.decode(bytes);
  return NetParameter.toObject(msg, { longs: Number, enums: String }) as { name: string; layer: DecodedLayer[] };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'k2c-caffemodel-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('encodeCaffemodel', () => {
  it('decodes with protobufjs to the same names, params, shapes and bit-exact data', () => {
    const net = testNet();
    const decoded = decode(encodeCaffemodel(net));
    expect(decoded.name).toBe('model "é"');
    expect(decoded.layer.map((l) => l.name)).toEqual(net.layers.map((l) => l.name));
    for (const [i, layer] of net.layers.entries()) {
      const d = decoded.layer[i];
      expect(d.type).toBe(layer.type);
      expect(d.bottom ?? []).toEqual(layer.bottom);
      expect(d.top ?? []).toEqual(layer.top);
      const blobs = layer.blobs ? layer.blobs() : [];
      expect(d.blobs?.length ?? 0).toBe(blobs.length);
      blobs.forEach((t, k) => {
        const b = d.blobs![k];
        expect(b.shape?.dim ?? []).toEqual(t.shape);
        expect(bits(b.data ?? [])).toEqual(bits(t.data));
      });
    }
    expect(decoded.layer[1].convolution_param).toEqual({ num_output: 3, bias_term: true, kernel_size: [3], pad: [1], stride: [1] });
    expect(decoded.layer[2].batch_norm_param).toEqual({ use_global_stats: true, eps: Math.fround(0.001) });
    expect(decoded.layer[4].pooling_param).toEqual({ pool: 'AVE', kernel_size: 2, stride: 2, round_mode: 'FLOOR' });
    expect(decoded.layer[0].input_param).toEqual({ shape: [{ dim: [1, 2, 4, 4] }] });
  });

  it('produces canonical protobuf bytes (protobufjs re-encodes them identically)', () => {
    const bytes = encodeCaffemodel(testNet());
    const { NetParameter } = caffeProto();
    const again = NetParameter.encode(NetParameter.decode(bytes)).finish();
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it('copies the float bytes as they are (NaN payloads included)', () => {
    const raw = new Uint32Array([0x7fc00001, 0xffbfffff, 0x3f800000, 0x00000001]);
    const t: Tensor = { shape: [4], data: new Float32Array(raw.buffer) };
    const bytes = Buffer.from(
      encodeCaffemodel({ name: 'n', layers: [{ name: 'p', type: 'Parameter', bottom: [], top: ['p'], blobs: () => [t] }] }),
    );
    expect(bytes.indexOf(Buffer.from(raw.buffer))).toBeGreaterThan(0);
  });

  it('encodes a 1M-float blob correctly (also when the Float32Array is a view)', () => {
    const n = 1 << 20;
    const backing = new Float32Array(n + 8);
    for (let i = 0; i < backing.length; i++) backing[i] = Math.sin(i) * 1000;
    const data = backing.subarray(3, 3 + n);
    const t: Tensor = { shape: [1024, 32, 32], data };
    const net: CaffeNet = { name: 'big', layers: [{ name: 'w', type: 'Parameter', bottom: [], top: ['w'], blobs: () => [t] }] };
    const bytes = encodeCaffemodel(net);
    expect(bytes.byteLength).toBeGreaterThan(4 * n);
    const d = decode(bytes).layer[0].blobs![0];
    expect(d.shape?.dim).toEqual([1024, 32, 32]);
    expect(d.data!.length).toBe(n);
    const got = Float32Array.from(d.data!);
    expect(Buffer.from(got.buffer).equals(Buffer.from(data.buffer, data.byteOffset, data.byteLength))).toBe(true);
  });

  it('rejects blobs that do not match their shape or blobShapes, naming the layer', () => {
    const bad = (layer: Partial<CaffeLayer>) =>
      encodeCaffemodel({ name: 'n', layers: [{ name: 'L', type: 'Convolution', bottom: ['a'], top: ['b'], ...layer }] });
    expect(() => bad({ blobs: () => [{ shape: [2, 3], data: new Float32Array(5) }] })).toThrow(
      /layer 'L' \(Convolution\): blob 0: shape \[2,3\] needs 6 values, data has 5/,
    );
    expect(() => bad({ blobs: () => [{ shape: [6], data: new Float32Array(6) }], blobShapes: [[2, 3]] })).toThrow(
      /blob 0: shape \[6\] differs from blobShapes \[2,3\]/,
    );
    expect(() => bad({ blobs: () => [], blobShapes: [[1]] })).toThrow(/blobs\(\) returned 0 blobs, blobShapes lists 1/);
    expect(() => bad({ blobs: () => [{ shape: [2], data: [1, 2] as unknown as Float32Array }] })).toThrow(/Float32Array/);
    expect(() => bad({ params: { convolution_param: { nope: 1 } } })).toThrow(/layer 'L' \(Convolution\): convolution_param\.nope/);
  });
});

describe('writeCaffemodel', () => {
  it('streams the same bytes as encodeCaffemodel, one layer at a time', async () => {
    const net = testNet();
    const expected = encodeCaffemodel(net);
    const events: string[] = [];
    const watched: CaffeNet = {
      name: net.name,
      layers: net.layers.map((l) => ({
        ...l,
        blobs: l.blobs
          ? () => {
              events.push(`blobs:${l.name}`);
              return l.blobs!();
            }
          : undefined,
      })),
    };
    const path = join(dir, 'model.caffemodel');
    const progress: [number, number, number][] = [];
    const res = await writeCaffemodel(watched, path, (done, total, bytes) => {
      progress.push([done, total, bytes]);
      events.push(`done:${done}`);
    });
    const written = await readFile(path);
    expect(written.equals(Buffer.from(expected))).toBe(true);
    expect(res.bytes).toBe(expected.byteLength);
    expect(progress.map((p) => p[0])).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(progress.every((p) => p[1] === 7)).toBe(true);
    expect(progress.at(-1)![2]).toBe(expected.byteLength);
    for (let i = 1; i < progress.length; i++) expect(progress[i][2]).toBeGreaterThanOrEqual(progress[i - 1][2]);
    // blobs() is called once per layer, each only after the previous layer was written
    expect(events).toEqual([
      'done:1',
      'blobs:conv',
      'done:2',
      'blobs:bn',
      'done:3',
      'done:4',
      'done:5',
      'blobs:odd',
      'done:6',
      'blobs:fc',
      'done:7',
    ]);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes a 1M-float model to disk', async () => {
    const t = randomTensor([1 << 20], 9);
    const net: CaffeNet = { name: 'big', layers: [{ name: 'w', type: 'Parameter', bottom: [], top: ['w'], blobs: () => [t] }] };
    const path = join(dir, 'big.caffemodel');
    const { bytes } = await writeCaffemodel(net, path);
    const file = await readFile(path);
    expect(file.length).toBe(bytes);
    expect(file.equals(Buffer.from(encodeCaffemodel(net)))).toBe(true);
  });

  it('streamCaffemodel writes the same bytes into any sink (or an open AtomicFile)', async () => {
    const net = testNet();
    const expected = Buffer.from(encodeCaffemodel(net));
    const parts: Uint8Array[] = [];
    const res = await streamCaffemodel(net, { write: async (d) => void parts.push(Buffer.from(d)) });
    expect(Buffer.concat(parts).equals(expected)).toBe(true);
    expect(res.bytes).toBe(expected.length);

    const path = join(dir, 'sink.caffemodel');
    const file = await openAtomic(path);
    const r2 = await streamCaffemodel(net, file);
    await file.commit();
    expect(r2.bytes).toBe(expected.length);
    expect((await readFile(path)).equals(expected)).toBe(true);
  });
});
