/**
 * NumPy `.npy` / `.npz` reading and `.npy` writing, for verification inputs and the real-Caffe oracle.
 *
 * - readNpy: format versions 1.0, 2.0 and 3.0; dtypes float16/32/64, int8/16/32/64, uint8/16/32/64
 *   and bool, either byte order; C order only (Fortran order is refused). Everything becomes float32
 *   (int64 beyond 2^53 loses precision, as any float32 conversion would).
 * - writeNpy: float32 little-endian, C order, format 1.0 (2.0 only if the header would not fit),
 *   header padded with spaces to a multiple of 64 bytes and ended by '\n', exactly as numpy writes it.
 * - readNpz: the zip archives of np.savez (STORED) and np.savez_compressed (DEFLATE), zip64 included.
 *
 * Bad files raise UserError with a one-line message.
 */
import { inflateRawSync } from 'node:zlib';
import { UserError } from '../core/errors.js';
import { elementCount, type Tensor } from '../core/tensor.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface Descr {
  kind: 'f' | 'i' | 'u' | 'b';
  size: number;
  little: boolean;
}

function fail(source: string, msg: string): never {
  throw new UserError(`${source}: ${msg}`);
}

function parseDescr(descr: string, source: string): Descr {
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  if (!m) fail(source, `unsupported dtype '${descr}' (expected float, int, uint or bool)`);
  const order = m[1];
  const kind = m[2] as Descr['kind'];
  const size = Number(m[3]);
  const ok =
    (kind === 'f' && (size === 2 || size === 4 || size === 8)) ||
    ((kind === 'i' || kind === 'u') && (size === 1 || size === 2 || size === 4 || size === 8)) ||
    (kind === 'b' && size === 1);
  if (!ok) fail(source, `unsupported dtype '${descr}'`);
  // '=' is native order; every platform Node runs on that matters here is little-endian.
  return { kind, size, little: order !== '>' };
}

