import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomicWriteFile, openAtomic, tempPathFor } from '../src/caffe/atomicWrite.js';
import { writeCaffemodel } from '../src/caffe/caffemodel.js';
import type { CaffeNet } from '../src/caffe/net.js';

let root: string;
let n = 0;
async function freshDir(): Promise<string> {
  const d = join(root, `d${n++}`);
  await mkdir(d);
  return d;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'k2c-atomic-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function netFailingAt(failAt: number, layers = 4): CaffeNet {
  return {
    name: 'n',
    layers: Array.from({ length: layers }, (_, i) => ({
      name: `l${i}`,
      type: 'Parameter',
      bottom: [],
      top: [`l${i}`],
      blobs: () => {
        if (i === failAt) throw new Error(`boom at l${i}`);
        return [{ shape: [256, 256], data: new Float32Array(256 * 256).fill(i) }];
      },
    })),
  };
}

describe('atomic writes', () => {
  it('temp names are hidden, in the same folder, and unique', () => {
    const a = tempPathFor('/x/y/model.caffemodel');
    expect(a).toMatch(new RegExp(`^/x/y/\\.model\\.caffemodel\\.tmp-${process.pid}-[0-9a-f]{8}$`));
    expect(tempPathFor('/x/y/model.caffemodel')).not.toBe(a);
  });

  it('atomicWriteFile writes and replaces, leaving no temp file', async () => {
    const d = await freshDir();
    const p = join(d, 'deploy.prototxt');
    await atomicWriteFile(p, 'one\n');
    await atomicWriteFile(p, new Uint8Array([116, 119, 111]));
    expect(await readFile(p, 'utf8')).toBe('two');
    expect(await readdir(d)).toEqual(['deploy.prototxt']);
  });

  it('a failure mid-way through writeCaffemodel leaves no file and no temp file', async () => {
    const d = await freshDir();
    const p = join(d, 'm.caffemodel');
    let progressCalls = 0;
    await expect(writeCaffemodel(netFailingAt(2), p, () => void progressCalls++)).rejects.toThrow('boom at l2');
    expect(progressCalls).toBe(2); // two layers were on disk (in the temp file) when it failed
    expect(await readdir(d)).toEqual([]);
  });

  it('shows only the temp file while writing, and keeps an existing file intact on failure', async () => {
    const d = await freshDir();
    const p = join(d, 'm.caffemodel');
    await writeFile(p, 'old');
    const seen: string[][] = [];
    const net = netFailingAt(3);
    await expect(writeCaffemodel(net, p, () => void seen.push(readdirSync(d).sort()))).rejects.toThrow('boom at l3');
    expect(seen.length).toBe(3);
    for (const files of seen) {
      expect(files.length).toBe(2);
      expect(files[0]).toMatch(/^\.m\.caffemodel\.tmp-\d+-[0-9a-f]{8}$/);
      expect(files[1]).toBe('m.caffemodel');
    }
    expect(await readFile(p, 'utf8')).toBe('old');
    expect(await readdir(d)).toEqual(['m.caffemodel']);
  });

  it('an exception from onProgress also aborts cleanly', async () => {
    const d = await freshDir();
    await expect(
      writeCaffemodel(netFailingAt(-1), join(d, 'm.caffemodel'), (done) => {
        if (done === 2) throw new Error('cancelled');
      }),
    ).rejects.toThrow('cancelled');
    expect(await readdir(d)).toEqual([]);
  });

  it('a failing commit (target is a folder) removes the temp file', async () => {
    const d = await freshDir();
    await mkdir(join(d, 'taken'));
    await expect(atomicWriteFile(join(d, 'taken'), 'x')).rejects.toThrow();
    expect(await readdir(d)).toEqual(['taken']);
  });

  it('a missing folder fails before anything is written', async () => {
    const d = await freshDir();
    await expect(atomicWriteFile(join(d, 'no', 'such', 'f.txt'), 'x')).rejects.toThrow(/ENOENT/);
    expect(await readdir(d)).toEqual([]);
  });

  it('openAtomic: abort deletes, writes after commit/abort throw', async () => {
    const d = await freshDir();
    const f = await openAtomic(join(d, 'a.bin'));
    await f.write('hello');
    expect(f.bytesWritten).toBe(5);
    expect(await readdir(d)).toEqual([f.tempPath.slice(d.length + 1)]);
    await f.abort();
    await f.abort();
    expect(await readdir(d)).toEqual([]);
    await expect(f.write('x')).rejects.toThrow(/write after aborted/);

    const g = await openAtomic(join(d, 'b.bin'));
    await g.write(new Uint8Array([1, 2, 3]));
    await g.commit();
    await expect(g.write('x')).rejects.toThrow(/write after committed/);
    await g.abort(); // no-op after commit
    expect(await readdir(d)).toEqual(['b.bin']);
    expect([...(await readFile(join(d, 'b.bin')))]).toEqual([1, 2, 3]);
  });
});
