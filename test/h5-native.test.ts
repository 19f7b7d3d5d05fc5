/**
 * The plain-TypeScript HDF5 reader (src/h5/hdf5.ts) gives the conversion exactly what h5wasm
 * gives: the same model_config, versions, layer and weight names, shapes and float bytes, on
 * every fixture model; and files it does not understand go to h5wasm (same answers, or the
 * same error). With the reference environment, unusual layouts made by h5py are checked too:
 * libver='latest' (superblock 3, v2 object headers, link messages), variable-length string
 * attributes, float64 and compact datasets, a user block, dense attribute storage, big-endian
 * data, a truncated file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { openKerasH5 } from '../src/h5/kerasH5.js';
import { sourceOf } from '../src/core/weightBuffers.js';
import { oracleAvailable, oracleScriptsDir, repoRoot } from '../src/verify/caffeOracle.js';

const root = repoRoot();

function h5Files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? h5Files(join(dir, e.name)) : e.name.endsWith('.h5') ? [join(dir, e.name)] : [],
  );
}

/** A digest of everything the conversion reads from a model file, or its error message. */
async function digest(path: string, reader: 'native' | 'h5wasm'): Promise<{ hash?: string; error?: string; native: boolean }> {
  const saved = process.env.KERAS2CAFFE_H5;
  if (reader === 'h5wasm') process.env.KERAS2CAFFE_H5 = 'h5wasm';
  else delete process.env.KERAS2CAFFE_H5;
  try {
    const file = await openKerasH5(path);
    try {
      const h = createHash('sha256');
      h.update(JSON.stringify([file.kerasVersion, file.backend, file.modelConfig, file.weightLayerNames, file.weightBytes()]));
      let native = false;
      for (const g of file.weightLayerNames)
        for (const e of file.weightEntries(g)) {
          h.update(JSON.stringify(e));
          const t = file.readWeight(e);
          if (sourceOf(t)) native = true;
          h.update(JSON.stringify(t.shape));
          h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        }
      return { hash: h.digest('hex'), native };
    } finally {
      file.close();
    }
  } catch (err) {
    return { error: String((err as Error).message), native: false };
  } finally {
    if (saved === undefined) delete process.env.KERAS2CAFFE_H5;
    else process.env.KERAS2CAFFE_H5 = saved;
  }
}

describe('native HDF5 reader = h5wasm', () => {
  const files = h5Files(join(root, 'fixtures'));
  it('has fixture files to compare', () => {
    expect(files.length).toBeGreaterThan(5);
  });
  for (const f of files) {
    it(relative(root, f), async () => {
      const a = await digest(f, 'native');
      const b = await digest(f, 'h5wasm');
      expect({ hash: a.hash, error: a.error }).toEqual({ hash: b.hash, error: b.error });
    });
  }
});

const oracle = oracleAvailable();
const VARIANTS = `
import os, shutil, sys
import numpy as np, h5py, keras
from keras import layers
out = sys.argv[1]
src = os.path.join(out, 'src.h5')
np.random.seed(1)
m = keras.models.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 3), activation='relu'), layers.BatchNormalization(), layers.Flatten(), layers.Dense(5)])
m.save(src)
def copy(dst, transform=None, **kw):
    with h5py.File(src, 'r') as f, h5py.File(os.path.join(out, dst), 'w', **kw) as g:
        for k, v in f.attrs.items(): g.attrs[k] = v
        def cp(name, obj):
            if isinstance(obj, h5py.Group):
                gg = g.require_group(name)
                for a, v in obj.attrs.items(): gg.attrs[a] = v
            elif transform: transform(g, name, obj)
            else: g.create_dataset(name, data=obj[()])
        f.visititems(cp)
        return g
copy('latest.h5', libver='latest')
copy('userblock.h5', userblock_size=512)
def f64(g, name, obj):
    if 'bias' in name:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE); dcpl.set_layout(h5py.h5d.COMPACT)
        d = h5py.h5d.create(g.id, name.encode(), h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple(obj.shape), dcpl=dcpl)
        d.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(obj[()], dtype='<f4'))
    else: g.create_dataset(name, data=obj[()].astype('<f8'))
copy('f64_compact.h5', f64)
copy('bigendian.h5', lambda g, name, obj: g.create_dataset(name, data=obj[()].astype('>f4')))
copy('chunked.h5', lambda g, name, obj: g.create_dataset(name, data=obj[()], chunks=True, compression='gzip'))
shutil.copy(src, os.path.join(out, 'vlen.h5'))
with h5py.File(os.path.join(out, 'vlen.h5'), 'r+') as g:
    for k in ['model_config', 'keras_version', 'backend']:
        v = g.attrs[k]; s = v.decode('utf8') if isinstance(v, bytes) else str(v)
        del g.attrs[k]; g.attrs[k] = s
    mw = g['model_weights']
    names = [n.decode() if isinstance(n, bytes) else n for n in mw.attrs['layer_names']]
    del mw.attrs['layer_names']
    mw.attrs.create('layer_names', names, dtype=h5py.special_dtype(vlen=str))
with h5py.File(src, 'r') as f, h5py.File(os.path.join(out, 'dense_attrs.h5'), 'w', libver='latest') as g:
    for k, v in f.attrs.items(): g.attrs[k] = v
    for i in range(20): g.attrs['extra%d' % i] = i
    for k in f: f.copy(k, g)
data = open(src, 'rb').read()
open(os.path.join(out, 'truncated.h5'), 'wb').write(data[: len(data) - 100])
`;

describe.skipIf(!oracle.ok)('native HDF5 reader on unusual layouts (made with h5py)', () => {
  const base = join(root, '.cache', 'test-tmp');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'h5-native-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let made = false;
  const make = () => {
    if (made) return;
    writeFileSync(join(dir, 'make.py'), VARIANTS);
    const rel = relative(root, dir);
    const r = spawnSync(join(oracleScriptsDir(), 'run'), ['python3', `${rel}/make.py`, rel], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`making the variants failed:\n${r.stdout}${r.stderr}`);
    made = true;
  };
  // Which files the native reader reads itself (the rest go to h5wasm).
  const expectNative: Record<string, boolean> = {
    'src.h5': true,
    'latest.h5': true,
    'userblock.h5': true,
    'f64_compact.h5': true,
    'vlen.h5': true,
    'bigendian.h5': false,
    'chunked.h5': false,
    'dense_attrs.h5': false,
    'truncated.h5': false,
  };
  for (const [name, native] of Object.entries(expectNative)) {
    it(`${name}: same as h5wasm${native ? ', read natively' : ', read by h5wasm'}`, { timeout: 120_000 }, async () => {
      make();
      const f = join(dir, name);
      const a = await digest(f, 'native');
      const b = await digest(f, 'h5wasm');
      expect({ hash: a.hash, error: a.error }).toEqual({ hash: b.hash, error: b.error });
      // f64_compact.h5 holds no float32 contiguous data: natively read, but not file-backed.
      if (name !== 'f64_compact.h5' && !a.error) expect(a.native).toBe(native);
    });
  }
});
