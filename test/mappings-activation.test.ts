import { describe, expect, it } from 'vitest';
import { tensor } from '../src/core/tensor.js';
import { activationMapping } from '../src/mappings/activation.js';
import { defaultRegistry } from '../src/mappings/index.js';
import { input, layer } from './helpers/fakeKeras.js';
import { ACTIVATIONS, softmax } from './helpers/elementwiseRef.js';
import { haveOracle, kerasInput, mapValues, planModel, relError, runInCaffe, runInOpenCV } from './helpers/runPlan.js';
import { TOLERANCE } from './helpers/parity.js';
import { figuresText, fixtureEntry, fixtureParity } from './helpers/fixtureParity.js';

const act = (name: string, activation: unknown, from = 'x') => layer(name, 'Activation', { activation }, [from]);

describe('Activation mapping: emitted layers', () => {
  it('is registered for Activation', () => {
    expect(defaultRegistry.get('Activation')).toBe(activationMapping);
  });

  it('maps single-layer activations one to one, each with its own top', () => {
    const names = ['relu', 'sigmoid', 'tanh', 'elu', 'softplus', 'exponential'];
    const p = planModel([input('x', [4, 4, 3]), ...names.map((n) => act(`a_${n}`, n))], {}, { outputs: names.map((n) => `a_${n}`) });
    const types = names.map((n) => p.layersOf(`a_${n}`).map((l) => l.type));
    expect(types).toEqual([['ReLU'], ['Sigmoid'], ['TanH'], ['ELU'], ['BNLL'], ['Exp']]);
    for (const n of names) {
      const [l] = p.layersOf(`a_${n}`);
      expect(l.bottom).toEqual(['x']);
      expect(l.top).toEqual([`a_${n}`]);
    }
    expect(p.layersOf('a_elu')[0].params).toEqual({ elu_param: { alpha: 1 } });
    const st = (n: string) => p.plan.layers.find((l) => l.layer.name === n)!.status;
    expect(st('a_relu')).toBe('exact');
    // nonNegative tracking
    expect(p.plan.tensorBlobs.get('a_relu:0')?.nonNegative).toBe(true);
    expect(p.plan.tensorBlobs.get('a_tanh:0')?.nonNegative).toBeUndefined();
  });

  it('maps softmax to Softmax axis 1 for 4-D, 2-D and 1-D tensors', () => {
    for (const shape of [[4, 4, 3], [5, 3], [6]]) {
      const p = planModel([input('x', shape), act('s', 'softmax')]);
      const [l] = p.layersOf('s');
      expect(l.type).toBe('Softmax');
      expect(l.params).toEqual({ softmax_param: { axis: 1 } });
      expect(p.plan.outputs[0].caffeShape.length).toBe(shape.length === 1 ? 2 : 4);
    }
  });

  it('drops linear', () => {
    const p = planModel([input('x', [6]), layer('d', 'Dense', { units: 2, use_bias: false }, ['x']), act('lin', 'linear', 'd')], { d: { kernel: tensor([6, 2]) } });
    const l = p.plan.layers.find((x) => x.layer.name === 'lin')!;
    expect(l.status).toBe('dropped');
    expect(l.caffeLayers).toEqual([]);
    expect(p.plan.outputs[0].blob).toBe('d');
  });

  it('relu6 is Clip on bvlc and an exact ReLU/Power chain on caffe-1.0 and opencv', () => {
    const model = [input('x', [4, 4, 3]), act('r6', 'relu6')];
    expect(planModel(model, {}, { target: 'bvlc' }).layersOf('r6').map((l) => [l.type, l.params])).toEqual([['Clip', { clip_param: { min: 0, max: 6 } }]]);
    for (const target of ['caffe-1.0', 'opencv'] as const)
      expect(planModel(model, {}, { target }).layersOf('r6').map((l) => l.type)).toEqual(['ReLU', 'Power', 'ReLU', 'Power']);
  });

  it('swish is Swish where the target has it, else Sigmoid + Eltwise PROD', () => {
    const model = [input('x', [4, 4, 3]), act('sw', 'swish')];
    expect(planModel(model, {}, { target: 'bvlc' }).layersOf('sw').map((l) => l.type)).toEqual(['Swish']);
    expect(planModel(model, {}, { target: 'opencv' }).layersOf('sw').map((l) => l.type)).toEqual(['Swish']);
    const c = planModel(model, {}, { target: 'caffe-1.0' }).layersOf('sw');
    expect(c.map((l) => l.type)).toEqual(['Sigmoid', 'Eltwise']);
    expect(c[1].bottom).toEqual(['x', 'sw/sigmoid']);
  });

  it('maps selu, hard_sigmoid and the extra names to chains', () => {
    const names = ['selu', 'hard_sigmoid', 'softsign', 'mish', 'leaky_relu', 'hard_silu'];
    const p = planModel([input('x', [3, 3, 2]), ...names.map((n) => act(`a_${n}`, n))], {}, { outputs: names.map((n) => `a_${n}`) });
    expect(p.layersOf('a_selu').map((l) => l.type)).toEqual(['ELU', 'Power']);
    expect(p.layersOf('a_hard_sigmoid').map((l) => l.type)).toEqual(['Power', 'ReLU', 'Power', 'ReLU', 'Power']);
    expect(p.layersOf('a_softsign').map((l) => l.type)).toEqual(['AbsVal', 'Power', 'Eltwise']);
    expect(p.layersOf('a_mish').map((l) => l.type)).toEqual(['BNLL', 'TanH', 'Eltwise']);
    expect(p.layersOf('a_leaky_relu').map((l) => [l.type, l.params])).toEqual([['ReLU', { relu_param: { negative_slope: 0.2 } }]]);
    expect(p.layersOf('a_hard_silu').map((l) => l.type)).toEqual(['Power', 'ReLU', 'Power', 'ReLU', 'Power', 'Power', 'Eltwise']);
  });

  it('refuses activations without an exact Caffe form, naming them', () => {
    const p = planModel([input('x', [4]), act('g', 'gelu')], {}, { allowUnconvertible: true });
    const l = p.plan.layers.find((x) => x.layer.name === 'g')!;
    expect(l.status).toBe('unsupported');
    expect(l.reason).toMatch(/gelu/);
  });

  it('keeps the reordered layout of a Flatten output (elementwise)', () => {
    const p = planModel([input('x', [2, 2, 3]), layer('f', 'Flatten', {}, ['x']), act('s', 'sigmoid', 'f')], {}, { allowUnconvertible: true });
    expect(p.plan.tensorBlobs.get('s:0')?.layout).toEqual({ kind: 'flat-chw', from: [2, 2, 3] });
  });

  it('explains itself', () => {
    const p = planModel([input('x', [4, 4, 3]), act('s', 'softmax')]);
    const e = p.plan.layers.find((x) => x.layer.name === 's')!.explanation!;
    expect(e.summary).toMatch(/Softmax axis 1/);
    expect(e.notes.join(' ')).toMatch(/axis 1/);
    expect(activationMapping.doc.perTarget).toBeDefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Numbers: Caffe nets against the plain-JS Keras formulas.

const NUMERIC = ['relu', 'sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softmax', 'relu6', 'hard_sigmoid', 'swish', 'exponential', 'softsign', 'mish', 'leaky_relu', 'hard_silu'];
const SHAPE = [3, 4, 5];

function numericModel() {
  return [input('x', SHAPE), ...NUMERIC.map((n) => act(`a_${n}`, n))];
}

function references(x: ReturnType<typeof kerasInput>) {
  const refs = new Map<string, ReturnType<typeof kerasInput>>();
  for (const n of NUMERIC) refs.set(`a_${n}`, n === 'softmax' ? softmax(x) : mapValues(x, ACTIVATIONS[n]));
  return refs;
}

const results: string[] = [];

describe('hard_sigmoid by Keras version', () => {
  // Keras 3: hard_sigmoid(x) = relu6(x + 3) / 6 (keras/src/backend/tensorflow/nn.py); Keras 2: clip(0.2x + 0.5, 0, 1).
  const keras3 = (v: number) => Math.min(Math.max(v + 3, 0), 6) / 6;
  const x = kerasInput([3, 4, 5], 11, 8);
  for (const [version, formula, scale] of [['3.3.3', keras3, 1 / 6], ['2.3.1', ACTIVATIONS.hard_sigmoid, 0.2]] as const)
    it(`Keras ${version}: Activation and a Dense activation argument match its formula in OpenCV DNN`, async () => {
      const p = planModel(
        [input('x', [3, 4, 5]), act('h', 'hard_sigmoid'), layer('d', 'Dense', { units: 5, use_bias: false, activation: 'hard_sigmoid' }, ['x'])],
        { d: { kernel: tensor([5, 5], Float32Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0))) } },
        { outputs: ['h', 'd'], kerasVersion: version },
      );
      expect(p.layersOf('h')[0].params).toEqual({ power_param: { power: 1, scale, shift: 0.5 } });
      const notes = p.plan.layers.find((l) => l.layer.name === 'h')!.explanation!.notes.join(' ');
      expect(notes).toContain(version.startsWith('3') ? 'Keras 3 hard_sigmoid = relu6(x + 3) / 6' : 'Keras 2 / tf.keras hard_sigmoid');
      const got = await runInOpenCV(p, [x]);
      const ref = mapValues(x, formula);
      expect(relError(got.get('h')!, ref)).toBeLessThanOrEqual(1e-5);
      // The identity kernel makes the Dense output the activation of its input.
      expect(relError(got.get('d')!, ref)).toBeLessThanOrEqual(1e-5);
    }, 60_000);
});

describe('Activation mapping: numbers', () => {
  const x = kerasInput(SHAPE, 7, 8); // values in [-8, 8): relu6's cap and hard_sigmoid's clip are reached
  const refs = references(x);

  for (const target of ['caffe-1.0', 'opencv'] as const)
    it(`matches Keras in OpenCV DNN (target ${target})`, async () => {
      const p = planModel(numericModel(), {}, { target, outputs: NUMERIC.map((n) => `a_${n}`) });
      const got = await runInOpenCV(p, [x]);
      for (const [name, ref] of refs) {
        const e = relError(got.get(name)!, ref);
        results.push(`opencv/${target} ${name}: ${e.toExponential(2)}`);
        expect(e, name).toBeLessThanOrEqual(1e-5);
      }
    }, 60_000);

  for (const target of ['caffe-1.0', 'bvlc'] as const)
    it.skipIf(!haveOracle)(`matches Keras in BVLC Caffe (target ${target})`, async () => {
      const p = planModel(numericModel(), {}, { target, outputs: NUMERIC.map((n) => `a_${n}`) });
      const got = await runInCaffe(p, [x]);
      for (const [name, ref] of refs) {
        const e = relError(got.get(name)!, ref);
        results.push(`caffe/${target} ${name}: ${e.toExponential(2)}`);
        expect(e, name).toBeLessThanOrEqual(1e-5);
      }
    }, 180_000);
});

// ---------------------------------------------------------------------------------------------
// Real-Keras fixtures (fixtures/models, made by fixtures/make_fixtures.py with Keras 2.3.1)

describe('Activation mapping: Keras fixture parity', () => {
  for (const name of ['activations'])
    for (const target of ['caffe-1.0', 'bvlc', 'opencv'] as const)
      it.skipIf(!fixtureEntry(name))(`${name}.h5 (${target}) matches Keras: max|Δ| ≤ 1e-4·max(1, max|ref|)`, async () => {
        const runs = await fixtureParity(name, target);
        results.push(...figuresText(name, target, runs));
        for (const r of runs) for (const e of r.figures) expect(e.rel, `${name} ${target} ${r.runtime}`).toBeLessThanOrEqual(TOLERANCE);
      }, 180_000);

  it('prints the error figures', () => {
    if (results.length) console.log(results.join('\n'));
  });
});
