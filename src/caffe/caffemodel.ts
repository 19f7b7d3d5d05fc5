/**
 * Binary Caffe weights (.caffemodel): a NetParameter with the net's name and one `layer` (100)
 * per layer. Each LayerParameter holds the same fields as in the prototxt plus `blobs` (7).
 *
 * protobufjs encodes the small parameter part of each layer; the blobs are framed by hand and
 * their float data is written straight from each Float32Array's buffer (no per-element work,
 * no copies). Fields are emitted in field-number order (name, type, bottom, top, param, blobs,
 * then the *_param messages; inside a blob: data (5), then shape (7)), i.e. the bytes protobuf
 * itself would produce. Layers are produced, written and dropped one at a time, their blobs in
 * memory reused from layer to layer (core/weightBuffers.ts).
 */
import { endianness } from 'node:os';
import type { Tensor } from '../core/tensor.js';
import { freeLayerArena, freeScratch, holdLayerArena } from '../core/weightBuffers.js';
import { openAtomic } from './atomicWrite.js';
import type { CaffeLayer, CaffeNet } from './net.js';
import { caffeProto, layerContext, normalizeLayer, toProtobufObject } from './proto.js';

/**
 * Caffe reads a .caffemodel with a protobuf total-bytes limit of INT_MAX (io.cpp,
 * kProtoReadBytesLimit): bigger files cannot be loaded by BVLC Caffe.
 */
export const CAFFE_MAX_MODEL_BYTES = 0x7fffffff;

const BLOBS_FIELD = 7;
// Tags: (field << 3) | wire type 2 (length-delimited).
const TAG_NET_LAYER = [0xa2, 0x06]; // NetParameter.layer = 100
const TAG_LAYER_BLOBS = 0x3a; // LayerParameter.blobs = 7
const TAG_BLOB_DATA = 0x2a; // BlobProto.data = 5 (packed float)
const TAG_BLOB_SHAPE = 0x3a; // BlobProto.shape = 7
const TAG_SHAPE_DIM = 0x0a; // BlobShape.dim = 1 (packed int64)

/** Chunks at least this big are written as they are; smaller ones are gathered first. */
const DIRECT_WRITE_BYTES = 64 * 1024;

