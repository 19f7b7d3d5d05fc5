/**
 * The fixture table: every model in fixtures/models/manifest.json (made with real Keras by
 * fixtures/make_fixtures.py) either converts and matches Keras's recorded outputs in OpenCV DNN
 * and in real BVLC Caffe, or fails with the expected one-line error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../src/core/errors.js';
import { TARGETS, type TargetName } from '../src/core/targets.js';
import { runCaffeInOpenCV } from '../src/verify/opencvNet.js';
import { oracleAvailable, runCaffeInOracle, repoRoot } from '../src/verify/caffeOracle.js';
import { caffeInputs, compareOutputs, convertModel, fixtureManifest, fixturePath, readFixtureNpy, TOLERANCE, type Converted } from './helpers/parity.js';

const manifest = fixtureManifest();
const oracle = oracleAvailable();
if (!oracle.ok) console.warn(`[fixtures] real-Caffe parity skipped: ${oracle.reason}`);
const results: string[] = [];

/** Targets each fixture is checked on; `opencv` runs only in OpenCV (BVLC Caffe cannot load Permute). */
const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

/** Conversions that must refuse with default decisions on a target, and why. */
const EXPECTED_REFUSALS: Record<string, Partial<Record<TargetName, RegExp>>> = {
  permute: { 'caffe-1.0': /Permute/, bvlc: /Permute/ },
  // ReLU(threshold) is a step function: only Caffe's Threshold layer gives it, and OpenCV lacks it.
  relu6: { opencv: /Threshold/ },
  // The demo's Lambda needs a handler (the wizard asks); headless defaults stop there.
  demo: { 'caffe-1.0': /Lambda/, bvlc: /Lambda/, opencv: /Lambda/ },
};

/** Why OpenCV DNN cannot run this net (layers outside its profile, round_mode), or null. */
function openCVCannotRun(c: Converted): string | null {
  const types = new Set(c.plan.layers.flatMap((l) => l.caffeLayers.map((x) => x.type)));
  const missing = [...types].filter((t) => !TARGETS.opencv.has(t));
  if (missing.length) return `OpenCV DNN has no ${missing.join(', ')} layer`;
  if (/round_mode/.test(c.prototxt)) return 'OpenCV DNN does not read pooling round_mode';
  return null;
}

describe('fixture models', () => {
  it('has a manifest', () => {
    expect(manifest.length).toBeGreaterThan(10);
  });

  for (const f of manifest) {
    if (f.expect !== 'ok') {
      const want = f.expect.error;
      it(`${f.name}: refuses with '${want}'`, async () => {
        const err = await convertModel(fixturePath(f.file), { decisions: {} }).then(
          () => null,
          (e) => e,
        );
        expect(err).not.toBeNull();
        const message = String(err.message);
        // UserErrors from loading, or a plan that is not convertible (reasons listed).
        expect(err instanceof UserError || message.startsWith('not convertible')).toBe(true);
        expect(message.toLowerCase()).toContain(want.toLowerCase());
      });
      continue;
    }
    for (const target of TARGET_NAMES) {
      const refusal = EXPECTED_REFUSALS[f.name]?.[target];
      if (refusal) {
        it(`${f.name} [${target}]: refuses (${refusal.source})`, async () => {
          await expect(convertModel(fixturePath(f.file), { target })).rejects.toThrow(refusal);
        });
        continue;
      }
      it(`${f.name} [${target}]: OpenCV DNN matches Keras`, async (ctx) => {
        const c = await convertModel(fixturePath(f.file), { target });
        const cannot = openCVCannotRun(c);
        if (cannot) {
          console.warn(`[fixtures] ${f.name} [${target}]: OpenCV check skipped: ${cannot}`);
          ctx.skip();
        }
        const inputs = (f.inputs ?? []).map(readFixtureNpy);
        const refs = (f.outputs ?? []).map(readFixtureNpy);
        const out = await runCaffeInOpenCV(c.prototxt, c.caffemodel, caffeInputs(c.plan, inputs), c.plan.outputs.map((o) => o.blob));
        const errs = compareOutputs(c.plan, out, refs);
        results.push(`${f.name}\t${target}\topencv\t${Math.max(...errs.map((e) => e.rel)).toExponential(2)}`);
        for (const e of errs) expect(e.rel).toBeLessThanOrEqual(TOLERANCE);
      });
      it.skipIf(!oracle.ok || target === 'opencv')(`${f.name} [${target}]: real Caffe matches Keras`, async () => {
        const c = await convertModel(fixturePath(f.file), { target });
        const dir = join(repoRoot(), '.cache', 'test-tmp');
        mkdirSync(dir, { recursive: true });
        const tmp = mkdtempSync(join(dir, `${f.name}-`));
        try {
          writeFileSync(join(tmp, 'net.prototxt'), c.prototxt);
          writeFileSync(join(tmp, 'net.caffemodel'), c.caffemodel);
          const inputs = caffeInputs(c.plan, (f.inputs ?? []).map(readFixtureNpy)).map((i) => i.tensor);
          const out = await runCaffeInOracle(join(tmp, 'net.prototxt'), join(tmp, 'net.caffemodel'), inputs);
          const errs = compareOutputs(c.plan, out, (f.outputs ?? []).map(readFixtureNpy));
          results.push(`${f.name}\t${target}\tcaffe\t${Math.max(...errs.map((e) => e.rel)).toExponential(2)}`);
          for (const e of errs) expect(e.rel).toBeLessThanOrEqual(TOLERANCE);
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      });
    }
  }
});

afterAll(() => {
  if (process.env.FIXTURE_REPORT) writeFileSync(process.env.FIXTURE_REPORT, results.sort().join('\n') + '\n');
});
