/**
 * A small read-only HDF5 reader in plain TypeScript for the part of the format that Keras files
 * use: superblock 0–3, object headers 1 and 2, symbol-table groups (v1 B-trees, local heaps) and
 * compact link-message groups, attributes held in the object header (fixed-length and
 * variable-length strings, numbers), contiguous and compact datasets of little-endian numbers.
 * Reference: the HDF5 File Format Specification, version 3.0 (docs.hdfgroup.org).
 *
 * Anything else (chunked or compressed datasets, dense attribute or link storage in fractal
 * heaps, shared messages, big-endian data, external files, ...) throws `H5Unsupported`, and the
 * caller falls back to h5wasm for that file or that dataset. The point is start-up time and I/O:
 * h5wasm needs ~200 ms to instantiate, and every dataset it reads goes through its wasm heap;
 * here a dataset is one pread into the caller's buffer.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** A structure this reader does not implement; the caller should use h5wasm instead. */
export class H5Unsupported extends Error {
  override name = 'H5Unsupported';
}

/** Malformed bytes (bad signature, out-of-range address): the file is damaged or not HDF5. */
export class H5FormatError extends Error {
  override name = 'H5FormatError';
}

const UNDEF = -1;
/** Metadata is read in pages this big (object headers of datasets lie between their data). */
const PAGE = 8 * 1024;
const MAX_CACHED_PAGES = 2048;
const UTF8 = new TextDecoder('utf-8');
const ASCII = new TextDecoder('ascii');

export interface H5Type {
  /** HDF5 datatype class: 0 integer, 1 float, 3 string, 9 variable-length. */
  cls: number;
  size: number;
  signed: boolean;
  littleEndian: boolean;
  /** Strings: 0 ASCII, 1 UTF-8. */
  cset: number;
  /** Variable-length: true for a vlen string (sequence of characters). */
  vlenString: boolean;
  base?: H5Type;
}

/** Where a dataset's values are: `contiguous` at a file address, or `compact` bytes in the header. */
export type H5Storage =
  | { kind: 'contiguous'; address: number; size: number }
  | { kind: 'compact'; bytes: Uint8Array }
  | { kind: 'unallocated' };

export interface H5DatasetInfo {
  /** null for a null dataspace, [] for a scalar. */
  shape: number[] | null;
  type: H5Type;
  storage: H5Storage;
}

interface Message {
  type: number;
  flags: number;
  data: Uint8Array;
}

interface ObjectInfo {
  messages: Message[];
}

function u8(b: Uint8Array, o: number): number {
  return b[o];
}
function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000;
}
/** Little-endian unsigned integer of `n` bytes (1–8); UNDEF for all-ones (the undefined address). */
function uint(b: Uint8Array, o: number, n: number): number {
  let allOnes = true;
  for (let i = 0; i < n; i++) if (b[o + i] !== 0xff) allOnes = false;
  if (allOnes && n >= 2) return UNDEF;
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[o + i];
  if (!Number.isSafeInteger(v)) throw new H5Unsupported(`integer field of ${n} bytes is over 2^53`);
  return v;
}

/** Jenkins' lookup3 hashlittle (initval 0): HDF5's metadata checksum (H5_checksum_lookup3). */
export function lookup3(k: Uint8Array): number {
  let length = k.length;
  let a = (0xdeadbeef + length) >>> 0;
  let b = a;
  let c = a;
  const rot = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  let o = 0;
  while (length > 12) {
    a = (a + (k[o] | (k[o + 1] << 8) | (k[o + 2] << 16) | (k[o + 3] << 24))) >>> 0;
    b = (b + (k[o + 4] | (k[o + 5] << 8) | (k[o + 6] << 16) | (k[o + 7] << 24))) >>> 0;
    c = (c + (k[o + 8] | (k[o + 9] << 8) | (k[o + 10] << 16) | (k[o + 11] << 24))) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
    length -= 12;
    o += 12;
  }
  if (length === 0) return c;
  const at = (i: number, shift: number) => (i < length ? k[o + i] << shift : 0);
  c = (c + ((at(8, 0) | at(9, 8) | at(10, 16) | at(11, 24)) >>> 0)) >>> 0;
  b = (b + ((at(4, 0) | at(5, 8) | at(6, 16) | at(7, 24)) >>> 0)) >>> 0;
  a = (a + ((at(0, 0) | at(1, 8) | at(2, 16) | at(3, 24)) >>> 0)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 24)) >>> 0;
  return c;
}

