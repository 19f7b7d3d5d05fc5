/**
 * The Keras reference of `verify` (src/verify/kerasReference.ts): tfjs rebuilds each model from the
 * .h5 file's own config and weights, and must reproduce what real Keras computed (the fixtures'
 * out*.npy, TensorFlow semantics), whatever the config dialect (Keras 2, tf.keras, Keras 3).
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { tensor, type Tensor } from '../src/core/tensor.js';
import { openKerasH5 } from '../src/h5/kerasH5.js';
import { buildKerasReference, flipSpatial } from '../src/verify/kerasReference.js';
import { compareValues } from '../src/verify/compare.js';
import { verifyConversion } from '../src/verify/verify.js';
import { loadModel } from '../src/core/model.js';
import { buildNet, planConversion } from '../src/core/planner.js';
import { writePrototxt } from '../src/caffe/prototxt.js';
import { encodeCaffemodel } from '../src/caffe/caffemodel.js';
import { fixtureManifest, fixturePath, readFixtureNpy } from './helpers/parity.js';
import { fakeKerasH5, functionalModel, input, layer, seededValues, type FakeWeights } from './helpers/fakeKeras.js';
import { conv2dRef } from './helpers/convRef.js';
import { kerasRelu } from './helpers/elementwiseRef.js';

const TOL = 1e-4;
const rnd = (shape: number[], seed: number, scale = 1): Tensor => tensor(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed, scale));

function maxRel(got: Tensor | undefined, want: Tensor): number {
  if (!got) return Infinity;
  const w = want.shape[0] === 1 && want.shape.length === got.shape.length + 1 ? want.shape.slice(1) : want.shape;
  if (w.join() !== got.shape.join()) return Infinity;
  return compareValues(want.data, got.data).maxRel;
}

describe('Keras reference (tfjs) against real Keras', () => {
  const entries = fixtureManifest().filter((e) => e.expect === 'ok' && (e.inputs?.length ?? 0) > 0 && existsSync(fixturePath(e.file)));

  it('has fixtures to check', () => {
    expect(entries.length).toBeGreaterThan(20);
  });

  it('reproduces every fixture output within 1e-4 (Keras 2, tf.keras, Keras 3, Theano files)', async () => {
    const bad: string[] = [];
    let checked = 0;
    let lambdaModels = 0;
    for (const e of entries) {
      const file = await openKerasH5(fixturePath(e.file));
      try {
        const ref = await buildKerasReference(file);
        try {
          if (ref.unbuilt.length) {
            // a model with a Lambda cannot be rebuilt: it must say so, naming the layer
            const lambdas = ref.unbuilt.every((u) => /^tfjs cannot build layer '[^']+' \(Lambda\)$/.test(u.message));
            if (!lambdas) bad.push(`${e.name}: ${ref.unbuilt.map((u) => u.message).join('; ')}`);
            lambdaModels++;
            continue;
          }
          const values = ref.predictAll(e.inputs!.map(readFixtureNpy));
          (e.outputs ?? []).forEach((o, i) => {
            const err = maxRel(values.get(ref.outputs[i]), readFixtureNpy(o));
            if (!(err <= TOL)) bad.push(`${e.name} output ${i} (${ref.outputs[i]}): rel error ${err}`);
          });
          checked++;
        } finally {
          ref.dispose();
        }
      } finally {
        file.close();
      }
    }
    expect(bad).toEqual([]);
    expect(checked + lambdaModels).toBe(entries.length);
    expect(checked).toBeGreaterThan(20);
  }, 180_000);

  it('says exactly which layer tfjs cannot build (a Lambda) and still builds the layers before it', async () => {
    const path = fixturePath('lambda_only.h5');
    if (!existsSync(path)) return;
    const file = await openKerasH5(path);
    try {
      const ref = await buildKerasReference(file);
      expect(ref.unbuilt.map((u) => u.message)).toEqual(["tfjs cannot build layer 'lambda_1' (Lambda)"]);
      const after = ref.layers.find((l) => !l.built && l.name !== 'lambda_1');
      expect(after?.reason).toMatch(/depends on layer 'lambda_1'/);
      ref.dispose();
    } finally {
      file.close();
    }
  });
});

describe('verifyConversion of every fixture conversion', () => {
  it('passes, layer by layer, with the default decisions', async () => {
    const entries = fixtureManifest().filter((e) => e.expect === 'ok' && existsSync(fixturePath(e.file)));
    const failed: string[] = [];
    const cannotRun: string[] = [];
    let passed = 0;
    for (const e of entries) {
      let model;
      try {
        model = await loadModel(fixturePath(e.file));
      } catch {
        continue; // the converter cannot read it: not a verify matter (its own tests say why)
      }
      try {
        const plan = planConversion(model.graph, model.file, {});
        if (!plan.convertible) continue; // needs a decision or another target: not a verify matter
        const net = buildNet(plan);
        const inputs = (e.inputs ?? []).map(readFixtureNpy);
        const r = await verifyConversion({ model, plan, prototxt: writePrototxt(net), caffemodel: encodeCaffemodel(net), ...(inputs.length === plan.inputs.length ? { inputs } : {}) });
        if (!r.complete && r.unbuilt.length) continue; // a Lambda kept in the net (inexact handler): reported, not verified
        if (!r.passed || r.rows.some((x) => !x.passed)) failed.push(`${e.name}: first failing layer ${r.firstFailingLayer}`);
        else passed++;
      } catch (err) {
        const msg = (err as Error).message;
        if (/OpenCV DNN has no '\w+' layer/.test(msg)) cannotRun.push(`${e.name}: ${msg}`);
        else failed.push(`${e.name}: ${msg}`);
      } finally {
        model.file.close();
      }
    }
    expect(failed).toEqual([]);
    expect(passed).toBeGreaterThan(20);
    // nets OpenCV cannot run at all (e.g. Caffe's Threshold layer) are the only ones not verified
    expect(cannotRun.every((m) => /'Threshold'/.test(m))).toBe(true);
  }, 300_000);
});

/** A small conv net config + weights, written two ways. */
function convNet(k3: boolean): { config: any; weights: FakeWeights } {
  const weights: FakeWeights = {
    c1: { kernel: rnd([3, 3, 3, 4], 1, 0.5), bias: rnd([4], 2) },
    bn: { gamma: rnd([4], 3), beta: rnd([4], 4), moving_mean: rnd([4], 5), moving_variance: tensor([4], [0.5, 1, 1.5, 2]) },
    d: { kernel: rnd([36, 3], 6, 0.3), bias: rnd([3], 7) },
  };
  if (!k3) {
    const config = functionalModel([
      input('x', [6, 6, 3]),
      layer('c1', 'Conv2D', { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', use_bias: true }, ['x']),
      layer('bn', 'BatchNormalization', { axis: -1, epsilon: 0.001, center: true, scale: true }, ['c1']),
      layer('f', 'Flatten', {}, ['bn']),
      layer('d', 'Dense', { units: 3, activation: 'softmax', use_bias: true }, ['f']),
    ]);
    return { config, weights };
  }
  // Keras 3: module/registered_name, DTypePolicy objects, batch_shape, {args, kwargs} inbound nodes.
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const t = (name: string, shape: (number | null)[]) => ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [name, 0, 0] } });
  const L = (name: string, cls: string, config: any, from: string | null, shape: (number | null)[] = []) => ({
    module: 'keras.layers',
    class_name: cls,
    config: { name, trainable: true, dtype: policy, ...config },
    registered_name: null,
    build_config: { input_shape: shape },
    name,
    inbound_nodes: from ? [{ args: [t(from, shape)], kwargs: {} }] : [],
  });
  const init = { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null };
  const config = {
    module: 'keras',
    class_name: 'Functional',
    config: {
      name: 'k3',
      trainable: true,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 6, 6, 3], dtype: 'float32', sparse: false, name: 'x' }, registered_name: null, name: 'x', inbound_nodes: [] },
        L('c1', 'Conv2D', { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true, kernel_initializer: init }, 'x', [null, 6, 6, 3]),
        L('bn', 'BatchNormalization', { axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, synchronized: false }, 'c1', [null, 3, 3, 4]),
        L('f', 'Flatten', { data_format: 'channels_last' }, 'bn', [null, 3, 3, 4]),
        L('d', 'Dense', { units: 3, activation: 'softmax', use_bias: true, lora_rank: null }, 'f', [null, 36]),
      ],
      input_layers: [['x', 0, 0]],
      output_layers: [['d', 0, 0]],
    },
    registered_name: 'Functional',
    build_config: { input_shape: null },
  };
  return { config, weights };
}

