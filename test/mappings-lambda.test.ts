import { describe, expect, it } from 'vitest';
import { input, layer } from './helpers/fakeKeras.js';
import { planWith, relError, rnd } from './helpers/convCheck.js';
import { runInOpenCV } from './helpers/runPlan.js';
import { conv2dRef } from './helpers/convRef.js';

const lambdaCfg = (extra: Record<string, unknown> = {}) => ({ function: ['4wEAAAAAAAAAAQAAAAIAAABDAAAAcwgAAAB8AGQBFABTACkCTukCAAAAqQApAdoBeHIBAAAAcgEAAAD6Bzxsb2NhbD7aCDxsYW1iZGE+AQAAAPMAAAAA\n', null, null], function_type: 'lambda', module: '__main__', output_shape: null, output_shape_type: 'raw', arguments: {}, ...extra });

function lambdaModel(cfg: Record<string, unknown>, cls = 'Lambda') {
  return [input('x', [4, 4, 2]), layer('lam', cls, cfg, ['x']), layer('relu', 'Activation', { activation: 'relu' }, ['lam'])];
}

const handler = (p: ReturnType<typeof planWith>, name = 'lam') => p.plan.layers.find((l) => l.layer.name === name)!.decisions.find((d) => d.spec.id === 'handler')!;

describe('Lambda / TFOpLambda / unmapped classes: never passed silently', () => {
  it('defaults to stop: unsupported, with the handler decision offered', () => {
    const p = planWith(lambdaModel(lambdaCfg()), {}, { allowUnconvertible: true });
    const l = p.plan.layers[1];
    expect(l.status).toBe('unsupported');
    expect(l.reason).toMatch(/runs Python code/);
    const d = handler(p);
    expect(d.chosen).toBe('stop');
    expect(d.spec.options.map((o) => o.id)).toEqual(['stop', 'identity', 'python', 'cut']);
    expect(p.plan.convertible).toBe(false);
  });

  it('identity: only when the stored output shape equals the input shape; inexact', async () => {
    const differ = planWith(lambdaModel(lambdaCfg({ output_shape: [4, 4, 3] })), {}, { allowUnconvertible: true });
    expect(handler(differ).spec.options.map((o) => o.id)).not.toContain('identity');
    const p = planWith(lambdaModel(lambdaCfg({ output_shape: [4, 4, 2] })), {}, { decisions: { 'lam:handler': 'identity' }, target: 'opencv' });
    const l = p.plan.layers[1];
    expect(l.status).toBe('inexact');
    expect(l.reason).toBe("the Lambda's function is not applied");
    const x = rnd([4, 4, 2], 91, 3);
    const got = (await runInOpenCV(p, [x])).get('relu')!;
    expect(relError(got, { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) })).toBe(0);
  });

  it('python: a Python layer stub on caffe-1.0, not offered on opencv', () => {
    const p = planWith(lambdaModel(lambdaCfg()), {}, { decisions: { 'lam:handler': 'python' }, target: 'caffe-1.0' });
    const l = p.plan.layers[1];
    expect(l.status).toBe('inexact');
    expect(l.reason).toBe('needs a Python implementation at deploy time');
    expect(l.caffeLayers[0].type).toBe('Python');
    expect(p.prototxt).toMatch(/python_param \{\n\s+module: "keras2caffe_stub"\n\s+layer: "lam"\n\s+param_str: ".*Lambda/);
    const o = planWith(lambdaModel(lambdaCfg()), {}, { target: 'opencv', allowUnconvertible: true });
    expect(handler(o).spec.options.map((x) => x.id)).not.toContain('python');
  });

  it('cut: the net ends before the layer and its input becomes the output', async () => {
    const k = rnd([3, 3, 2, 2], 92);
    const layers = [input('x', [6, 6, 2]), layer('conv', 'Conv2D', { filters: 2, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', use_bias: false, activation: 'linear' }, ['x']), layer('lam', 'TFOpLambda', { function: 'math.multiply' }, ['conv']), layer('relu', 'Activation', { activation: 'relu' }, ['lam'])];
    const p = planWith(layers, { conv: { kernel: k } }, { decisions: { 'lam:handler': 'cut' }, target: 'opencv' });
    expect(p.plan.layers.map((l) => l.status)).toEqual(['exact', 'exact', 'cut', 'cut']);
    expect(p.plan.outputs.map((o) => o.name)).toEqual(['conv']);
    const x = rnd([6, 6, 2], 93, 2);
    const got = (await runInOpenCV(p, [x])).get('conv')!;
    expect(relError(got, conv2dRef(x, k))).toBeLessThan(1e-5);
  });

  it('a class with no mapping gets the same decision; stop keeps the old message', () => {
    const p = planWith(lambdaModel({ units: 3 }, 'MyCustomLayer'), {}, { allowUnconvertible: true });
    const l = p.plan.layers[1];
    expect(l.status).toBe('unsupported');
    expect(l.reason).toBe("no Caffe mapping for Keras layer class 'MyCustomLayer'");
    expect(handler(p).spec.options.map((o) => o.id)).toEqual(['stop', 'identity', 'python', 'cut']);
    const cut = planWith(lambdaModel({}, 'MyCustomLayer'), {}, { decisions: { 'lam:handler': 'cut' } });
    expect(cut.plan.convertible).toBe(true);
    expect(cut.plan.outputs.map((o) => o.name)).toEqual(['x']);
    const id = planWith(lambdaModel({}, 'MyCustomLayer'), {}, { decisions: { 'lam:handler': 'identity' } });
    expect(id.plan.layers[1].reason).toBe("the layer's function is not applied");
  });

  it('TFOpLambda / SlicingOpLambda show their TF function in the question', () => {
    const p = planWith(lambdaModel({ function: '__operators__.getitem' }, 'SlicingOpLambda'), {}, { allowUnconvertible: true });
    expect(handler(p).spec.question).toMatch(/__operators__\.getitem/);
  });
});
