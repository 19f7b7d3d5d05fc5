import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { UserError } from '../src/core/errors.js';
import { readNpy, readNpz, writeNpy } from '../src/verify/npy.js';

// test/data/npy/* were written by numpy 1.19.5 in the oracle environment (np.save / np.savez /
// np.savez_compressed); see the values below.
const data = (f: string) => new Uint8Array(readFileSync(new URL(`./data/npy/${f}`, import.meta.url)));
const A = [-0.5, -0.25, 0, 0.25, 0.5, 0.75]; // np.arange(6).reshape(2, 3) / 4 - 0.5

function expectUserError(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(re);
  expect((err as Error).message).not.toContain('\n');
}

describe('writeNpy', () => {
  it('is byte-identical to np.save of a float32 array', () => {
    const mine = writeNpy({ shape: [2, 3], data: Float32Array.from(A) });
    expect(Buffer.from(mine).equals(Buffer.from(data('f32_2x3.npy')))).toBe(true);
    const t4 = writeNpy({ shape: [1, 2, 3, 4], data: Float32Array.from({ length: 24 }, (_, i) => i) });
    expect(Buffer.from(t4).equals(Buffer.from(data('f32_1x2x3x4.npy')))).toBe(true);
    const scalar = writeNpy({ shape: [], data: Float32Array.of(3.25) });
    expect(Buffer.from(scalar).equals(Buffer.from(data('f32_scalar.npy')))).toBe(true);
  });

  it('pads the header to 64 bytes, ends it with a newline, writes 1-D shapes as (n,)', () => {
    const b = writeNpy({ shape: [5], data: new Float32Array(5) });
    const headerLen = b[8] | (b[9] << 8);
    expect((10 + headerLen) % 64).toBe(0);
    const header = new TextDecoder().decode(b.subarray(10, 10 + headerLen));
    expect(header.endsWith('\n')).toBe(true);
    expect(header).toContain("'shape': (5,)");
    expect(b.length).toBe(10 + headerLen + 20);
  });

  it('round-trips through readNpy, exactly', () => {
    const vals = Float32Array.from([0, -0, 1.5, -3.25e-8, 3.4e38, Infinity, -Infinity, NaN, 1 / 3]);
    for (const shape of [[9], [3, 3], [1, 3, 1, 3], [9, 1]]) {
      const back = readNpy(writeNpy({ shape, data: vals }));
      expect(back.shape).toEqual(shape);
      expect(Buffer.from(back.data.buffer).equals(Buffer.from(vals.buffer))).toBe(true);
    }
    const empty = readNpy(writeNpy({ shape: [0, 4], data: new Float32Array(0) }));
    expect(empty.shape).toEqual([0, 4]);
    expect(empty.data.length).toBe(0);
  });

  it('refuses a tensor whose data does not match its shape', () => {
    expect(() => writeNpy({ shape: [2, 2], data: new Float32Array(3) })).toThrow(/4/);
  });
});

describe('readNpy', () => {
  it('reads numpy files of every numeric dtype as float32', () => {
    expect(readNpy(data('f32_2x3.npy'))).toEqual({ shape: [2, 3], data: Float32Array.from(A) });
    expect(readNpy(data('f32be_2x3.npy'))).toEqual({ shape: [2, 3], data: Float32Array.from(A) });
    expect(readNpy(data('f64_2x2x2.npy'))).toEqual({ shape: [2, 2, 2], data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7].map((i) => (i - 3.5) * 1.25)) });
    expect(readNpy(data('i64_5.npy'))).toEqual({ shape: [5], data: Float32Array.from([-3, -1, 0, 7, 2 ** 40]) });
    expect(readNpy(data('i32_2x2.npy'))).toEqual({ shape: [2, 2], data: Float32Array.from([1, -2, 3, -4]) });
    expect(readNpy(data('u8_4.npy'))).toEqual({ shape: [4], data: Float32Array.from([0, 1, 128, 255]) });
    expect(readNpy(data('bool_3.npy'))).toEqual({ shape: [3], data: Float32Array.from([1, 0, 1]) });
    expect(readNpy(data('f16_3.npy'))).toEqual({ shape: [3], data: Float32Array.from([1.5, -0.25, 65504]) });
    expect(readNpy(data('f32_scalar.npy'))).toEqual({ shape: [], data: Float32Array.of(3.25) });
  });

  it('reads from an unaligned view into a larger buffer', () => {
    const f = data('f32_2x3.npy');
    const big = new Uint8Array(f.length + 3);
    big.set(f, 3);
    expect(readNpy(big.subarray(3)).data).toEqual(Float32Array.from(A));
  });

  it('rejects Fortran order, bad magic, truncation and odd dtypes with one-line UserErrors', () => {
    expectUserError(() => readNpy(data('f32_fortran_2x3.npy')), /Fortran/);
    expectUserError(() => readNpy(new TextEncoder().encode('not numpy at all')), /not a \.npy file/);
    const f = data('f32_2x3.npy');
    expectUserError(() => readNpy(f.subarray(0, f.length - 1)), /truncated/);
    expectUserError(() => readNpy(f.subarray(0, 40)), /truncated/);
    const cplx = Uint8Array.from(f);
    cplx.set(new TextEncoder().encode("<c8'"), cplx.indexOf(0x3c)); // '<f4' -> '<c8'
    expectUserError(() => readNpy(cplx), /dtype '<c8'/);
    const v9 = Uint8Array.from(f);
    v9[6] = 9;
    expectUserError(() => readNpy(v9), /version 9/);
  });

  it('names the source in its errors', () => {
    expectUserError(() => readNpy(new Uint8Array(3), 'input.npy'), /^input\.npy: /);
  });
});

describe('readNpz', () => {
  it('reads np.savez (STORED, zip64 local headers) and np.savez_compressed (DEFLATE)', () => {
    for (const f of ['two.npz', 'two_compressed.npz']) {
      const m = readNpz(data(f));
      expect([...m.keys()].sort()).toEqual(['x', 'y']);
      expect(m.get('x')).toEqual({ shape: [2, 3], data: Float32Array.from(A) });
      expect(m.get('y')).toEqual({ shape: [4], data: Float32Array.from([0, 1, 2, 3]) });
    }
  });

  it('reads a hand-made archive with a deflated member and keeps slashes in names', () => {
    const npy = writeNpy({ shape: [2], data: Float32Array.of(1, 2) });
    const zip = makeZip([{ name: '__all__/conv1.npy', bytes: npy, deflate: true }]);
    expect(readNpz(zip).get('__all__/conv1')).toEqual({ shape: [2], data: Float32Array.of(1, 2) });
  });

  it('rejects non-zip and corrupt archives with one-line UserErrors', () => {
    expectUserError(() => readNpz(new Uint8Array(100)), /not a \.npz file/);
    const z = Uint8Array.from(data('two.npz'));
    const cd = Buffer.from(z).lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); // last central entry
    z[cd + 10] = 12; // compression method 12 (bzip2)
    expectUserError(() => readNpz(z), /compression method 12/);
  });
});

/** A minimal zip writer (no CRC check is done by readNpz, so CRCs are left 0). */
function makeZip(entries: { name: string; bytes: Uint8Array; deflate?: boolean }[]): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const body = e.deflate ? deflateRawSync(e.bytes) : Buffer.from(e.bytes);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.bytes.length, 22);
    local.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(e.deflate ? 8 : 0, 10);
    c.writeUInt32LE(body.length, 20);
    c.writeUInt32LE(e.bytes.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    parts.push(local, name, body);
    central.push(c, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...parts, cd, end]));
}
