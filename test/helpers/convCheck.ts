/**
 * Helpers for the conv-family mapping tests (depthwise, conv-transpose, upsampling, cropping,
 * conv1d, permute, lambda, pooling): plan an inline model with a chosen backend, run it in
 * OpenCV (and in real Caffe where the oracle is set up), and measure max|Δ| / max(1, max|ref|).
 */
import { buildNet, planConversion, type PlanOptions } from '../../src/core/planner.js';
import { writePrototxt } from '../../src/caffe/prototxt.js';
import { encodeCaffemodel } from '../../src/caffe/caffemodel.js';
import { tensor, type Tensor } from '../../src/core/tensor.js';
import { buildKerasGraph } from '../../src/keras/modelGraph.js';
import { fakeKerasH5, functionalModel, seededValues, type FakeWeights, type LayerSpec } from './fakeKeras.js';
import { haveOracle, relError, runInCaffe, runInOpenCV, type Planned } from './runPlan.js';

export { haveOracle, relError };

/** planModel (runPlan.ts) with a backend attribute for the fake file. */
export function planWith(layers: LayerSpec[], weights: FakeWeights, options: PlanOptions & { backend?: string; outputs?: string[]; allowUnconvertible?: boolean } = {}): Planned {
  const graph = buildKerasGraph(functionalModel(layers, options.outputs));
  const plan = planConversion(graph, fakeKerasH5(weights, { backend: options.backend ?? 'tensorflow' }), options);
  const layersOf = (n: string) => plan.layers.find((l) => l.layer.name === n)?.caffeLayers ?? [];
  if (!plan.convertible) {
    if (options.allowUnconvertible) return { plan, prototxt: '', caffemodel: new Uint8Array(0), layersOf };
    const why = [...plan.problems, ...plan.layers.filter((l) => l.status === 'unsupported').map((l) => `${l.layer.name}: ${l.reason}`)];
    throw new Error(`not convertible: ${why.join('; ')}`);
  }
  const net = buildNet(plan);
  return { plan, prototxt: writePrototxt(net), caffemodel: encodeCaffemodel(net), layersOf };
}

/** Seeded weights/inputs of a shape in [-scale, scale). */
export function rnd(shape: number[], seed: number, scale = 1): Tensor {
  return tensor(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed, scale));
}

/** Runs in OpenCV (and the oracle if present); returns the worst relative error per runtime. */
export async function errorsAgainst(p: Planned, inputs: Tensor[], refs: Record<string, Tensor>): Promise<{ opencv: number; caffe?: number }> {
  const measure = (got: Map<string, Tensor>) => {
    let worst = 0;
    for (const [name, ref] of Object.entries(refs)) {
      const g = got.get(name);
      if (!g) throw new Error(`no output '${name}' (got ${[...got.keys()].join(', ')})`);
      if (g.shape.join() !== ref.shape.join()) throw new Error(`output '${name}' has shape [${g.shape}], reference [${ref.shape}]`);
      worst = Math.max(worst, relError(g, ref));
    }
    return worst;
  };
  const opencv = measure(await runInOpenCV(p, inputs));
  if (!haveOracle) return { opencv };
  return { opencv, caffe: measure(await runInCaffe(p, inputs)) };
}

/** Adds a per-channel bias and applies an elementwise function to an NHWC/[S,C] tensor. */
export function biasAct(t: Tensor, bias?: Float32Array, f: (x: number) => number = (x) => x): Tensor {
  const c = t.shape[t.shape.length - 1];
  return tensor([...t.shape], t.data.map((x, i) => f(x + (bias ? bias[i % c] : 0))));
}

export const TOL = 1e-4;