function assertLittleEndian(): void {
  if (endianness() !== 'LE') {
    throw new Error('writing .caffemodel files needs a little-endian host (float data is copied as is)');
  }
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Appends the varint of a non-negative safe integer `n` to `out`. */
function pushVarint(out: number[], n: number): void {
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function checkBlob(t: Tensor, ctx: string, i: number, expected?: number[]): void {
  const where = `${ctx}: blob ${i}`;
  if (!t || !(t.data instanceof Float32Array) || !Array.isArray(t.shape)) {
    throw new Error(`${where}: expected a Tensor with a Float32Array`);
  }
  let n = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${where}: bad dimension ${d} in shape [${t.shape}]`);
    n *= d;
  }
  if (n !== t.data.length) {
    throw new Error(`${where}: shape [${t.shape}] needs ${n} values, data has ${t.data.length}`);
  }
  if (expected && (expected.length !== t.shape.length || expected.some((d, k) => d !== t.shape[k]))) {
    throw new Error(`${where}: shape [${t.shape}] differs from blobShapes [${expected}]`);
  }
}

/** The bytes of one `blobs` entry, as [framing + data header, float bytes, shape] chunks. */
function blobChunks(t: Tensor): { chunks: Uint8Array[]; size: number } {
  const shape: number[] = [];
  if (t.shape.length > 0) {
    let dimBytes = 0;
    for (const d of t.shape) dimBytes += varintSize(d);
    shape.push(TAG_SHAPE_DIM);
    pushVarint(shape, dimBytes);
    for (const d of t.shape) pushVarint(shape, d);
  }
  const shapeField: number[] = [TAG_BLOB_SHAPE];
  pushVarint(shapeField, shape.length);
  const shapeBytes = Uint8Array.from([...shapeField, ...shape]);

  const dataLen = t.data.byteLength;
  const dataHeader: number[] = [];
  if (dataLen > 0) {
    dataHeader.push(TAG_BLOB_DATA);
    pushVarint(dataHeader, dataLen);
  }
  const blobLen = dataHeader.length + dataLen + shapeBytes.length;
  const head: number[] = [TAG_LAYER_BLOBS];
  pushVarint(head, blobLen);
  head.push(...dataHeader);
  const chunks: Uint8Array[] = [Uint8Array.from(head)];
  if (dataLen > 0) chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, dataLen));
  chunks.push(shapeBytes);
  return { chunks, size: head.length + dataLen + shapeBytes.length };
}

/**
 * The bytes of one `layer` entry of NetParameter (tag, length, LayerParameter), as chunks that
 * may view the layer's Float32Arrays. Calls `layer.blobs()` once.
 */
export function encodeLayerChunks(layer: CaffeLayer): Uint8Array[] {
  const { LayerParameter } = caffeProto();
  const msg = normalizeLayer(layer);
  const head = LayerParameter.encode(toProtobufObject(msg, (f) => f.id < BLOBS_FIELD)).finish();
  const tail = LayerParameter.encode(toProtobufObject(msg, (f) => f.id > BLOBS_FIELD)).finish();

  const ctx = layerContext(layer);
  const blobs = layer.blobs ? layer.blobs() : [];
  if (!Array.isArray(blobs)) throw new Error(`${ctx}: blobs() must return an array of Tensors`);
  if (layer.blobShapes && layer.blobShapes.length !== blobs.length) {
    throw new Error(`${ctx}: blobs() returned ${blobs.length} blobs, blobShapes lists ${layer.blobShapes.length}`);
  }
  const body: Uint8Array[] = [head];
  let size = head.length + tail.length;
  blobs.forEach((t, i) => {
    checkBlob(t, ctx, i, layer.blobShapes?.[i]);
    const b = blobChunks(t);
    body.push(...b.chunks);
    size += b.size;
  });
  body.push(tail);

  const frame: number[] = [...TAG_NET_LAYER];
  pushVarint(frame, size);
  return [Uint8Array.from(frame), ...body];
}

/** NetParameter.name (field 1), the start of the file. */
function encodeNetHeader(net: CaffeNet): Uint8Array {
  if (typeof net.name !== 'string') throw new Error('net name must be a string');
  const { NetParameter } = caffeProto();
  return NetParameter.encode({ name: net.name }).finish();
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** The whole .caffemodel in memory (tests, in-process verification of small nets). */
export function encodeCaffemodel(net: CaffeNet): Uint8Array {
  assertLittleEndian();
  const chunks: Uint8Array[] = [encodeNetHeader(net)];
  for (const layer of net.layers) chunks.push(...encodeLayerChunks(layer));
  return concat(chunks);
}

/** Where streamCaffemodel writes: an AtomicFile (openAtomic), or anything with a sequential write. */
export interface CaffemodelSink {
  write(data: Uint8Array): Promise<void>;
}

/**
 * Writes the .caffemodel of `net` to `out`, one layer at a time: `layer.blobs()` is called for
 * one layer, its bytes are written (float data straight from the Float32Arrays), then dropped.
 * Small pieces are gathered into writes of >= 64 KiB; big blobs are written without copying.
 * `onProgress(doneLayers, totalLayers, bytesWrittenSoFar)` is called after each layer.
 * Does not commit or close `out`: on error the caller aborts it.
 */
export async function streamCaffemodel(
  net: CaffeNet,
  out: CaffemodelSink,
  onProgress?: (doneLayers: number, total: number, bytes: number) => void,
): Promise<{ bytes: number }> {
  assertLittleEndian();
  let bytes = 0;
  let small: Uint8Array[] = [];
  let smallBytes = 0;
  const put = async (chunk: Uint8Array): Promise<void> => {
    await out.write(chunk);
    bytes += chunk.byteLength;
  };
  const flush = async (): Promise<void> => {
    if (small.length === 0) return;
    const chunk = small.length === 1 ? small[0] : concat(small);
    small = [];
    smallBytes = 0;
    await put(chunk);
  };
  const gather = async (chunk: Uint8Array): Promise<void> => {
    if (chunk.byteLength >= DIRECT_WRITE_BYTES) {
      await flush();
      await put(chunk);
    } else {
      small.push(chunk);
      smallBytes += chunk.byteLength;
      if (smallBytes >= DIRECT_WRITE_BYTES) await flush();
    }
  };
  await gather(encodeNetHeader(net));
  const total = net.layers.length;
  try {
    for (let i = 0; i < total; i++) {
      // The layer's blobs (and the layout transforms behind them) get memory that is reused
      // for the next layer once these bytes are written: the process stays at the biggest
      // layer's size, and fresh pages are not paid for again per layer.
      const held = holdLayerArena(() => encodeLayerChunks(net.layers[i]));
      try {
        for (const chunk of held.value) await gather(chunk);
        await flush();
      } finally {
        held.release();
      }
      onProgress?.(i + 1, total, bytes);
    }
    await flush();
  } finally {
    freeLayerArena();
    freeScratch();
  }
  return { bytes };
}

/**
 * Streams the .caffemodel of `net` to `path` atomically (temp file in the same folder, fsync,
 * rename; nothing is left behind on error, and an existing file stays as it was).
 * `onProgress(doneLayers, totalLayers, bytesWritten)` is called after each layer.
 */
export async function writeCaffemodel(
  net: CaffeNet,
  path: string,
  onProgress?: (doneLayers: number, total: number, bytes: number) => void,
): Promise<{ bytes: number }> {
  assertLittleEndian();
  const file = await openAtomic(path);
  try {
    const res = await streamCaffemodel(net, file, onProgress);
    await file.commit();
    return res;
  } catch (err) {
    await file.abort();
    throw err;
  }
}