/** Throws unless the 4 bytes after `body` are its lookup3 checksum (as HDF5 verifies them). */
function checkChecksum(body: Uint8Array, stored: Uint8Array, what: string): void {
  if (lookup3(body) !== u32(stored, 0)) throw new H5FormatError(`${what}: metadata checksum mismatch (corrupted file)`);
}

/** Most object-header continuation blocks and group B-tree nodes one file may use (loop guard). */
const MAX_BLOCKS = 1 << 16;

function signatureAt(b: Uint8Array, o: number, sig: string): boolean {
  for (let i = 0; i < sig.length; i++) if (b[o + i] !== sig.charCodeAt(i)) return false;
  return true;
}

const HDF5_SIG = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export class H5File {
  readonly path: string;
  private fd: number;
  readonly fileSize: number;
  private base = 0;
  private so = 8;
  private sl = 8;
  private rootAddress = UNDEF;
  private pages = new Map<number, Uint8Array>();
  private objects = new Map<number, ObjectInfo>();
  private links = new Map<number, Map<string, number>>();
  private heaps = new Map<number, Uint8Array>();
  private collections = new Map<number, Map<number, Uint8Array>>();

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'r');
    try {
      this.fileSize = fstatSync(this.fd).size;
      this.readSuperblock();
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.pages.clear();
    this.objects.clear();
  }

  // ------------------------------------------------------------------------------------------
  // Raw access

  /** Reads `length` bytes at absolute file offset `pos` into `dst` (whole or throws). */
  readInto(pos: number, dst: Uint8Array): void {
    let off = 0;
    while (off < dst.byteLength) {
      const n = readSync(this.fd, dst, off, Math.min(dst.byteLength - off, 1 << 30), pos + off);
      if (n <= 0) throw new H5FormatError(`unexpected end of file at byte ${pos + off} (truncated file?)`);
      off += n;
    }
  }

  private page(index: number): Uint8Array {
    let p = this.pages.get(index);
    if (!p) {
      const start = index * PAGE;
      const len = Math.min(PAGE, this.fileSize - start);
      if (len <= 0) throw new H5FormatError(`address ${start} is past the end of the file (truncated file?)`);
      p = new Uint8Array(len);
      this.readInto(start, p);
      if (this.pages.size >= MAX_CACHED_PAGES) this.pages.delete(this.pages.keys().next().value as number);
      this.pages.set(index, p);
    }
    return p;
  }

  /** `length` bytes at relative address `addr` (base address added), from the page cache. */
  bytes(addr: number, length: number): Uint8Array {
    if (addr === UNDEF) throw new H5FormatError('undefined address');
    const pos = addr + this.base;
    if (pos < 0 || pos + length > this.fileSize) throw new H5FormatError(`bytes ${pos}..${pos + length} are past the end of the file (truncated file?)`);
    const first = Math.floor(pos / PAGE);
    const last = Math.floor((pos + length - 1) / PAGE);
    if (length === 0) return new Uint8Array(0);
    if (first === last) {
      const p = this.page(first);
      const o = pos - first * PAGE;
      return p.subarray(o, o + length);
    }
    if (length > 4 * PAGE) {
      const out = new Uint8Array(length);
      this.readInto(pos, out);
      return out;
    }
    const out = new Uint8Array(length);
    let done = 0;
    for (let i = first; i <= last; i++) {
      const p = this.page(i);
      const o = i === first ? pos - first * PAGE : 0;
      const n = Math.min(p.byteLength - o, length - done);
      out.set(p.subarray(o, o + n), done);
      done += n;
    }
    return out;
  }

  /** Absolute file position of a relative address. */
  position(addr: number): number {
    return addr + this.base;
  }

  // ------------------------------------------------------------------------------------------
  // Superblock

  private readSuperblock(): void {
    let sbPos = -1;
    const head = new Uint8Array(8);
    for (let off = 0; off + 8 <= this.fileSize && off <= 1 << 30; off = off === 0 ? 512 : off * 2) {
      this.readInto(off, head);
      if (HDF5_SIG.every((v, i) => head[i] === v)) {
        sbPos = off;
        break;
      }
    }
    if (sbPos < 0) throw new H5FormatError('no HDF5 signature');
    const b = new Uint8Array(Math.min(256, this.fileSize - sbPos));
    this.readInto(sbPos, b);
    const version = b[8];
    let eof: number;
    if (version === 0 || version === 1) {
      this.so = b[13];
      this.sl = b[14];
      if (b[10] !== 0) throw new H5Unsupported(`root symbol table entry version ${b[10]}`);
      let o = 24;
      if (version === 1) o += 4;
      const so = this.so;
      const base = uint(b, o, so);
      o += so;
      o += so; // free-space info address
      eof = uint(b, o, so);
      o += so;
      o += so; // driver information block
      // Root group symbol table entry: link name offset, object header address, cache type, ...
      o += so;
      this.rootAddress = uint(b, o, so);
      this.base = base === UNDEF ? sbPos : base;
    } else if (version === 2 || version === 3) {
      this.so = b[9];
      this.sl = b[10];
      let o = 12;
      const so = this.so;
      const base = uint(b, o, so);
      o += so;
      o += so; // superblock extension
      eof = uint(b, o, so);
      o += so;
      this.rootAddress = uint(b, o, so);
      o += so;
      checkChecksum(b.subarray(0, o), b.subarray(o, o + 4), 'superblock');
      this.base = base === UNDEF ? sbPos : base;
    } else throw new H5Unsupported(`superblock version ${version}`);
    if (![2, 4, 8].includes(this.so) || ![2, 4, 8].includes(this.sl)) throw new H5Unsupported(`offset/length sizes ${this.so}/${this.sl}`);
    // A file shorter than the end-of-file address recorded at creation is truncated (HDF5's
    // H5F__super_read compares the file size with the stored EOF address the same way).
    if (eof !== UNDEF && eof > this.fileSize) throw new H5FormatError(`the file has ${this.fileSize} bytes, its superblock says ${eof} (truncated)`);
    if (this.rootAddress === UNDEF) throw new H5FormatError('no root group');
  }

  // ------------------------------------------------------------------------------------------
  // Object headers

  private object(addr: number): ObjectInfo {
    let info = this.objects.get(addr);
    if (!info) {
      info = { messages: this.readObjectHeader(addr) };
      this.objects.set(addr, info);
    }
    return info;
  }

  private readObjectHeader(addr: number): Message[] {
    const first = this.bytes(addr, 16);
    if (signatureAt(first, 0, 'OHDR')) return this.readObjectHeaderV2(addr);
    if (first[0] !== 1) throw new H5FormatError(`object header at ${addr}: version ${first[0]}`);
    const count = u16(first, 2);
    const size = u32(first, 8);
    const messages: Message[] = [];
    const blocks: [number, number][] = [[addr + 16, size]];
    let seen = 0;
    for (let bi = 0; bi < blocks.length && seen < count; bi++) {
      if (bi > MAX_BLOCKS) throw new H5FormatError(`object header at ${addr}: too many continuation blocks`);
      const [start, len] = blocks[bi];
      const blk = this.bytes(start, len);
      let o = 0;
      while (o + 8 <= len && seen < count) {
        const type = u16(blk, o);
        const msize = u16(blk, o + 2);
        const flags = blk[o + 4];
        if (o + 8 + msize > len) throw new H5FormatError(`object header at ${addr}: message overruns its block`);
        const data = blk.subarray(o + 8, o + 8 + msize);
        o += 8 + msize;
        seen++;
        if (type === 0x10) blocks.push([uint(data, 0, this.so), uint(data, this.so, this.sl)]);
        else messages.push({ type, flags, data });
      }
    }
    return messages;
  }

  private readObjectHeaderV2(addr: number): Message[] {
    const h = this.bytes(addr, Math.min(40, this.fileSize - this.position(addr)));
    if (h[4] !== 2) throw new H5Unsupported(`object header version ${h[4]}`);
    const flags = h[5];
    let o = 6;
    if (flags & 0x20) o += 16;
    if (flags & 0x10) o += 4;
    const sizeBytes = 1 << (flags & 3);
    const chunk0 = uint(h, o, sizeBytes);
    o += sizeBytes;
    const withOrder = (flags & 0x04) !== 0;
    const messages: Message[] = [];
    // Chunk 0 messages: from `o` to chunk0 bytes later; then a 4-byte checksum of everything
    // from the signature on. Continuation chunks: OCHK, messages, checksum.
    const whole0 = this.bytes(addr, o + chunk0 + 4);
    checkChecksum(whole0.subarray(0, o + chunk0), whole0.subarray(o + chunk0), `object header at ${addr}`);
    const blocks: [number, number][] = [[addr + o, chunk0]];
    for (let bi = 0; bi < blocks.length; bi++) {
      if (bi > MAX_BLOCKS) throw new H5FormatError(`object header at ${addr}: too many continuation blocks`);
      const [start, len] = blocks[bi];
      const blk = this.bytes(start, len);
      let p = 0;
      const hdr = withOrder ? 6 : 4;
      while (p + hdr <= len) {
        const type = blk[p];
        const msize = u16(blk, p + 1);
        const mflags = blk[p + 3];
        p += hdr;
        if (p + msize > len) throw new H5FormatError(`object header at ${addr}: message overruns its block`);
        const data = blk.subarray(p, p + msize);
        p += msize;
        if (type === 0x10) {
          const caddr = uint(data, 0, this.so);
          const clen = uint(data, this.so, this.sl);
          if (clen < 8) throw new H5FormatError(`object header continuation at ${caddr}: length ${clen}`);
          const whole = this.bytes(caddr, clen);
          if (!signatureAt(whole, 0, 'OCHK')) throw new H5FormatError(`object header continuation at ${caddr}: no OCHK`);
          checkChecksum(whole.subarray(0, clen - 4), whole.subarray(clen - 4), `object header continuation at ${caddr}`);
          blocks.push([caddr + 4, clen - 8]);
        } else messages.push({ type, flags: mflags, data });
      }
    }
    return messages;
  }

  // ------------------------------------------------------------------------------------------
  // Groups

  /** Child name → object header address of the group at `addr`. */
  private children(addr: number): Map<string, number> {
    let m = this.links.get(addr);
    if (m) return m;
    m = new Map();
    const msgs = this.object(addr).messages;
    for (const msg of msgs) {
      if (msg.flags & 0x02) throw new H5Unsupported('shared message in a group header');
      if (msg.type === 0x11) {
        const btree = uint(msg.data, 0, this.so);
        const heap = uint(msg.data, this.so, this.so);
        this.readSymbolTable(btree, this.localHeap(heap), m);
      } else if (msg.type === 0x06) this.readLinkMessage(msg.data, m);
      else if (msg.type === 0x02) {
        const lflags = msg.data[1];
        const o = 2 + (lflags & 1 ? 8 : 0);
        if (uint(msg.data, o, this.so) !== UNDEF) throw new H5Unsupported('dense link storage (fractal heap)');
      }
    }
    this.links.set(addr, m);
    return m;
  }

  private localHeap(addr: number): Uint8Array {
    let h = this.heaps.get(addr);
    if (h) return h;
    const b = this.bytes(addr, 8 + 2 * this.sl + this.so);
    if (!signatureAt(b, 0, 'HEAP')) throw new H5FormatError(`local heap at ${addr}: no HEAP signature`);
    const size = uint(b, 8, this.sl);
    const dataAddr = uint(b, 8 + 2 * this.sl, this.so);
    h = this.bytes(dataAddr, size).slice();
    this.heaps.set(addr, h);
    return h;
  }

  private readSymbolTable(node: number, heap: Uint8Array, out: Map<string, number>, seen = new Set<number>()): void {
    if (seen.has(node) || seen.size > MAX_BLOCKS) throw new H5FormatError(`group B-tree at ${node}: a cycle or too many nodes`);
    seen.add(node);
    const so = this.so;
    const sl = this.sl;
    const headLen = 8 + 2 * so;
    const head = this.bytes(node, headLen);
    if (!signatureAt(head, 0, 'TREE')) throw new H5FormatError(`group B-tree at ${node}: no TREE signature`);
    if (head[4] !== 0) throw new H5FormatError(`group B-tree at ${node}: node type ${head[4]}`);
    const level = head[5];
    const used = u16(head, 6);
    const body = this.bytes(node + headLen, used * (sl + so) + sl);
    for (let i = 0; i < used; i++) {
      const child = uint(body, i * (sl + so) + sl, so);
      if (level > 0) this.readSymbolTable(child, heap, out, seen);
      else this.readSymbolNode(child, heap, out);
    }
  }

  private readSymbolNode(addr: number, heap: Uint8Array, out: Map<string, number>): void {
    const so = this.so;
    const head = this.bytes(addr, 8);
    if (!signatureAt(head, 0, 'SNOD')) throw new H5FormatError(`symbol table node at ${addr}: no SNOD signature`);
    const n = u16(head, 6);
    const entry = 2 * so + 24;
    const body = this.bytes(addr + 8, n * entry);
    for (let i = 0; i < n; i++) {
      const nameOff = uint(body, i * entry, so);
      const obj = uint(body, i * entry + so, so);
      const cacheType = u32(body, i * entry + 2 * so);
      if (cacheType === 2) throw new H5Unsupported('symbolic link in a symbol table');
      let end = nameOff;
      while (end < heap.length && heap[end] !== 0) end++;
      out.set(UTF8.decode(heap.subarray(nameOff, end)), obj);
    }
  }

  private readLinkMessage(d: Uint8Array, out: Map<string, number>): void {
    if (d[0] !== 1) throw new H5Unsupported(`link message version ${d[0]}`);
    const flags = d[1];
    let o = 2;
    let linkType = 0;
    if (flags & 0x08) linkType = d[o++];
    if (flags & 0x04) o += 8;
    if (flags & 0x10) o += 1;
    const lenBytes = 1 << (flags & 3);
    const nameLen = uint(d, o, lenBytes);
    o += lenBytes;
    const name = UTF8.decode(d.subarray(o, o + nameLen));
    o += nameLen;
    if (linkType !== 0) throw new H5Unsupported(`link type ${linkType} (soft or external link)`);
    out.set(name, uint(d, o, this.so));
  }

  /** Object header address of `path` ('/a/b/c'); null when a component is missing. */
  resolve(path: string): number | null {
    let addr = this.rootAddress;
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      const next = this.children(addr).get(part);
      if (next === undefined) return null;
      addr = next;
    }
    return addr;
  }

  /** Names of the children of the group at `path`, in HDF5's (name) order. */
  keys(path = '/'): string[] {
    const addr = this.resolve(path);
    if (addr === null) return [];
    return [...this.children(addr).keys()].sort(byteOrder);
  }

  isGroup(addr: number): boolean {
    return this.object(addr).messages.some((m) => m.type === 0x11 || m.type === 0x02 || m.type === 0x06);
  }

  // ------------------------------------------------------------------------------------------
  // Datatypes, dataspaces, attributes

  private parseType(d: Uint8Array, o = 0): H5Type {
    const cls = d[o] & 0x0f;
    const version = d[o] >> 4;
    const bits0 = d[o + 1];
    const bits1 = d[o + 2];
    const size = u32(d, o + 4);
    const t: H5Type = { cls, size, signed: false, littleEndian: (bits0 & 1) === 0, cset: 0, vlenString: false };
    if (version < 1 || version > 3) throw new H5Unsupported(`datatype version ${version}`);
    if (cls === 0) t.signed = (bits0 & 0x08) !== 0;
    else if (cls === 1) {
      if (bits0 & 0x40) throw new H5Unsupported('VAX float order');
    } else if (cls === 3) {
      t.cset = (bits0 >> 4) & 0x0f;
      t.littleEndian = true;
    } else if (cls === 9) {
      const vtype = bits0 & 0x0f;
      t.vlenString = vtype === 1;
      t.cset = bits1 & 0x0f;
      t.littleEndian = true;
      t.base = this.parseType(d, o + 8);
      if (!t.vlenString) throw new H5Unsupported('variable-length sequence');
    } else throw new H5Unsupported(`datatype class ${cls}`);
    return t;
  }

  private parseSpace(d: Uint8Array): number[] | null {
    const version = d[0];
    const rank = d[1];
    const sl = this.sl;
    let o: number;
    if (version === 1) o = 8;
    else if (version === 2) {
      if (d[3] === 2) return null;
      o = 4;
    } else throw new H5Unsupported(`dataspace version ${version}`);
    const dims: number[] = [];
    for (let i = 0; i < rank; i++) dims.push(uint(d, o + i * sl, sl));
    return dims;
  }

  /** Attribute name → decoded value, decoded as h5wasm does (strings, string arrays, typed arrays, numbers). */
  attributes(addr: number): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const msg of this.object(addr).messages) {
      if (msg.type === 0x15) {
        const d = msg.data;
        const o = 2 + (d[1] & 1 ? 2 : 0);
        if (uint(d, o, this.so) !== UNDEF) throw new H5Unsupported('dense attribute storage (fractal heap)');
        continue;
      }
      if (msg.type !== 0x0c) continue;
      if (msg.flags & 0x02) throw new H5Unsupported('shared attribute message');
      const d = msg.data;
      const version = d[0];
      const nameSize = u16(d, 2);
      const typeSize = u16(d, 4);
      const spaceSize = u16(d, 6);
      let o = 8;
      const pad = (n: number) => (version === 1 ? (n + 7) & ~7 : n);
      if (version === 3) o = 9;
      else if (version !== 1 && version !== 2) throw new H5Unsupported(`attribute message version ${version}`);
      if (version >= 2 && d[1] & 0x03) throw new H5Unsupported('shared datatype or dataspace in an attribute');
      let nameEnd = o + nameSize;
      while (nameEnd > o && d[nameEnd - 1] === 0) nameEnd--;
      const name = UTF8.decode(d.subarray(o, nameEnd));
      o += pad(nameSize);
      const type = this.parseType(d, o);
      o += pad(typeSize);
      const shape = this.parseSpace(d.subarray(o, o + spaceSize));
      o += pad(spaceSize);
      out.set(name, this.decodeValue(d.subarray(o), type, shape));
    }
    return out;
  }

  private decodeValue(data: Uint8Array, type: H5Type, shape: number[] | null): unknown {
    if (shape === null) return null;
    let n = 1;
    for (const s of shape) n *= s;
    // The values must fit in the message: a damaged dataspace may declare billions of them.
    const element = type.cls === 9 ? 4 + this.so + 4 : type.size;
    if (!Number.isSafeInteger(n) || n * Math.max(element, 1) > data.byteLength)
      throw new H5FormatError(`attribute of ${n} values of ${element} bytes does not fit in its ${data.byteLength}-byte message`);
    let values: unknown[] | ArrayLike<number>;
    if (type.cls === 3) {
      const decoder = type.cset === 1 ? UTF8 : ASCII;
      const arr: string[] = [];
      for (let i = 0; i < n; i++) {
        const bytes = data.subarray(i * type.size, (i + 1) * type.size);
        const z = bytes.indexOf(0);
        arr.push(decoder.decode(z >= 0 ? bytes.subarray(0, z) : bytes));
      }
      values = arr;
    } else if (type.cls === 9) {
      const el = 4 + this.so + 4;
      const arr: string[] = [];
      for (let i = 0; i < n; i++) {
        const len = u32(data, i * el);
        const coll = uint(data, i * el + 4, this.so);
        const index = u32(data, i * el + 4 + this.so);
        const bytes = coll === UNDEF || len === 0 ? new Uint8Array(0) : this.globalHeapObject(coll, index).subarray(0, len);
        // h5wasm reads vlen strings as C strings: up to the first NUL.
        const z = bytes.indexOf(0);
        const s = z >= 0 ? bytes.subarray(0, z) : bytes;
        arr.push(type.cset === 1 ? UTF8.decode(s) : latin1(s));
      }
      values = arr;
    } else values = this.numbers(data.subarray(0, n * type.size), type);
    if (shape.length === 0) return (values as ArrayLike<unknown>)[0];
    return values;
  }

  /** Numbers of a little-endian integer or float type as the typed array h5wasm would return. */
  numbers(bytes: Uint8Array, type: H5Type): ArrayLike<number> {
    if (!type.littleEndian) throw new H5Unsupported('big-endian numbers');
    const copy = bytes.slice();
    const buf = copy.buffer;
    if (type.cls === 1) {
      if (type.size === 4) return new Float32Array(buf);
      if (type.size === 8) return new Float64Array(buf);
      throw new H5Unsupported(`float of ${type.size} bytes`);
    }
    if (type.cls === 0) {
      if (type.size === 1) return type.signed ? new Int8Array(buf) : new Uint8Array(buf);
      if (type.size === 2) return type.signed ? new Int16Array(buf) : new Uint16Array(buf);
      if (type.size === 4) return type.signed ? new Int32Array(buf) : new Uint32Array(buf);
    }
    throw new H5Unsupported(`number type class ${type.cls} size ${type.size}`);
  }

  private globalHeapObject(addr: number, index: number): Uint8Array {
    let c = this.collections.get(addr);
    if (!c) {
      const sl = this.sl;
      const head = this.bytes(addr, 8 + sl);
      if (!signatureAt(head, 0, 'GCOL')) throw new H5FormatError(`global heap at ${addr}: no GCOL signature`);
      const size = uint(head, 8, sl);
      const all = this.bytes(addr, size);
      c = new Map();
      let o = 8 + sl;
      while (o + 8 + sl <= size) {
        const idx = u16(all, o);
        const osize = uint(all, o + 8, sl);
        if (idx === 0) break;
        c.set(idx, all.slice(o + 8 + sl, o + 8 + sl + osize));
        o += 8 + sl + ((osize + 7) & ~7);
      }
      this.collections.set(addr, c);
    }
    const obj = c.get(index);
    if (!obj) throw new H5FormatError(`global heap object ${index} at ${addr} is missing`);
    return obj;
  }

  // ------------------------------------------------------------------------------------------
  // Datasets

  /** Shape, type and storage of the dataset at `addr`; null when it is not a dataset. */
  dataset(addr: number): H5DatasetInfo | null {
    let shape: number[] | null | undefined;
    let type: H5Type | undefined;
    let storage: H5Storage | undefined;
    for (const msg of this.object(addr).messages) {
      if (msg.type === 0x01) shape = this.parseSpace(msg.data);
      else if (msg.type === 0x03) {
        if (msg.flags & 0x02) throw new H5Unsupported('shared (committed) datatype');
        type = this.parseType(msg.data);
      } else if (msg.type === 0x08) storage = this.parseLayout(msg.data);
      else if (msg.type === 0x07) throw new H5Unsupported('external data storage');
      else if (msg.type === 0x0b) throw new H5Unsupported('filter pipeline (compressed data)');
    }
    if (shape === undefined || type === undefined || storage === undefined) return null;
    return { shape, type, storage };
  }

  private parseLayout(d: Uint8Array): H5Storage {
    const version = d[0];
    if (version !== 3 && version !== 4) throw new H5Unsupported(`data layout version ${version}`);
    const cls = d[1];
    if (cls === 0) {
      const size = u16(d, 2);
      return { kind: 'compact', bytes: d.subarray(4, 4 + size) };
    }
    if (cls === 1) {
      const address = uint(d, 2, this.so);
      const size = uint(d, 2 + this.so, this.sl);
      if (address === UNDEF) return { kind: 'unallocated' };
      return { kind: 'contiguous', address, size };
    }
    throw new H5Unsupported(cls === 2 ? 'chunked dataset' : `data layout class ${cls}`);
  }
}

/** Bytes as characters 0–255 (Emscripten's AsciiToString, which h5wasm uses for ASCII vlen strings). */
function latin1(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 8192) out += String.fromCharCode(...b.subarray(i, i + 8192));
  return out;
}

/** HDF5 orders link names by their bytes (strcmp). */
function byteOrder(a: string, b: string): number {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  const n = Math.min(ea.length, eb.length);
  for (let i = 0; i < n; i++) if (ea[i] !== eb[i]) return ea[i] - eb[i];
  return ea.length - eb.length;
}