async function predict(config: any, weights: FakeWeights, inputs: Tensor[], opts: { backend?: string; kerasVersion?: string } = {}) {
  const ref = await buildKerasReference(fakeKerasH5(weights, { modelConfig: config, ...opts }));
  try {
    return { ref, values: ref.predictAll(inputs) };
  } finally {
    ref.dispose();
  }
}

describe('config normalisation', () => {
  const x = rnd([6, 6, 3], 11);

  it('reads a Keras 3 config exactly like its Keras 2 twin', async () => {
    const k2 = convNet(false);
    const k3 = convNet(true);
    const a = await predict(k2.config, k2.weights, [x]);
    const b = await predict(k3.config, k3.weights, [x], { kerasVersion: '3.3.3' });
    expect(b.ref.unbuilt).toEqual([]);
    expect([...b.values.keys()]).toEqual(['c1', 'bn', 'f', 'd']);
    for (const k of a.values.keys()) expect(compareValues(a.values.get(k)!.data, b.values.get(k)!.data).maxAbs).toBe(0);
    // and the output is a softmax
    const d = a.values.get('d')!.data;
    expect(d.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
  });

  it("computes hard_sigmoid with the saving Keras's formula: clip(0.2x + 0.5) in Keras 2, relu6(x + 3) / 6 in Keras 3", async () => {
    const config = functionalModel([input('x', [4, 5]), layer('h', 'Activation', { activation: 'hard_sigmoid' }, ['x'])]);
    const wide = rnd([4, 5], 12, 8); // reaches both clips of either formula
    const formulas: [string, (v: number) => number][] = [
      ['2.3.1', (v) => Math.min(Math.max(0.2 * v + 0.5, 0), 1)],
      ['3.3.3', (v) => Math.min(Math.max(v + 3, 0), 6) / 6],
    ];
    for (const [kerasVersion, f] of formulas) {
      const { values } = await predict(config, {}, [wide], { kerasVersion });
      const got = values.get('h')!.data;
      expect(compareValues(wide.data.map(f), got).maxAbs, kerasVersion).toBeLessThan(1e-6);
    }
  });

  it('accepts the NHWC input with or without its batch axis', async () => {
    const { config, weights } = convNet(false);
    const a = await predict(config, weights, [x]);
    const b = await predict(config, weights, [{ shape: [1, 6, 6, 3], data: x.data }]);
    expect(compareValues(a.values.get('d')!.data, b.values.get('d')!.data).maxAbs).toBe(0);
  });

  it('flips the kernels of Theano-saved convolutions back', async () => {
    const { config, weights } = convNet(false);
    const theano = { ...weights, c1: { ...weights.c1, kernel: flipSpatial(weights.c1.kernel) } };
    const a = await predict(config, weights, [x], { backend: 'tensorflow' });
    const b = await predict(config, theano, [x], { backend: 'theano' });
    expect(compareValues(a.values.get('d')!.data, b.values.get('d')!.data).maxAbs).toBeLessThan(1e-6);
    expect(b.ref.notes.join()).toMatch(/Theano/);
  });

  it('flipSpatial reverses every axis but the last two', () => {
    const k = tensor([2, 3, 1, 1], [1, 2, 3, 4, 5, 6]);
    expect([...flipSpatial(k).data]).toEqual([6, 5, 4, 3, 2, 1]);
    const k1 = tensor([3, 2, 1], [1, 2, 3, 4, 5, 6]);
    expect([...flipSpatial(k1).data]).toEqual([5, 6, 3, 4, 1, 2]);
  });

  it('builds ReLU with max_value, negative_slope and threshold as Keras does', async () => {
    const cases = [
      { max_value: 6, negative_slope: 0, threshold: 0 },
      { max_value: null, negative_slope: 0.1, threshold: 0 },
      { max_value: 2, negative_slope: 0.2, threshold: 0.5 },
      { max_value: null, negative_slope: 0, threshold: -0.5 },
    ];
    const xin = rnd([4, 4, 2], 5, 4);
    for (const c of cases) {
      const config = functionalModel([input('x', [4, 4, 2]), layer('r', 'ReLU', c, ['x'])]);
      const { values } = await predict(config, {}, [xin]);
      const want = Float32Array.from(xin.data, (v) => kerasRelu(v, c.negative_slope, c.max_value, c.threshold));
      expect(compareValues(want, values.get('r')!.data).maxAbs).toBeLessThan(1e-6);
    }
  });

  it('builds Conv2D with groups > 1 (tfjs ignores groups)', async () => {
    const k = rnd([3, 3, 2, 4], 8);
    const bias = rnd([4], 9);
    const config = functionalModel([
      input('x', [5, 5, 4]),
      layer('g', 'Conv2D', { filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', groups: 2, use_bias: true, activation: 'linear' }, ['x']),
    ]);
    const xin = rnd([5, 5, 4], 10);
    const { values, ref } = await predict(config, { g: { kernel: k, bias } }, [xin]);
    expect(ref.unbuilt).toEqual([]);
    // group i: input channels 2i..2i+1, output channels 2i..2i+1
    const part = (t: Tensor, from: number, n: number) => {
      const [h, w, c] = t.shape;
      const out = tensor([h, w, n]);
      for (let p = 0; p < h * w; p++) for (let j = 0; j < n; j++) out.data[p * n + j] = t.data[p * c + from + j];
      return out;
    };
    const kpart = (i: number) => {
      const out = tensor([3, 3, 2, 2]);
      for (let p = 0; p < 9 * 2; p++) for (let j = 0; j < 2; j++) out.data[p * 2 + j] = k.data[p * 4 + 2 * i + j];
      return out;
    };
    const y0 = conv2dRef(part(xin, 0, 2), kpart(0), { bias: bias.data.subarray(0, 2) });
    const y1 = conv2dRef(part(xin, 2, 2), kpart(1), { bias: bias.data.subarray(2, 4) });
    const got = values.get('g')!;
    expect(got.shape).toEqual([3, 3, 4]);
    expect(compareValues(y0.data, part(got, 0, 2).data).maxAbs).toBeLessThan(1e-5);
    expect(compareValues(y1.data, part(got, 2, 2).data).maxAbs).toBeLessThan(1e-5);
  });

  it('names the calls of a shared layer name, name_1 and inlines nested models', async () => {
    const inner = functionalModel([input('ii', [4, 4, 2]), layer('inner_conv', 'Conv2D', { filters: 2, kernel_size: [1, 1], padding: 'valid', use_bias: false, activation: 'linear' }, ['ii'])], undefined, 'inner');
    const config = {
      class_name: 'Model',
      config: {
        name: 'outer',
        layers: [
          { name: 'x', class_name: 'InputLayer', config: { name: 'x', batch_input_shape: [null, 4, 4, 2], dtype: 'float32' }, inbound_nodes: [] },
          // a nested model's own node 0 is its construction: Keras 2 references its first call as node 1
          { name: 'inner', class_name: 'Model', config: inner.config, inbound_nodes: [[['x', 0, 0, {}]]] },
          { name: 'shared', class_name: 'Activation', config: { name: 'shared', activation: 'tanh' }, inbound_nodes: [[['inner', 1, 0, {}]], [['shared', 0, 0, {}]]] },
          { name: 'sum', class_name: 'Add', config: { name: 'sum' }, inbound_nodes: [[['shared', 0, 0, {}], ['shared', 1, 0, {}]]] },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['sum', 0, 0]],
      },
    };
    const k = rnd([1, 1, 2, 2], 12);
    const xin = rnd([4, 4, 2], 13);
    // nested model weights live in the nested model's group, named <inner layer>/<weight>
    const { values, ref } = await predict(config, { inner: { 'inner_conv/kernel': k } }, [xin]);
    expect(ref.layers.map((l) => l.name)).toEqual(['x', 'inner_conv', 'shared', 'shared_1', 'sum']);
    expect(ref.outputs).toEqual(['sum']);
    const a = values.get('shared')!.data;
    const b = values.get('shared_1')!.data;
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(Math.tanh(a[i]), 6);
    const conv = values.get('inner_conv')!.data;
    // 1x1 conv: channel o = sum_i x_i k[i][o]
    expect(conv[0]).toBeCloseTo(xin.data[0] * k.data[0] + xin.data[1] * k.data[2], 5);
  });

  it('reports a layer whose weights do not fit, and blocks what depends on it', async () => {
    const config = functionalModel([
      input('x', [4, 4, 2]),
      layer('c', 'Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', use_bias: false, activation: 'linear' }, ['x']),
      layer('r', 'Activation', { activation: 'relu' }, ['c']),
    ]);
    const ref = await buildKerasReference(fakeKerasH5({ c: { kernel: rnd([3, 3, 2, 4], 1) } }, { modelConfig: config }));
    expect(ref.unbuilt[0].message).toMatch(/^tfjs cannot build layer 'c' \(Conv2D\): weight .* has shape \[3,3,2,4\], tfjs expects kernel \[3,3,2,3\]/);
    expect(ref.layers.find((l) => l.name === 'r')?.built).toBe(false);
    ref.dispose();
  });
});
