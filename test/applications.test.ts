/**
 * The keras.applications proof of issue 3: MobileNet, MobileNetV2, ResNet50, VGG16 (its own
 * include_top=True Flatten→4096→4096→1000 top, and a smaller spelt-out top), InceptionV3, DenseNet121, Xception and NASNetMobile, built with real Keras (random weights,
 * randomised BN statistics, small inputs) by fixtures/make_applications.py into .cache/applications/
 * (too big for git; CI generates them when the reference environment is there). Each model is
 * converted in-process for every target profile and run in OpenCV DNN and in real BVLC Caffe; the
 * outputs must match Keras's TensorFlow-semantics reference to max|Δ| ≤ 1e-4·max(1, max|ref|). The
 * tfjs reference (src/verify/kerasReference.ts, TF op semantics, independent of Theano) must agree
 * with the recorded reference too. A table model × target × runtime of max relative error is
 * printed at the end (and written to $APPLICATIONS_REPORT when set).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TARGETS, type TargetName } from '../src/core/targets.js';
import type { Tensor } from '../src/core/tensor.js';
import { readNpy } from '../src/verify/npy.js';
import { runCaffeInOpenCV } from '../src/verify/opencvNet.js';
import { oracleAvailable, runCaffeInOracle, repoRoot } from '../src/verify/caffeOracle.js';
import { openKerasH5 } from '../src/h5/kerasH5.js';
import { buildKerasReference } from '../src/verify/kerasReference.js';
import { compareValues } from '../src/verify/compare.js';
import { caffeInputs, compareOutputs, convertModel, TOLERANCE, type Converted, type FixtureEntry } from './helpers/parity.js';

const DIR = join(import.meta.dirname, '..', '.cache', 'applications');
const MANIFEST = join(DIR, 'manifest.json');

function manifest(): FixtureEntry[] {
  if (!existsSync(MANIFEST)) return [];
  return (JSON.parse(readFileSync(MANIFEST, 'utf8')) as FixtureEntry[]).filter((e) =>
    [e.file, ...(e.inputs ?? []), ...(e.outputs ?? [])].every((f) => existsSync(join(DIR, f))),
  );
}

const entries = manifest();
const skipAll = entries.length === 0;
if (skipAll)
  console.warn(`[applications] skipped: no models in ${MANIFEST}; generate them with \`../shared/oracle/run python3 fixtures/make_applications.py\``);
const oracle = oracleAvailable();
if (!skipAll && !oracle.ok) console.warn(`[applications] real-Caffe parity skipped: ${oracle.reason}`);

const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];
/** Layer types of the opencv profile that BVLC Caffe does not have. */
const NOT_IN_CAFFE = ['Permute', 'ReLU6'];
const LONG = 900_000;

const npy = (f: string): Tensor => readNpy(new Uint8Array(readFileSync(join(DIR, f))), f);

/** One conversion per model and target, shared by its OpenCV and real-Caffe tests, then released (caffemodels of ~100 MB). */
const conversions = new Map<string, Promise<Converted>>();
function release(e: FixtureEntry, target: TargetName): void {
  conversions.delete(`${e.name}/${target}`);
}
function converted(e: FixtureEntry, target: TargetName): Promise<Converted> {
  const key = `${e.name}/${target}`;
  let p = conversions.get(key);
  if (!p) {
    p = convertModel(join(DIR, e.file), { target });
    conversions.set(key, p);
  }
  return p;
}

/** Why OpenCV DNN cannot run this net (layers outside its profile, round_mode), or null. */
function openCVCannotRun(c: Converted): string | null {
  const types = new Set(c.plan.layers.flatMap((l) => l.caffeLayers.map((x) => x.type)));
  const missing = [...types].filter((t) => !TARGETS.opencv.has(t));
  if (missing.length) return `OpenCV DNN has no ${missing.join(', ')} layer`;
  if (/round_mode/.test(c.prototxt)) return 'OpenCV DNN does not read pooling round_mode';
  return null;
}

function caffeCannotRun(c: Converted): string | null {
  const missing = NOT_IN_CAFFE.filter((t) => c.prototxt.includes(`type: "${t}"`));
  return missing.length ? `BVLC Caffe has no ${missing.join(', ')} layer` : null;
}

const table = new Map<string, string>();
const cell = (name: string, target: string, runtime: string) => `${name}\t${target}\t${runtime}`;

