/**
 * Just enough .npy / .npz for the Caffe tests: write little-endian float32 .npy, read float32 /
 * float64 .npy (C order), and read .npz archives as numpy writes them (stored or deflated
 * members, zip64 extras). Not the product's reader (src/verify/npy.ts).
 */
import { inflateRawSync } from 'node:zlib';

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

export function writeNpyF32(shape: number[], data: Float32Array): Buffer {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`npy: shape [${shape}] needs ${n} values, got ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export function readNpy(buf: Buffer): NpyArray {
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error('npy: bad magic');
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error('npy: fortran order not supported');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(start + headerLen);
  const copy = Buffer.from(body); // aligned copy
  let data: Float32Array;
  if (descr === '<f4') data = new Float32Array(copy.buffer, copy.byteOffset, n);
  else if (descr === '<f8') data = Float32Array.from(new Float64Array(copy.buffer, copy.byteOffset, n));
  else throw new Error(`npy: dtype ${descr} not supported`);
  return { shape, data: Float32Array.from(data) };
}

/** The members of an .npz (zip) archive, by name without the `.npy` suffix. */
export function readNpz(buf: Buffer): Map<string, NpyArray> {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('npz: no end of central directory');
  let count = buf.readUInt16LE(eocd + 10);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const loc = eocd - 20; // zip64 end of central directory locator
    if (buf.readUInt32LE(loc) !== 0x07064b50) throw new Error('npz: zip64 locator missing');
    const z64 = Number(buf.readBigUInt64LE(loc + 8));
    count = Number(buf.readBigUInt64LE(z64 + 32));
    cdOffset = Number(buf.readBigUInt64LE(z64 + 48));
  }
  const out = new Map<string, NpyArray>();
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('npz: bad central directory entry');
    const method = buf.readUInt16LE(p + 10);
    let compSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(buf.readBigUInt64LE(q))), (q += 8);
        if (compSize === 0xffffffff) (compSize = Number(buf.readBigUInt64LE(q))), (q += 8);
        if (localOffset === 0xffffffff) localOffset = Number(buf.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    p = eEnd + commentLen;
    const lnameLen = buf.readUInt16LE(localOffset + 26);
    const lextraLen = buf.readUInt16LE(localOffset + 28);
    const dataStart = localOffset + 30 + lnameLen + lextraLen;
    const raw = buf.subarray(dataStart, dataStart + compSize);
    const member = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : undefined;
    if (!member) throw new Error(`npz: compression method ${method} not supported`);
    if (member.length !== size) throw new Error(`npz: ${name}: size mismatch`);
    out.set(name.replace(/\.npy$/, ''), readNpy(Buffer.from(member)));
  }
  return out;
}
