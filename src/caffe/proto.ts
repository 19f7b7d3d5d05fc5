/**
 * Our caffe.proto (proto/caffe.proto), loaded once with protobufjs, plus the validation shared
 * by the .prototxt and .caffemodel writers: a CaffeLayer is turned into a "normalized"
 * LayerParameter (fields checked against the reflection, sorted by field number), so both files
 * always carry exactly the same, valid parameters.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as pb from 'protobufjs';
import protobuf from './protobufjs.js';
import type { CaffeLayer } from './net.js';

export type Root = pb.Root;
export type Type = pb.Type;
export type Field = pb.Field;
export type Enum = pb.Enum;

export interface CaffeProto {
  root: pb.Root;
  NetParameter: pb.Type;
  LayerParameter: pb.Type;
  BlobProto: pb.Type;
  BlobShape: pb.Type;
  /** Any message of caffe.proto by its name, e.g. `type('ConvolutionParameter')`. */
  type(name: string): pb.Type;
}

const PROTO_RELATIVE = join('proto', 'caffe.proto');

/**
 * The path of proto/caffe.proto: walks up from this module (src/caffe/ when run from source,
 * dist/caffe/ when compiled) to the package root that holds `proto/caffe.proto`.
 */
export function caffeProtoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, PROTO_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find ${PROTO_RELATIVE} above ${dirname(fileURLToPath(import.meta.url))}`);
    }
    dir = parent;
  }
}

let cached: CaffeProto | undefined;

/** The parsed caffe.proto (parsed on first use, then cached). Field names keep their snake_case. */
export function caffeProto(): CaffeProto {
  if (cached) return cached;
  const path = caffeProtoPath();
  const parsed = protobuf.parse(readFileSync(path, 'utf8'), { keepCase: true });
  const root = parsed.root;
  root.resolveAll();
  const type = (name: string): pb.Type => {
    const t = root.lookupType(`caffe.${name}`);
    return t;
  };
  cached = {
    root,
    NetParameter: type('NetParameter'),
    LayerParameter: type('LayerParameter'),
    BlobProto: type('BlobProto'),
    BlobShape: type('BlobShape'),
    type,
  };
  return cached;
}

// ---------------------------------------------------------------------------------------------
// Normalized messages

/** One validated value: enum values by name, float fields already rounded to float32. */
export type NormalizedValue = number | boolean | string | NormalizedMessage;

export interface NormalizedField {
  field: pb.Field;
  /** One entry for an optional/required field; one or more for a repeated field. */
  values: NormalizedValue[];
}

export interface NormalizedMessage {
  type: pb.Type;
  /** Only the fields that are set, in field-number order. */
  fields: NormalizedField[];
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-0x80000000, 0x7fffffff],
  sint32: [-0x80000000, 0x7fffffff],
  sfixed32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
  fixed32: [0, 0xffffffff],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sint64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sfixed64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  fixed64: [0, Number.MAX_SAFE_INTEGER],
};

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** A programming error in what the mappings built: names the layer and the field path. */
function fail(ctx: string, path: string, message: string): never {
  throw new Error(`${ctx}: ${path ? `${path}: ` : ''}${message}`);
}

function normalizeScalar(field: pb.Field, v: unknown, ctx: string, path: string): NormalizedValue {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    if (!isPlainObject(v)) fail(ctx, path, `expected a ${resolved.name} object, got ${describe(v)}`);
    return normalizeMessage(resolved, v, ctx, path);
  }
  if (resolved instanceof protobuf.Enum) {
    if (typeof v === 'string') {
      if (!Object.prototype.hasOwnProperty.call(resolved.values, v)) {
        fail(ctx, path, `${describe(v)} is not a value of enum ${resolved.name} (${Object.keys(resolved.values).join(', ')})`);
      }
      return v;
    }
    if (typeof v === 'number') {
      const name = resolved.valuesById[v];
      if (name === undefined) fail(ctx, path, `${v} is not a value of enum ${resolved.name}`);
      return name;
    }
    fail(ctx, path, `expected a ${resolved.name} enum name, got ${describe(v)}`);
  }
  switch (field.type) {
    case 'bool':
      if (typeof v !== 'boolean') fail(ctx, path, `expected a boolean, got ${describe(v)}`);
      return v;
    case 'string':
      if (typeof v !== 'string') fail(ctx, path, `expected a string, got ${describe(v)}`);
      if (LONE_SURROGATE.test(v)) fail(ctx, path, `string ${describe(v)} is not well-formed UTF-16 (lone surrogate)`);
      return v;
    case 'float':
      if (typeof v !== 'number') fail(ctx, path, `expected a number, got ${describe(v)}`);
      return Math.fround(v);
    case 'double':
      if (typeof v !== 'number') fail(ctx, path, `expected a number, got ${describe(v)}`);
      return v;
    default: {
      const range = INT_RANGES[field.type];
      if (!range) fail(ctx, path, `field type ${field.type} is not supported by the writers`);
      let n: number;
      if (typeof v === 'bigint') n = Number(v);
      else if (typeof v === 'number') n = v;
      else fail(ctx, path, `expected an integer, got ${describe(v)}`);
      if (!Number.isInteger(n) || n < range[0] || n > range[1] || (typeof v === 'bigint' && BigInt(n) !== v)) {
        fail(ctx, path, `${describe(v)} is not a valid ${field.type}`);
      }
      return n;
    }
  }
}

/**
 * Validates `value` (a plain object keyed by caffe.proto field names) against message `type`.
 * `undefined` values count as unset. Repeated fields take an array (or one value, taken as a
 * one-element array); enum fields take the value's name (or its number). Throws an Error that
 * starts with `ctx` for unknown fields, wrong types, out-of-range numbers and missing required
 * fields.
 */
export function normalizeMessage(
  type: pb.Type,
  value: Record<string, unknown>,
  ctx: string,
  path = '',
): NormalizedMessage {
  const fields: NormalizedField[] = [];
  for (const [key, raw] of Object.entries(value)) {
    if (raw === undefined) continue;
    const sub = path ? `${path}.${key}` : key;
    const field = Object.prototype.hasOwnProperty.call(type.fields, key) ? type.fields[key] : undefined;
    if (!field) {
      fail(ctx, sub, `unknown field of ${type.name} (known: ${type.fieldsArray.map((f) => f.name).join(', ')})`);
    }
    let values: NormalizedValue[];
    if (field.repeated) {
      const items: unknown[] = Array.isArray(raw)
        ? raw
        : ArrayBuffer.isView(raw) && !(raw instanceof DataView)
          ? Array.from(raw as unknown as ArrayLike<unknown>)
          : [raw];
      values = items.map((item, i) => normalizeScalar(field, item, ctx, `${sub}[${i}]`));
      if (values.length === 0) continue;
    } else {
      if (Array.isArray(raw)) fail(ctx, sub, `is not a repeated field of ${type.name}, got an array`);
      values = [normalizeScalar(field, raw, ctx, sub)];
    }
    fields.push({ field, values });
  }
  for (const field of type.fieldsArray) {
    if (field.required && !fields.some((f) => f.field === field)) {
      fail(ctx, path ? `${path}.${field.name}` : field.name, `required field of ${type.name} is missing`);
    }
  }
  fields.sort((a, b) => a.field.id - b.field.id);
  return { type, fields };
}

/** `layer 'conv1' (Convolution)`: the prefix of every error about a layer. */
export function layerContext(layer: Pick<CaffeLayer, 'name' | 'type'>): string {
  return `layer '${String(layer.name)}' (${String(layer.type)})`;
}

const LAYER_OWN_FIELDS = new Set(['name', 'type', 'bottom', 'top', 'blobs']);

/**
 * The LayerParameter of `layer` without its blobs: name, type, bottom, top and the `params`
 * (keys are LayerParameter field names such as `convolution_param`, or `param` / `phase`).
 */
export function normalizeLayer(layer: CaffeLayer): NormalizedMessage {
  const ctx = layerContext(layer);
  if (typeof layer.name !== 'string' || layer.name === '') fail(ctx, 'name', 'must be a non-empty string');
  if (typeof layer.type !== 'string' || layer.type === '') fail(ctx, 'type', 'must be a non-empty string');
  for (const key of ['bottom', 'top'] as const) {
    const list = layer[key];
    if (!Array.isArray(list) || list.some((b) => typeof b !== 'string' || b === '')) {
      fail(ctx, key, 'must be an array of non-empty strings');
    }
  }
  const { LayerParameter } = caffeProto();
  const value: Record<string, unknown> = { name: layer.name, type: layer.type, bottom: layer.bottom, top: layer.top };
  for (const [key, param] of Object.entries(layer.params ?? {})) {
    if (LAYER_OWN_FIELDS.has(key)) fail(ctx, `params.${key}`, `'${key}' is set by the layer itself, not in params`);
    if (!Object.prototype.hasOwnProperty.call(LayerParameter.fields, key)) {
      const known = LayerParameter.fieldsArray.filter((f) => !LAYER_OWN_FIELDS.has(f.name)).map((f) => f.name);
      fail(ctx, `params.${key}`, `unknown layer parameter (known: ${known.join(', ')})`);
    }
    value[key] = param;
  }
  return normalizeMessage(LayerParameter, value, ctx);
}

/**
 * A normalized message as a plain object protobufjs can encode (`Type.encode`): enum names
 * become numbers. `filter` keeps only some top-level fields.
 */
export function toProtobufObject(msg: NormalizedMessage, filter?: (field: pb.Field) => boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { field, values } of msg.fields) {
    if (filter && !filter(field)) continue;
    const resolved = field.resolvedType;
    const conv = values.map((v): unknown => {
      if (typeof v === 'object') return toProtobufObject(v);
      if (resolved instanceof protobuf.Enum && typeof v === 'string') return resolved.values[v];
      return v;
    });
    out[field.name] = field.repeated ? conv : conv[0];
  }
  return out;
}
