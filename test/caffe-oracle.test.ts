/**
 * Checks against real BVLC Caffe (the reference environment of ../shared/oracle): our
 * caffe.proto against caffe_pb2's descriptors, and hand-built nets written by our writers,
 * loaded and run by Caffe. Skipped (with a warning) when the oracle is not set up.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as pb from 'protobufjs';
import protobuf from '../src/caffe/protobufjs.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../src/core/tensor.js';
import { encodeCaffemodel, writeCaffemodel } from '../src/caffe/caffemodel.js';
import type { CaffeNet } from '../src/caffe/net.js';
import { caffeProto } from '../src/caffe/proto.js';
import { writePrototxt } from '../src/caffe/prototxt.js';
import { readNpz, writeNpyF32, type NpyArray } from './helpers/npy-mini.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ORACLE_DIR = resolve(REPO, '../shared/oracle');
const RUN = join(ORACLE_DIR, 'run');
const ORACLE_ROOT = process.env.ORACLE_ROOT ?? join(homedir(), '.cache/caffe-oracle');
const ready = [join(ORACLE_ROOT, '.ready'), '/root/.cache/caffe-oracle/.ready'].some((p) => existsSync(p));
const haveOracle = ready && existsSync(RUN) && existsSync(join(ORACLE_DIR, 'caffe_forward.py'));
if (!haveOracle) {
  console.warn(
    `caffe-oracle tests skipped: reference environment not found (need ${join(ORACLE_ROOT, '.ready')} and ${RUN}; ` +
      'run ../shared/oracle/setup.sh)',
  );
}

const TIMEOUT = 180_000;
let work = '';

/** Runs `python3 SCRIPT ARGS` inside the oracle from the repo root; paths are repo-relative. */
function oracle(script: string, ...args: string[]): string {
  const rel = (p: string) => (p.startsWith('ALL:') ? 'ALL:' + relative(REPO, p.slice(4)) : relative(REPO, p));
  try {
    return execFileSync(RUN, ['python3', rel(script), ...args.map(rel)], {
      cwd: REPO,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`oracle failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

beforeAll(async () => {
  if (!haveOracle) return;
  work = join(REPO, '.cache', 'test-tmp', `caffe-oracle-${process.pid}-${Date.now().toString(36)}`);
  await mkdir(work, { recursive: true });
  // `run` only sees the folder it starts from: caffe_forward.py must be copied below it.
  await copyFile(join(ORACLE_DIR, 'caffe_forward.py'), join(work, 'caffe_forward.py'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

function seeded(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 2 * scale;
  }
  return out;
}

function t(shape: number[], data: Float32Array): Tensor {
  return { shape, data };
}

function expectClose(got: NpyArray | undefined, shape: number[], want: ArrayLike<number>, what: string): void {
  expect(got, what).toBeDefined();
  expect(got!.shape, what).toEqual(shape);
  expect(got!.data.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = 2e-5 + 2e-5 * Math.abs(want[i]);
    if (!(Math.abs(got!.data[i] - want[i]) <= tol)) {
      throw new Error(`${what}[${i}]: Caffe gave ${got!.data[i]}, expected ${want[i]}`);
    }
  }
}

describe('real Caffe', () => {
  it.skipIf(!haveOracle)(
    'our caffe.proto matches caffe_pb2 (numbers, types, labels, packed, defaults, enums)',
    async () => {
      const { root } = caffeProto();
      const ns = root.lookup('caffe') as pb.Namespace;
      const types = ns.nestedArray.filter((x): x is pb.Type => x instanceof protobuf.Type);
      const bvlc = types.filter((x) => x.name !== 'PermuteParameter');
      expect(types.length).toBeGreaterThan(30);
      await writeFile(join(work, 'messages.json'), JSON.stringify(bvlc.map((x) => x.name)));
      await writeFile(
        join(work, 'descr.py'),
        `import json, sys
import caffe.proto.caffe_pb2 as p
out = {}
for m in json.load(open(sys.argv[1])):
    d = getattr(p, m).DESCRIPTOR
    fields = {}
    for f in d.fields:
        o = f.GetOptions()
        fields[f.name] = dict(number=f.number, type=f.type, label=f.label,
            packed=(o.packed if o.HasField('packed') else None), has_default=f.has_default_value,
            default=(f.default_value if f.has_default_value and f.label != 3 else None),
            type_name=(f.message_type.name if f.message_type else f.enum_type.name if f.enum_type else None))
    out[m] = dict(fields=fields, enums={e.name: {v.name: v.number for v in e.values} for e in d.enum_types})
out['Phase'] = dict(enum={v.name: v.number for v in p.DESCRIPTOR.enum_types_by_name['Phase'].values})
json.dump(out, open(sys.argv[2], 'w'))
`,
      );
      oracle(join(work, 'descr.py'), join(work, 'messages.json'), join(work, 'descr.json'));
      const real = JSON.parse(await readFile(join(work, 'descr.json'), 'utf8')) as Record<
        string,
        {
          fields: Record<string, { number: number; type: number; label: number; packed: boolean | null; has_default: boolean; default: unknown; type_name: string | null }>;
          enums: Record<string, Record<string, number>>;
          enum?: Record<string, number>;
        }
      >;
      const TYPE: Record<string, number> = { double: 1, float: 2, int64: 3, uint64: 4, int32: 5, bool: 8, string: 9, uint32: 13 };
      let checked = 0;
      for (const type of bvlc) {
        const r = real[type.name];
        for (const f of type.fieldsArray) {
          if (type.name === 'LayerParameter' && f.name === 'permute_param') continue;
          const rf = r.fields[f.name];
          const where = `${type.name}.${f.name}`;
          expect(rf, `${where} exists in BVLC`).toBeDefined();
          expect(f.id, where).toBe(rf.number);
          expect(f.repeated ? 3 : f.required ? 2 : 1, `${where} label`).toBe(rf.label);
          if (f.resolvedType instanceof protobuf.Type) {
            expect([11, f.resolvedType.name], where).toEqual([rf.type, rf.type_name]);
          } else if (f.resolvedType instanceof protobuf.Enum) {
            expect([14, f.resolvedType.name], where).toEqual([rf.type, rf.type_name]);
          } else {
            expect(TYPE[f.type], `${where} type`).toBe(rf.type);
          }
          expect(f.options?.packed ?? null, `${where} packed`).toBe(rf.packed);
          const def = f.options?.default as unknown;
          expect(def !== undefined, `${where} has default`).toBe(rf.has_default);
          if (rf.has_default) {
            if (f.resolvedType instanceof protobuf.Enum) expect(f.resolvedType.values[def as string], where).toBe(rf.default);
            else if (f.type === 'float') expect(Math.fround(def as number), where).toBe(rf.default);
            else expect(def, where).toBe(rf.default);
          }
          checked++;
        }
        for (const e of Object.values(type.nested ?? {})) {
          if (e instanceof protobuf.Enum) expect(e.values, `${type.name}.${e.name}`).toEqual(r.enums[e.name]);
        }
      }
      expect((root.lookupEnum('caffe.Phase') as pb.Enum).values).toEqual(real.Phase.enum);
      expect(checked).toBeGreaterThan(150);
      // the non-BVLC extension really is absent from BVLC
      expect(real.LayerParameter.fields.permute_param).toBeUndefined();
    },
    TIMEOUT,
  );

  it.skipIf(!haveOracle)(
    'loads and runs a hand-built net; every blob matches a hand computation',
    async () => {
      const C = 2, H = 4, W = 4, O = 3, F = 4;
      const x = seeded(C * H * W, 11);
      const wc = seeded(O * C * 9, 12, 0.5);
      const bc = seeded(O, 13, 0.2);
      const mean = seeded(O, 14, 0.3);
      const variance = Float32Array.from(seeded(O, 15), (v) => Math.fround(0.5 + Math.abs(v)));
      const sf = 2; // BatchNorm's moving-average factor: Caffe divides mean and variance by it
      const eps = Math.fround(0.001);
      const gamma = seeded(O, 16, 1.5);
      const beta = seeded(O, 17, 0.5);
      const wf = seeded(F * O, 18);
      const bf = seeded(F, 19, 0.1);
      const slope = Math.fround(0.1);

      const net: CaffeNet = {
        name: 'oracle_tiny',
        layers: [
          { name: 'data', type: 'Input', bottom: [], top: ['data'], params: { input_param: { shape: [{ dim: [1, C, H, W] }] } } },
          {
            name: 'conv',
            type: 'Convolution',
            bottom: ['data'],
            top: ['conv'],
            params: { convolution_param: { num_output: O, kernel_size: [3], pad: [1], stride: [1] } },
            blobs: () => [t([O, C, 3, 3], wc), t([O], bc)],
            blobShapes: [[O, C, 3, 3], [O]],
          },
          {
            name: 'bn',
            type: 'BatchNorm',
            bottom: ['conv'],
            top: ['bn'],
            params: { batch_norm_param: { use_global_stats: true, eps: 0.001 } },
            blobs: () => [
              t([O], Float32Array.from(mean, (v) => v * sf)),
              t([O], Float32Array.from(variance, (v) => v * sf)),
              t([1], new Float32Array([sf])),
            ],
          },
          {
            name: 'sc',
            type: 'Scale',
            bottom: ['bn'],
            top: ['sc'],
            params: { scale_param: { bias_term: true } },
            blobs: () => [t([O], gamma), t([O], beta)],
          },
          { name: 'relu', type: 'ReLU', bottom: ['sc'], top: ['relu'], params: { relu_param: { negative_slope: 0.1 } } },
          {
            name: 'pool',
            type: 'Pooling',
            bottom: ['relu'],
            top: ['pool'],
            // 4x4, kernel 3, stride 2: CEIL would give 2x2, FLOOR gives 1x1
            params: { pooling_param: { pool: 'MAX', kernel_size: 3, stride: 2, round_mode: 'FLOOR' } },
          },
          {
            name: 'fc',
            type: 'InnerProduct',
            bottom: ['pool'],
            top: ['fc'],
            params: { inner_product_param: { num_output: F } },
            blobs: () => [t([F, O], wf), t([F], bf)],
          },
          { name: 'prob', type: 'Softmax', bottom: ['fc'], top: ['prob'] },
        ],
      };

      // by hand, in double precision
      const conv = new Float64Array(O * H * W);
      for (let o = 0; o < O; o++)
        for (let yy = 0; yy < H; yy++)
          for (let xx = 0; xx < W; xx++) {
            let s = bc[o];
            for (let c = 0; c < C; c++)
              for (let ky = 0; ky < 3; ky++)
                for (let kx = 0; kx < 3; kx++) {
                  const iy = yy + ky - 1, ix = xx + kx - 1;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  s += wc[((o * C + c) * 3 + ky) * 3 + kx] * x[(c * H + iy) * W + ix];
                }
            conv[(o * H + yy) * W + xx] = s;
          }
      const per = (a: Float64Array, f: (v: number, o: number) => number) => a.map((v, i) => f(v, Math.floor(i / (H * W))));
      const bn = per(conv, (v, o) => (v - mean[o]) / Math.sqrt(variance[o] + eps));
      const sc = per(bn, (v, o) => v * gamma[o] + beta[o]);
      const relu = sc.map((v) => (v > 0 ? v : v * slope));
      const pool = new Float64Array(O);
      for (let o = 0; o < O; o++) {
        let m = -Infinity;
        for (let yy = 0; yy < 3; yy++) for (let xx = 0; xx < 3; xx++) m = Math.max(m, relu[(o * H + yy) * W + xx]);
        pool[o] = m;
      }
      const fc = new Float64Array(F);
      for (let f = 0; f < F; f++) {
        let s = bf[f];
        for (let i = 0; i < O; i++) s += wf[f * O + i] * pool[i];
        fc[f] = s;
      }
      const mx = Math.max(...fc);
      const ex = fc.map((v) => Math.exp(v - mx));
      const sum = ex.reduce((a, b) => a + b, 0);
      const prob = ex.map((v) => v / sum);

      await writeFile(join(work, 'net.prototxt'), writePrototxt(net));
      await writeCaffemodel(net, join(work, 'net.caffemodel'));
      await writeFile(join(work, 'in.npy'), writeNpyF32([1, C, H, W], x));
      const stdout = oracle(
        join(work, 'caffe_forward.py'),
        join(work, 'net.prototxt'),
        join(work, 'net.caffemodel'),
        'ALL:' + join(work, 'out.npz'),
        join(work, 'in.npy'),
      );
      expect(stdout).toContain('prob (1, 4)');
      const out = readNpz(await readFile(join(work, 'out.npz')));
      expectClose(out.get('prob'), [1, F], prob, 'prob');
      expectClose(out.get('__all__/conv'), [1, O, H, W], conv, 'conv');
      expectClose(out.get('__all__/bn'), [1, O, H, W], bn, 'bn');
      expectClose(out.get('__all__/sc'), [1, O, H, W], sc, 'sc');
      expectClose(out.get('__all__/relu'), [1, O, H, W], relu, 'relu');
      expectClose(out.get('__all__/pool'), [1, O, 1, 1], pool, 'pool');
      expectClose(out.get('__all__/fc'), [1, F], fc, 'fc');
    },
    TIMEOUT,
  );

  it.skipIf(!haveOracle)(
    "reads escaped names (quotes, backslash, newline, tab, spaces, unicode) and inf/-0 back exactly",
    async () => {
      const weird = 'pre "q" \\ b\nc\td é 中😀';
      const slopes = new Float32Array([0.5, 0.25, 2, -1]);
      const net: CaffeNet = {
        name: 'names ✓ "x"',
        layers: [
          { name: 'in', type: 'Input', bottom: [], top: ['x'], params: { input_param: { shape: [{ dim: [1, 4] }] } } },
          // PReLU has a blob: Caffe copies weights by layer name, so the caffemodel's name must match
          {
            name: weird,
            type: 'PReLU',
            bottom: ['x'],
            top: ['y'],
            params: { prelu_param: { channel_shared: false } },
            blobs: () => [t([4], slopes)],
          },
          { name: 'clip é', type: 'Clip', bottom: ['y'], top: ['z'], params: { clip_param: { min: -Infinity, max: 1.5 } } },
          { name: 'pow', type: 'Power', bottom: ['z'], top: ['out'], params: { power_param: { scale: 0.1, shift: -0 } } },
        ],
      };
      const text = writePrototxt(net);
      expect(text).toContain('name: "pre \\"q\\" \\\\ b\\nc\\td \\303\\251 \\344\\270\\255\\360\\237\\230\\200"');
      expect(text).toContain('min: -inf');
      await writeFile(join(work, 'names.prototxt'), text);
      await writeFile(join(work, 'names.caffemodel'), encodeCaffemodel(net));
      const xin = new Float32Array([-4, -2, 1, 3]);
      await writeFile(join(work, 'names_in.npy'), writeNpyF32([1, 4], xin));
      oracle(
        join(work, 'caffe_forward.py'),
        join(work, 'names.prototxt'),
        join(work, 'names.caffemodel'),
        join(work, 'names_out.npz'),
        join(work, 'names_in.npy'),
      );
      const want = Array.from(xin, (v, i) => 0.1 * Math.min(1.5, v > 0 ? v : v * slopes[i]));
      expectClose(readNpz(await readFile(join(work, 'names_out.npz'))).get('out'), [1, 4], want, 'out');

      await writeFile(
        join(work, 'names.py'),
        `import json, sys
import caffe
from caffe.proto import caffe_pb2
net = caffe.Net(sys.argv[1], sys.argv[2], caffe.TEST)
p = caffe_pb2.NetParameter()
p.ParseFromString(open(sys.argv[2], 'rb').read())
json.dump(dict(layers=list(net._layer_names), model_name=p.name, model_layers=[l.name for l in p.layer]), open(sys.argv[3], 'w'))
`,
      );
      oracle(join(work, 'names.py'), join(work, 'names.prototxt'), join(work, 'names.caffemodel'), join(work, 'names.json'));
      const got = JSON.parse(await readFile(join(work, 'names.json'), 'utf8')) as {
        layers: string[];
        model_name: string;
        model_layers: string[];
      };
      expect(got.layers).toEqual(['in', weird, 'clip é', 'pow']);
      expect(got.model_layers).toEqual(['in', weird, 'clip é', 'pow']);
      expect(got.model_name).toBe('names ✓ "x"');
    },
    TIMEOUT,
  );
});
