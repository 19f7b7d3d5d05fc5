/**
 * `keras2caffe verify MODEL.h5 NET.prototxt NET.caffemodel` and `convert --verify`, as a user runs
 * them (the real executable): exit codes 0 / 3 / 2, the table, --json, --input.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { decodePng, netInfo, OPENCV_MAX_CAFFEMODEL_BYTES, randomInput, resizeBilinear, verifyPair } from '../src/verify/verify.js';
import { buildKerasGraph } from '../src/keras/modelGraph.js';
import { buildNet, planConversion } from '../src/core/planner.js';
import { writePrototxt } from '../src/caffe/prototxt.js';
import { encodeCaffemodel } from '../src/caffe/caffemodel.js';
import { tensor } from '../src/core/tensor.js';
import { fakeKerasH5, functionalModel, input, layer, seededValues } from './helpers/fakeKeras.js';
import { compareValues, kerasInCaffeOrder } from '../src/verify/compare.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'keras2caffe.js');
const FIX = join(ROOT, 'fixtures', 'models');
const model = (n: string) => join(FIX, `${n}.h5`);

function ensureBuilt(): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (existsSync(join(ROOT, 'dist', 'cli', 'verifyCommand.js')) && existsSync(join(ROOT, 'dist', 'verify', 'verify.js'))) return;
    spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  }
  throw new Error('dist/ could not be built (tsc -p tsconfig.json)');
}

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** A minimal RGB 8-bit PNG (filter 0 on every row). */
function encodePng(w: number, h: number, rgb: Uint8Array): Buffer {
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    Buffer.from(data).copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc(h * (w * 3 + 1));
  for (let y = 0; y < h; y++) Buffer.from(rgb.subarray(y * w * 3, (y + 1) * w * 3)).copy(raw, y * (w * 3 + 1) + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

describe('verify building blocks', () => {
  it('decodes a PNG to RGBA 0..255 and resizes bilinearly on pixel centres', () => {
    const rgb = Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => (i * 37) % 256);
    const img = decodePng(encodePng(4, 2, rgb));
    expect(img.shape).toEqual([2, 4, 4]);
    for (let p = 0; p < 8; p++) {
      expect([...img.data.subarray(p * 4, p * 4 + 3)]).toEqual([...rgb.subarray(p * 3, p * 3 + 3)]);
      expect(img.data[p * 4 + 3]).toBe(255);
    }
    // 2x upsampling of [0, 10]: centres at -0.25, 0.25, 0.75, 1.25 → clamp, 2.5, 7.5, clamp
    const row = resizeBilinear({ shape: [1, 2, 1], data: Float32Array.of(0, 10) }, 1, 4);
    expect([...row.data]).toEqual([0, 2.5, 7.5, 10]);
  });

  it('reads the inputs, tops and outputs of a prototxt', () => {
    const info = netInfo(
      'name: "n"\ninput: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n' +
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c" }\n' +
        'layer { name: "r" type: "ReLU" bottom: "c" top: "c" }\n' +
        'layer { name: "p" type: "Pooling" bottom: "c" top: "p\\303\\251" }\n',
    );
    expect(info.inputs).toEqual([{ name: 'data', dims: [1, 3, 8, 8] }]);
    expect(info.tops).toEqual(['c', 'pé']);
    expect(info.outputs).toEqual(['pé']);
  });

  it('seeded random inputs are reproducible and in [-1, 1)', () => {
    const a = randomInput([4, 4, 3], 1);
    const b = randomInput([4, 4, 3], 1);
    expect([...a.data]).toEqual([...b.data]);
    expect(a.data.every((v) => v >= -1 && v < 1)).toBe(true);
    expect(compareValues(a.data, randomInput([4, 4, 3], 2).data).maxAbs).toBeGreaterThan(0.1);
    // HWC → CHW
    expect([...kerasInCaffeOrder({ shape: [1, 2, 2], data: Float32Array.of(1, 2, 3, 4) }, { kind: 'nchw' })!]).toEqual([1, 3, 2, 4]);
  });
});

describe('verifyPair (any Keras/Caffe pair, matched by name)', () => {
  const rnd = (shape: number[], seed: number, scale = 0.5) => tensor(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed, scale));
  const config = functionalModel([
    input('x', [5, 5, 2]),
    layer('c1', 'Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', activation: 'linear', use_bias: true }, ['x']),
    layer('r1', 'Activation', { activation: 'relu' }, ['c1']),
    layer('p', 'GlobalAveragePooling2D', {}, ['r1']),
    layer('d', 'Dense', { units: 4, activation: 'softmax', use_bias: true }, ['p']),
  ]);
  const file = fakeKerasH5({ c1: { kernel: rnd([3, 3, 2, 3], 1), bias: rnd([3], 2) }, d: { kernel: rnd([3, 4], 3), bias: rnd([4], 4) } }, { modelConfig: config });
  const plan = planConversion(buildKerasGraph(config), file, { target: 'caffe-1.0' });
  const net = buildNet(plan);

  it('compares a pair made elsewhere, with in-place layers (as many tools write them)', async () => {
    // rewrite the net as other converters do: ReLU in place on the convolution's blob
    const relu = net.layers.find((l) => l.type === 'ReLU' && l.name === 'r1')!;
    const convTop = relu.bottom[0];
    for (const l of net.layers) l.bottom = l.bottom.map((b) => (b === 'r1' ? convTop : b));
    relu.top = [convTop];
    const r = await verifyPair({ model: file, prototxt: writePrototxt(net), caffemodel: encodeCaffemodel(net) });
    expect(r.passed).toBe(true);
    // c1 is the convolution's own output, r1 the in-place ReLU's, both read from blob 'c1'
    const rows = Object.fromEntries(r.rows.map((x) => [x.name, x]));
    expect(rows.c1.blob).toBe(convTop);
    expect(rows.r1.blob).toBe(convTop);
    expect(rows.c1.passed && rows.r1.passed && rows.p.passed).toBe(true);
    expect(r.rows.at(-1)!.kind).toBe('output');
  });

  it('refuses at once a caffemodel too big for OpenCV.js, naming the size and the way out', async () => {
    // Zero-filled: the pages are never touched, so this costs no real memory.
    const huge = new Uint8Array(OPENCV_MAX_CAFFEMODEL_BYTES + 1);
    const started = performance.now();
    await expect(verifyPair({ model: file, prototxt: writePrototxt(net), caffemodel: huge, prototxtName: 'big.prototxt', caffemodelName: 'big.caffemodel' })).rejects.toThrow(
      /^big\.prototxt \+ big\.caffemodel: cannot verify in-process: its 450 MB caffemodel does not fit OpenCV\.js, .*\(450 MB at most\); check the net in native OpenCV DNN or Caffe$/,
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('reads a Keras conv with a fused activation from the blob after its in-place ReLU', async () => {
    const cfg = functionalModel([
      input('x', [5, 5, 2]),
      layer('c2', 'Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', activation: 'relu', use_bias: true }, ['x']),
      layer('g', 'GlobalMaxPooling2D', {}, ['c2']),
    ]);
    const f = fakeKerasH5({ c2: { kernel: rnd([3, 3, 2, 3], 5), bias: rnd([3], 6) } }, { modelConfig: cfg });
    const n = buildNet(planConversion(buildKerasGraph(cfg), f, { target: 'caffe-1.0' }));
    // as another tool writes it: Convolution "c2" → ReLU "c2_relu" in place on blob "c2"
    const conv = n.layers.find((l) => l.type === 'Convolution')!;
    const relu = n.layers.find((l) => l.type === 'ReLU')!;
    conv.name = 'c2';
    conv.top = ['c2'];
    relu.name = 'c2_relu';
    relu.bottom = ['c2'];
    relu.top = ['c2'];
    for (const l of n.layers) if (l !== relu && l !== conv) l.bottom = l.bottom.map((b) => (b === relu.top[0] || b.startsWith('c2') ? 'c2' : b));
    const r = await verifyPair({ model: f, prototxt: writePrototxt(n), caffemodel: encodeCaffemodel(n) });
    expect(r.passed).toBe(true);
    const row = r.rows.find((x) => x.name === 'c2')!;
    expect(row.passed).toBe(true);
    expect(row.note).toMatch(/after its in-place layers/);
  });
});

describe('keras2caffe verify (CLI)', () => {
  let dir = '';
  const have = (...names: string[]) => names.every((n) => existsSync(model(n)));
  /** Converts a fixture with the CLI into dir; returns the pair's paths. */
  const convert = (name: string) => {
    const out = join(dir, name);
    mkdirSync(out, { recursive: true });
    const r = run(['convert', model(name), '--out', out, '--yes', '--force']);
    expect(r.code, r.stderr).toBe(0);
    return { prototxt: join(out, `${name}.prototxt`), caffemodel: join(out, `${name}.caffemodel`) };
  };

  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'k2c-verify-'));
  });

  it('--help describes the command', () => {
    const r = run(['verify', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('keras2caffe verify MODEL.h5 NET.prototxt NET.caffemodel');
    expect(r.stdout).toContain('--tolerance');
    expect(r.stdout).toContain('--input');
  });

  it('needs three files (exit 2, one line)', () => {
    const r = run(['verify', 'a.h5']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.skipIf(!have('vgg_tiny'))('passes a conversion of a fixture: exit 0 and a table within 80 columns', () => {
    const pair = convert('vgg_tiny');
    const r = run(['verify', model('vgg_tiny'), pair.prototxt, pair.caffemodel]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/PASSED: 1 output within tolerance/);
    expect(r.stdout).toMatch(/time: [\d.]+ s/);
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    const j = run(['verify', model('vgg_tiny'), pair.prototxt, pair.caffemodel, '--json']);
    expect(j.code).toBe(0);
    const report = JSON.parse(j.stdout);
    expect(report.passed).toBe(true);
    expect(report.mode).toBe('pair');
    expect(report.rows.filter((x: { kind: string }) => x.kind === 'layer').length).toBeGreaterThan(3);
    expect(report.input.kind).toBe('random');
    expect(typeof report.seconds.total).toBe('number');
  });

  it.skipIf(!have('dense_flatten'))('convert --verify prints the table and puts the figures in --json', () => {
    const out = join(dir, 'cv');
    mkdirSync(out, { recursive: true });
    const r = run(['convert', model('dense_flatten'), '--out', out, '--yes', '--force', '--verify']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASSED/);
    const j = run(['convert', model('dense_flatten'), '--out', out, '--yes', '--force', '--verify', '--json']);
    expect(j.code).toBe(0);
    const report = JSON.parse(j.stdout);
    expect(report.verification.passed).toBe(true);
    expect(report.verification.mode).toBe('conversion');
    expect(report.verification.rows.find((x: { kind: string }) => x.kind === 'output').maxRel).toBeLessThan(1e-4);
  });

  it.skipIf(!have('dense_flatten'))('takes --input X.npy (NHWC) and refuses a JPEG with a clear message', () => {
    const pair = convert('dense_flatten');
    const npy = join(FIX, 'dense_flatten.in0.npy');
    const r = run(['verify', model('dense_flatten'), pair.prototxt, pair.caffemodel, '--input', npy, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.input).toEqual({ kind: 'npy', description: 'dense_flatten.in0.npy' });
    const jpg = join(dir, 'x.jpg');
    writeFileSync(jpg, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]));
    const bad = run(['verify', model('dense_flatten'), pair.prototxt, pair.caffemodel, '--input', jpg]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/JPEG.*PNG.*\.npy/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.skipIf(!have('vgg_tiny'))('takes a PNG image, resized to the model input', () => {
    const pair = convert('vgg_tiny');
    const info = netInfo(readFileSync(pair.prototxt, 'utf8'));
    const c = info.inputs[0].dims![1];
    const png = join(dir, 'img.png');
    writeFileSync(png, encodePng(13, 9, Uint8Array.from({ length: 13 * 9 * 3 }, (_, i) => (i * 7) % 256)));
    const r = run(['verify', model('vgg_tiny'), pair.prototxt, pair.caffemodel, '--input', png, '--json']);
    if (c === 3 || c === 1) {
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.input.kind).toBe('image');
      expect(report.input.description).toMatch(/13×9 → .* bilinear/);
    } else expect(r.code).toBe(2);
  });

  it.skipIf(!have('dense_flatten'))('matches outputs by order when the Caffe output blob is named differently', () => {
    const pair = convert('dense_flatten');
    const text = readFileSync(pair.prototxt, 'utf8');
    const info = netInfo(text);
    const out = info.outputs[0];
    const renamed = join(dir, 'renamed.prototxt');
    writeFileSync(renamed, text.split(`top: "${out}"`).join('top: "prob"'));
    const r = run(['verify', model('dense_flatten'), renamed, pair.caffemodel, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rows.find((x: { kind: string }) => x.kind === 'output').blob).toBe('prob');
    expect(report.notes.join()).toMatch(/matched by order/);
  });

  it.skipIf(!have('vgg_tiny', 'dense_flatten'))('a mismatched pair is a clear error or a failure, never a crash', () => {
    const a = convert('vgg_tiny');
    const b = convert('dense_flatten');
    // another model's whole net
    const r1 = run(['verify', model('vgg_tiny'), b.prototxt, b.caffemodel]);
    expect([2, 3]).toContain(r1.code);
    expect(r1.stderr).not.toMatch(/internal error/);
    expect(r1.stderr).toMatch(/does not match|verification failed/);
    // this model's prototxt with another model's weights: OpenCV refuses to load it
    const r2 = run(['verify', model('vgg_tiny'), a.prototxt, b.caffemodel]);
    expect([2, 3]).toContain(r2.code);
    expect(r2.stderr).not.toMatch(/internal error/);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.skipIf(!have('dense_flatten'))('input problems exit 2 with one line: missing files, bad prototxt, swapped files, bad tolerance', () => {
    const pair = convert('dense_flatten');
    const m = model('dense_flatten');
    const cases: [string[], RegExp][] = [
      [[join(dir, 'none.h5'), pair.prototxt, pair.caffemodel], /no such file/],
      [[m, join(dir, 'none.prototxt'), pair.caffemodel], /no such file/],
      [[m, pair.prototxt, join(dir, 'none.caffemodel')], /no such file/],
      [[m, pair.caffemodel, pair.prototxt], /not a text prototxt/],
      [[m, pair.prototxt, pair.prototxt], /not a caffemodel/],
      [[m, pair.prototxt, pair.caffemodel, '--tolerance', '-1'], /--tolerance/],
      [[m, pair.prototxt, pair.caffemodel, '--input', join(dir, 'none.npy')], /no such file/],
    ];
    const garbage = join(dir, 'garbage.prototxt');
    writeFileSync(garbage, 'layer { name: "x" type: "Convolution" bottom: "data" top: "x" \n layer {{ oops');
    cases.push([[m, garbage, pair.caffemodel], /prototxt/]);
    const unknown = join(dir, 'unknown.prototxt');
    copyFileSync(pair.prototxt, unknown);
    writeFileSync(unknown, readFileSync(unknown, 'utf8').replace(/type: "InnerProduct"/, 'type: "NoSuchLayer"'));
    cases.push([[m, unknown, pair.caffemodel], /OpenCV/]);
    for (const [args, msg] of cases) {
      const r = run(['verify', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});
