/** Converting a fixture in-process and comparing Caffe runtimes with Keras's recorded outputs. */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/core/model.js';
import { buildNet, planConversion, type Plan, type PlanOptions } from '../../src/core/planner.js';
import { writePrototxt } from '../../src/caffe/prototxt.js';
import { encodeCaffemodel } from '../../src/caffe/caffemodel.js';
import { readNpy } from '../../src/verify/npy.js';
import { kerasToCaffeBlob, caffeBlobToKeras } from '../../src/core/layout.js';
import type { Tensor } from '../../src/core/tensor.js';

export const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'models');

export interface FixtureEntry {
  name: string;
  file: string;
  inputs?: string[];
  outputs?: string[];
  family?: string;
  backend?: string;
  keras_format?: string;
  notes?: string;
  expect: 'ok' | { error: string };
}

export function fixtureManifest(): FixtureEntry[] {
  const p = join(FIXTURES, 'manifest.json');
  if (!existsSync(p)) return [];
  return JSON.parse(readFileSync(p, 'utf8'));
}

export function fixturePath(file: string): string {
  return join(FIXTURES, file);
}

export interface Converted {
  plan: Plan;
  prototxt: string;
  caffemodel: Uint8Array;
}

/** Loads, plans (accepting every default decision) and encodes a model. */
export async function convertModel(path: string, options: PlanOptions = {}): Promise<Converted> {
  const model = await loadModel(path);
  try {
    const plan = planConversion(model.graph, model.file, options);
    if (!plan.convertible) {
      const why = [...plan.problems, ...plan.layers.filter((l) => l.status === 'unsupported').map((l) => `${l.layer.name}: ${l.reason}`)];
      throw new Error(`not convertible: ${why.join('; ')}`);
    }
    const net = buildNet(plan);
    return { plan, prototxt: writePrototxt(net), caffemodel: encodeCaffemodel(net) };
  } finally {
    model.file.close();
  }
}

export function readFixtureNpy(file: string): Tensor {
  return readNpy(new Uint8Array(readFileSync(fixturePath(file))), file);
}

/** Caffe-layout inputs for the plan's inputs from NHWC arrays. */
export function caffeInputs(plan: Plan, inputs: Tensor[]): { name: string; tensor: Tensor }[] {
  return plan.inputs.map((p, i) => ({ name: p.blob, tensor: kerasToCaffeBlob(inputs[i]) }));
}

export interface ErrorFigures {
  maxAbs: number;
  maxRef: number;
  /** max|Δ| / max(1, max|ref|) */
  rel: number;
}

export function compareTensors(got: Float32Array, ref: Float32Array): ErrorFigures {
  if (got.length !== ref.length) throw new Error(`size mismatch: got ${got.length} values, reference has ${ref.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return { maxAbs, maxRef, rel: maxAbs / Math.max(1, maxRef) };
}

/** Compares the Caffe outputs (by output blob) with Keras reference outputs (NHWC, in model order). */
export function compareOutputs(plan: Plan, caffeOut: Map<string, Tensor>, refs: Tensor[]): ErrorFigures[] {
  return plan.outputs.map((o, i) => {
    const got = caffeOut.get(o.blob);
    if (!got) throw new Error(`Caffe gave no blob '${o.blob}'`);
    const flatFrom = o.layout.kind === 'flat-chw' ? o.layout.from : undefined;
    const keras = caffeBlobToKeras(got, o.kerasShape, flatFrom);
    return compareTensors(keras.data, refs[i].data);
  });
}

export const TOLERANCE = 1e-4;