describe.skipIf(skipAll)('keras.applications models (issue 3 proof)', () => {
  for (const e of entries) {
    it(`${e.name}: the tfjs reference (TF semantics) agrees with the recorded reference`, async () => {
      const file = await openKerasH5(join(DIR, e.file));
      try {
        const ref = await buildKerasReference(file);
        try {
          expect(ref.unbuilt.map((u) => u.message)).toEqual([]);
          const values = ref.predictAll((e.inputs ?? []).map(npy));
          (e.outputs ?? []).forEach((o, i) => {
            const want = npy(o);
            const got = values.get(ref.outputs[i]);
            expect(got).toBeDefined();
            const err = compareValues(want.data, got!.data).maxRel;
            table.set(cell(e.name, '-', 'tfjs'), err.toExponential(2));
            expect(err).toBeLessThanOrEqual(TOLERANCE);
          });
        } finally {
          ref.dispose();
        }
      } finally {
        file.close();
      }
    }, LONG);

    for (const target of TARGET_NAMES) {
      it(`${e.name} [${target}]: OpenCV DNN matches Keras`, async (ctx) => {
        const c = await converted(e, target);
        if (!oracle.ok) release(e, target);
        const cannot = openCVCannotRun(c);
        if (cannot) {
          table.set(cell(e.name, target, 'opencv'), `skip: ${cannot}`);
          console.warn(`[applications] ${e.name} [${target}]: OpenCV check skipped: ${cannot}`);
          ctx.skip();
        }
        const out = await runCaffeInOpenCV(c.prototxt, c.caffemodel, caffeInputs(c.plan, (e.inputs ?? []).map(npy)), c.plan.outputs.map((o) => o.blob));
        const errs = compareOutputs(c.plan, out, (e.outputs ?? []).map(npy));
        table.set(cell(e.name, target, 'opencv'), Math.max(...errs.map((x) => x.rel)).toExponential(2));
        for (const x of errs) expect(x.rel).toBeLessThanOrEqual(TOLERANCE);
      }, LONG);

      it.skipIf(!oracle.ok)(`${e.name} [${target}]: real Caffe matches Keras`, async (ctx) => {
        const c = await converted(e, target);
        release(e, target);
        const cannot = caffeCannotRun(c);
        if (cannot) {
          table.set(cell(e.name, target, 'caffe'), `skip: ${cannot}`);
          console.warn(`[applications] ${e.name} [${target}]: real-Caffe check skipped: ${cannot}`);
          ctx.skip();
        }
        const dir = join(repoRoot(), '.cache', 'test-tmp');
        mkdirSync(dir, { recursive: true });
        const tmp = mkdtempSync(join(dir, `app-${e.name}-`));
        try {
          writeFileSync(join(tmp, 'net.prototxt'), c.prototxt);
          writeFileSync(join(tmp, 'net.caffemodel'), c.caffemodel);
          const inputs = caffeInputs(c.plan, (e.inputs ?? []).map(npy)).map((i) => i.tensor);
          const out = await runCaffeInOracle(join(tmp, 'net.prototxt'), join(tmp, 'net.caffemodel'), inputs);
          const errs = compareOutputs(c.plan, out, (e.outputs ?? []).map(npy));
          table.set(cell(e.name, target, 'caffe'), Math.max(...errs.map((x) => x.rel)).toExponential(2));
          for (const x of errs) expect(x.rel).toBeLessThanOrEqual(TOLERANCE);
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      }, LONG);
    }
  }
});

afterAll(() => {
  if (skipAll) return;
  const cols = [...TARGET_NAMES.flatMap((t) => [`${t}/opencv`, `${t}/caffe`]), 'tfjs'];
  const lines = [['model', ...cols].join(' | ')];
  for (const e of entries) {
    const row = TARGET_NAMES.flatMap((t) => [table.get(cell(e.name, t, 'opencv')), table.get(cell(e.name, t, 'caffe'))]);
    row.push(table.get(cell(e.name, '-', 'tfjs')));
    lines.push([e.name, ...row.map((v) => v ?? 'n/a')].join(' | '));
  }
  const text = `max relative error (max|Δ| / max(1, max|ref|)), tolerance ${TOLERANCE}:\n${lines.join('\n')}\n`;
  console.log(`[applications]\n${text}`);
  if (process.env.APPLICATIONS_REPORT) writeFileSync(process.env.APPLICATIONS_REPORT, text);
});
