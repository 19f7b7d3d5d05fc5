/**
 * Fixture parity for a named real-Keras fixture (fixtures/models/NAME.h5 + NAME.in0.npy +
 * NAME.out0.npy): converts it for a target and runs the Caffe net in OpenCV DNN and (where set up)
 * in real BVLC Caffe, returning the error figures against Keras's recorded outputs.
 * Uses the manifest when present, else the default file names.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TargetName } from '../../src/core/targets.js';
import { runCaffeInOpenCV } from '../../src/verify/opencvNet.js';
import { oracleAvailable, runCaffeInOracle } from '../../src/verify/caffeOracle.js';
import { caffeInputs, compareOutputs, convertModel, fixtureManifest, fixturePath, readFixtureNpy, type ErrorFigures, type FixtureEntry } from './parity.js';

export function fixtureEntry(name: string): FixtureEntry | undefined {
  const m = fixtureManifest().find((f) => f.name === name);
  if (m) return m.expect === 'ok' && existsSync(fixturePath(m.file)) ? m : undefined;
  // Not (yet) in the manifest: the default file names.
  const file = `${name}.h5`;
  if (!existsSync(fixturePath(file)) || !existsSync(fixturePath(`${name}.out0.npy`))) return undefined;
  return { name, file, inputs: [`${name}.in0.npy`], outputs: [`${name}.out0.npy`], expect: 'ok' };
}

/** Caffe layer types OpenCV DNN (4.12, opencv.js) cannot create. */
const NOT_IN_OPENCV = ['Threshold', 'Clip', 'Bias', 'Tile'];
/** Layer types of the opencv target that BVLC Caffe does not have. */
const NOT_IN_CAFFE = ['Permute', 'ReLU6'];

export interface FixtureRun {
  runtime: 'opencv' | 'caffe';
  figures: ErrorFigures[];
}

export async function fixtureParity(name: string, target: TargetName): Promise<FixtureRun[]> {
  const f = fixtureEntry(name);
  if (!f) throw new Error(`fixture '${name}' is missing`);
  const c = await convertModel(fixturePath(f.file), { target });
  const ins = (f.inputs ?? [`${name}.in0.npy`]).map(readFixtureNpy);
  const refs = (f.outputs ?? [`${name}.out0.npy`]).map(readFixtureNpy);
  const inputs = caffeInputs(c.plan, ins);
  const blobs = c.plan.outputs.map((o) => o.blob);
  const runs: FixtureRun[] = [];
  if (!NOT_IN_OPENCV.some((t) => c.prototxt.includes(`type: "${t}"`))) {
    const got = await runCaffeInOpenCV(c.prototxt, c.caffemodel, inputs, blobs);
    runs.push({ runtime: 'opencv', figures: compareOutputs(c.plan, got, refs) });
  }
  if (oracleAvailable().ok && !NOT_IN_CAFFE.some((t) => c.prototxt.includes(`type: "${t}"`))) {
    const dir = resolve(import.meta.dirname, '..', '..', '.cache', 'test-tmp', `fixture-${name}-${process.pid}-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, 'net.prototxt'), c.prototxt);
      writeFileSync(join(dir, 'net.caffemodel'), c.caffemodel);
      const got = await runCaffeInOracle(join(dir, 'net.prototxt'), join(dir, 'net.caffemodel'), inputs.map((i) => i.tensor), { allBlobs: true });
      runs.push({ runtime: 'caffe', figures: compareOutputs(c.plan, got, refs) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return runs;
}

export function figuresText(name: string, target: string, runs: FixtureRun[]): string[] {
  return runs.flatMap((r) => r.figures.map((e, i) => `fixture ${name}[${i}] ${target}/${r.runtime}: max|Δ| ${e.maxAbs.toExponential(2)}, max|ref| ${e.maxRef.toFixed(3)}, rel ${e.rel.toExponential(2)}`));
}
