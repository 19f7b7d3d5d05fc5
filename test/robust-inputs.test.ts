import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBadFiles, runMain } from './helpers/badFiles.js';

describe('explore', () => {
  it('runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2c-bad-'));
    const files = await makeBadFiles(join(dir, 'in'));
    const out = mkdtempSync(join(tmpdir(), 'k2c-out-'));
    for (const [name, p] of Object.entries(files)) {
      for (const env of [{}, { KERAS2CAFFE_H5: 'h5wasm' }]) {
        const r = await runMain(['convert', p, '--out', out, '--yes', '--force'], env);
        console.log(`${name} ${JSON.stringify(env)} code=${r.code} ms=${r.ms.toFixed(0)} stderr=${JSON.stringify(r.stderr)}`);
      }
    }
  }, 120_000);
});
