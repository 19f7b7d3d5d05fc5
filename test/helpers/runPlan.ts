/**
 * Runs a planned (in-memory) conversion in OpenCV DNN and, where set up, in real BVLC Caffe (the
 * oracle), returning the outputs as Keras tensors (channels last, no batch axis) so tests can
 * compare them with a plain-JS reference of the Keras formula.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildNet, planConversion, type Plan, type PlanOptions } from '../../src/core/planner.js';
import { writePrototxt } from '../../src/caffe/prototxt.js';
import { encodeCaffemodel } from '../../src/caffe/caffemodel.js';
import { caffeBlobToKeras, kerasToCaffeBlob } from '../../src/core/layout.js';
import { tensor, type Tensor } from '../../src/core/tensor.js';
import type { CaffeLayer } from '../../src/caffe/net.js';
import { buildKerasGraph } from '../../src/keras/modelGraph.js';
import { runCaffeInOpenCV } from '../../src/verify/opencvNet.js';
import { oracleAvailable, runCaffeInOracle } from '../../src/verify/caffeOracle.js';
import { fakeKerasH5, functionalModel, seededValues, type FakeWeights, type LayerSpec } from './fakeKeras.js';

export interface Planned {
  plan: Plan;
  prototxt: string;
  caffemodel: Uint8Array;
  /** Caffe layers of a Keras layer by its name. */
  layersOf(kerasName: string): CaffeLayer[];
}

/** Plans an inline model; throws when it is not convertible (unless `allowUnconvertible`). */
export function planModel(
  layers: LayerSpec[],
  weights: FakeWeights = {},
  options: PlanOptions & { outputs?: string[]; allowUnconvertible?: boolean; kerasVersion?: string } = {},
): Planned {
  const graph = buildKerasGraph(functionalModel(layers, options.outputs), { kerasVersion: options.kerasVersion });
  const plan = planConversion(graph, fakeKerasH5(weights, { kerasVersion: options.kerasVersion }), options);
  const layersOf = (n: string) => plan.layers.find((l) => l.layer.name === n)?.caffeLayers ?? [];
  if (!plan.convertible) {
    if (options.allowUnconvertible) return { plan, prototxt: '', caffemodel: new Uint8Array(0), layersOf };
    const why = [...plan.problems, ...plan.layers.filter((l) => l.status === 'unsupported').map((l) => `${l.layer.name}: ${l.reason}`)];
    throw new Error(`not convertible: ${why.join('; ')}`);
  }
  const net = buildNet(plan);
  return { plan, prototxt: writePrototxt(net), caffemodel: encodeCaffemodel(net), layersOf };
}

/** A Keras tensor (no batch axis) of seeded values in [-scale, scale). */
export function kerasInput(shape: number[], seed: number, scale = 3): Tensor {
  return tensor(shape, seededValues(shape.reduce((a, b) => a * b, 1), seed, scale));
}

function toCaffe(t: Tensor): Tensor {
  return kerasToCaffeBlob(tensor([1, ...t.shape], t.data));
}

function outputsAsKeras(plan: Plan, got: Map<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const o of plan.outputs) {
    const t = got.get(o.blob);
    if (!t) throw new Error(`the Caffe run gave no blob '${o.blob}' (got ${[...got.keys()].join(', ')})`);
    out.set(o.name, caffeBlobToKeras(t, o.kerasShape, o.layout.kind === 'flat-chw' ? o.layout.from : undefined));
  }
  return out;
}

/** Forwards Keras-layout inputs (one per model input, in order) in OpenCV; outputs by Keras layer name. */
export async function runInOpenCV(p: Planned, inputs: Tensor[]): Promise<Map<string, Tensor>> {
  const got = await runCaffeInOpenCV(
    p.prototxt,
    p.caffemodel,
    p.plan.inputs.map((port, i) => ({ name: port.blob, tensor: toCaffe(inputs[i]) })),
    p.plan.outputs.map((o) => o.blob),
  );
  return outputsAsKeras(p.plan, got);
}

export const haveOracle = oracleAvailable().ok;

/** Forwards in real BVLC Caffe (the oracle); outputs by Keras layer name. */
export async function runInCaffe(p: Planned, inputs: Tensor[]): Promise<Map<string, Tensor>> {
  const dir = resolve(import.meta.dirname, '..', '..', '.cache', 'test-tmp', `plan-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'net.prototxt'), p.prototxt);
    writeFileSync(join(dir, 'net.caffemodel'), p.caffemodel);
    const got = await runCaffeInOracle(join(dir, 'net.prototxt'), join(dir, 'net.caffemodel'), inputs.map(toCaffe), { allBlobs: true });
    return outputsAsKeras(p.plan, got);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** max|Δ| / max(1, max|ref|). */
export function relError(got: Tensor, ref: Tensor): number {
  if (got.data.length !== ref.data.length) throw new Error(`size mismatch: ${got.data.length} vs ${ref.data.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const e = Math.abs(got.data[i] - ref.data[i]);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
    m = Math.max(m, Math.abs(ref.data[i]));
  }
  return d / Math.max(1, m);
}

/** Elementwise map of a Keras tensor. */
export function mapValues(t: Tensor, f: (x: number, i: number) => number): Tensor {
  return tensor([...t.shape], t.data.map((x, i) => f(x, i)));
}
