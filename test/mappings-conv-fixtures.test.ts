/**
 * Parity of the conv-family fixtures (real Keras 2.3.1 models from fixtures/make_fixtures.py):
 * each converts with the default decisions and matches Keras's recorded outputs in OpenCV DNN
 * (and in real BVLC Caffe where the oracle is set up): max|Δ| ≤ 1e-4·max(1, max|ref|).
 * (test/fixtures.test.ts runs the whole table; this file is the families of the conv mappings.)
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCaffeInOpenCV } from '../src/verify/opencvNet.js';
import { oracleAvailable, repoRoot, runCaffeInOracle } from '../src/verify/caffeOracle.js';
import { kerasToCaffeBlob } from '../src/core/layout.js';
import { caffeInputs, compareOutputs, convertModel, fixtureManifest, fixturePath, readFixtureNpy, TOLERANCE } from './helpers/parity.js';

const MINE = ['depthwise', 'separable', 'conv_transpose_valid', 'conv_transpose_same', 'conv_transpose_outpad', 'upsampling_nearest', 'cropping2d', 'conv1d', 'conv1d_theano', 'permute', 'pool_same_max', 'pool_same_avg', 'unet_tiny'];
/**
 * pooling.ts refuses an even pool with stride 1 'same' (TF pads 0/1: Caffe's pad-by-begin gives one
 * output too few), which both pool_same fixtures contain; see the known-gap test in
 * test/mappings-pooling.test.ts, which fails once pooling.ts handles it: then drop this set.
 */
const KNOWN_GAP = new Set(['pool_same_max', 'pool_same_avg']);
const manifest = fixtureManifest().filter((f) => MINE.includes(f.name) && f.expect === 'ok');
const oracle = oracleAvailable();
const measured: string[] = [];

describe('conv-family fixtures: Caffe vs Keras', () => {
  for (const f of manifest) {
    const targets = f.name === 'permute' ? (['opencv'] as const) : (['caffe-1.0', 'opencv'] as const);
    for (const target of targets)
      it.skipIf(!existsSync(fixturePath(f.file)) || KNOWN_GAP.has(f.name))(`${f.name} [${target}]`, async () => {
        const c = await convertModel(fixturePath(f.file), { target });
        const inputs = (f.inputs ?? []).map(readFixtureNpy);
        const refs = (f.outputs ?? []).map(readFixtureNpy);
        const out = await runCaffeInOpenCV(c.prototxt, c.caffemodel, caffeInputs(c.plan, inputs), c.plan.outputs.map((o) => o.blob));
        const errs = compareOutputs(c.plan, out, refs);
        let line = `${f.name} [${target}]: opencv ${Math.max(...errs.map((e) => e.rel)).toExponential(2)} (max|ref| ${Math.max(...errs.map((e) => e.maxRef)).toFixed(2)})`;
        for (const e of errs) expect(e.rel).toBeLessThanOrEqual(TOLERANCE);
        if (oracle.ok && target !== 'opencv') {
          const dir = join(repoRoot(), '.cache', 'test-tmp');
          mkdirSync(dir, { recursive: true });
          const tmp = mkdtempSync(join(dir, `conv-${f.name}-`));
          try {
            writeFileSync(join(tmp, 'net.prototxt'), c.prototxt);
            writeFileSync(join(tmp, 'net.caffemodel'), c.caffemodel);
            const got = await runCaffeInOracle(join(tmp, 'net.prototxt'), join(tmp, 'net.caffemodel'), inputs.map((t) => kerasToCaffeBlob(t)));
            const cerrs = compareOutputs(c.plan, got, refs);
            line += `, caffe ${Math.max(...cerrs.map((e) => e.rel)).toExponential(2)}`;
            for (const e of cerrs) expect(e.rel).toBeLessThanOrEqual(TOLERANCE);
          } finally {
            rmSync(tmp, { recursive: true, force: true });
          }
        }
        measured.push(line);
      });
  }
  it('reports', () => console.log(measured.join('\n')));
});