/** Parses the Python dict literal of a .npy header (only the three keys numpy writes). */
function parseHeader(text: string, source: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (/['"]descr['"]\s*:\s*\[/.test(text)) fail(source, 'structured (record) dtypes are not supported');
  if (!descr || !fortran || !shape) fail(source, `malformed .npy header ${JSON.stringify(text.trim().slice(0, 80))}`);
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(n) || n < 0) fail(source, `bad shape (${shape[1]}) in .npy header`);
      return n;
    });
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Reads a .npy file (bytes) into a float32 tensor. */
export function readNpy(bytes: Uint8Array, source = '.npy data'): Tensor {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail(source, 'not a .npy file (bad magic)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(source, 'truncated .npy header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    fail(source, `unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (start + headerLen > bytes.length) fail(source, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const { descr, fortran, shape } = parseHeader(header, source);
  const dt = parseDescr(descr, source);
  const n = elementCount(shape);
  if (fortran && shape.filter((d) => d > 1).length > 1) {
    fail(source, `Fortran-order arrays are not supported; save with np.save(f, np.ascontiguousarray(x))`);
  }
  const offset = start + headerLen;
  const need = n * dt.size;
  if (bytes.length - offset < need) fail(source, `truncated data: shape (${shape.join(', ')}) needs ${need} bytes, file has ${bytes.length - offset}`);
  const out = new Float32Array(n);
  const base = bytes.byteOffset + offset;
  if (dt.kind === 'f' && dt.size === 4 && dt.little) {
    // fast path: copy the raw little-endian floats (the copy also fixes any misalignment)
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + need));
    return { shape, data: out };
  }
  const dv = new DataView(bytes.buffer, base, need);
  const le = dt.little;
  const sz = dt.size;
  for (let i = 0; i < n; i++) {
    const p = i * sz;
    let v: number;
    switch (dt.kind) {
      case 'f':
        v = sz === 8 ? dv.getFloat64(p, le) : sz === 4 ? dv.getFloat32(p, le) : halfToFloat(dv.getUint16(p, le));
        break;
      case 'i':
        v = sz === 1 ? dv.getInt8(p) : sz === 2 ? dv.getInt16(p, le) : sz === 4 ? dv.getInt32(p, le) : Number(dv.getBigInt64(p, le));
        break;
      case 'u':
        v = sz === 1 ? dv.getUint8(p) : sz === 2 ? dv.getUint16(p, le) : sz === 4 ? dv.getUint32(p, le) : Number(dv.getBigUint64(p, le));
        break;
      default:
        v = dv.getUint8(p) ? 1 : 0;
    }
    out[i] = v;
  }
  return { shape, data: out };
}

/** Encodes a tensor as a float32 C-order .npy file, byte-identical to np.save of a float32 array. */
export function writeNpy(t: Tensor): Uint8Array {
  const n = elementCount(t.shape);
  if (t.data.length !== n) throw new Error(`writeNpy: tensor has ${t.data.length} elements, shape [${t.shape}] needs ${n}`);
  const shapeStr = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  let version = 1;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    version = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - pre;
  const header = dict + ' '.repeat(headerLen - dict.length - 1) + '\n';
  const out = new Uint8Array(total + n * 4);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  const body = new DataView(out.buffer, total, n * 4);
  for (let i = 0; i < n; i++) body.setFloat32(i * 4, t.data[i], true);
  return out;
}

/** Reads every `.npy` member of a .npz archive; keys are the member names without `.npy`. */
export function readNpz(bytes: Uint8Array, source = '.npz data'): Map<string, Tensor> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (p: number) => dv.getUint16(p, true);
  const u32 = (p: number) => dv.getUint32(p, true);
  const u64 = (p: number) => Number(dv.getBigUint64(p, true));
  // end of central directory: 22 bytes + comment (<= 65535)
  let eocd = -1;
  for (let p = bytes.length - 22; p >= Math.max(0, bytes.length - 22 - 0xffff); p--) {
    if (u32(p) === 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail(source, 'not a .npz file (no zip directory found)');
  let count = u16(eocd + 10);
  let cdOffset = u32(eocd + 16);
  if ((count === 0xffff || cdOffset === 0xffffffff) && eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    const z64 = u64(eocd - 20 + 8);
    if (z64 + 56 > bytes.length || u32(z64) !== 0x06064b50) fail(source, 'corrupt zip64 directory');
    count = u64(z64 + 32);
    cdOffset = u64(z64 + 48);
  }
  const out = new Map<string, Tensor>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || u32(p) !== 0x02014b50) fail(source, 'corrupt zip directory');
    const flags = u16(p + 8);
    const method = u16(p + 10);
    let csize = u32(p + 20);
    let usize = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let local = u32(p + 42);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: the 0xFFFFFFFF fields, in order usize, csize, offset
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = u16(e);
      const len = u16(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (usize === 0xffffffff) (usize = u64(q)), (q += 8);
        if (csize === 0xffffffff) (csize = u64(q)), (q += 8);
        if (local === 0xffffffff) local = u64(q);
      }
      e += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue;
    if (flags & 1) fail(source, `member '${name}' is encrypted`);
    if (local + 30 > bytes.length || u32(local) !== 0x04034b50) fail(source, `corrupt zip entry '${name}'`);
    const dataStart = local + 30 + u16(local + 26) + u16(local + 28);
    if (dataStart + csize > bytes.length) fail(source, `truncated zip entry '${name}'`);
    const raw = bytes.subarray(dataStart, dataStart + csize);
    let member: Uint8Array;
    if (method === 0) member = raw;
    else if (method === 8) {
      try {
        member = new Uint8Array(inflateRawSync(raw));
      } catch (e) {
        fail(source, `cannot inflate '${name}': ${(e as Error).message}`);
      }
    } else fail(source, `member '${name}' uses unsupported compression method ${method}`);
    if (member.length !== usize) fail(source, `member '${name}' has ${member.length} bytes, directory says ${usize}`);
    const key = name.endsWith('.npy') ? name.slice(0, -4) : name;
    out.set(key, readNpy(member, `${source} [${name}]`));
  }
  return out;
}
