/**
 * Protobuf text format for a Caffe deploy net (deploy.prototxt), written by hand from the
 * protobufjs reflection of proto/caffe.proto: fields in field-number order, 2-space indent,
 * no blobs. The output is pure ASCII and deterministic.
 */
import type { CaffeNet } from './net.js';
import { normalizeLayer, type NormalizedMessage } from './proto.js';
import type * as pb from 'protobufjs';
import protobuf from './protobufjs.js';

/**
 * A protobuf text-format string literal. The string is written as UTF-8 bytes; `"`, `\` and
 * newline/CR/tab get their C escapes, every other byte outside printable ASCII (controls, DEL,
 * and all bytes of non-ASCII characters) a 3-digit octal escape, e.g. "é" -> "\303\251".
 * This is what protobuf's own C++ printer emits and what Caffe's parser (protobuf
 * TextFormat) reads back byte for byte.
 */
export function quoteString(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b < 0x20 || b >= 0x7f) out += '\\' + b.toString(8).padStart(3, '0');
    else out += String.fromCharCode(b);
  }
  return out + '"';
}

/**
 * The shortest decimal that reads back as the same float32 (through decimal -> double -> float,
 * which is how protobuf's text parser reads a float field). Integral values print without a
 * decimal point ("1", not "1.0"), tiny/huge ones in exponent form ("1e-7"); -0, inf, -inf and
 * nan as protobuf's text format spells them.
 */
export function formatFloat32(x: number): string {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return 'nan';
  if (f === Infinity) return 'inf';
  if (f === -Infinity) return '-inf';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  for (let p = 1; p < 9; p++) {
    const n = Number(f.toPrecision(p));
    if (Math.fround(n) === f) return String(n);
  }
  return String(Number(f.toPrecision(9))); // 9 significant digits always round-trip a float32
}

/** Shortest round-trip form of a double (JS's own), with protobuf's spellings of the specials. */
export function formatFloat64(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

function formatScalar(field: pb.Field, v: number | boolean | string): string {
  if (field.resolvedType instanceof protobuf.Enum) return String(v); // normalized to the name
  switch (field.type) {
    case 'string':
      return quoteString(v as string);
    case 'bool':
      return v ? 'true' : 'false';
    case 'float':
      return formatFloat32(v as number);
    case 'double':
      return formatFloat64(v as number);
    default:
      return String(v);
  }
}

function writeMessage(msg: NormalizedMessage, depth: number, lines: string[]): void {
  const indent = '  '.repeat(depth);
  for (const { field, values } of msg.fields) {
    for (const v of values) {
      if (typeof v === 'object') {
        lines.push(`${indent}${field.name} {`);
        writeMessage(v, depth + 1, lines);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}${field.name}: ${formatScalar(field, v)}`);
      }
    }
  }
}

/**
 * The deploy prototxt of `net`: `name: "..."`, then one `layer { ... }` per layer with name,
 * type, bottom, top and the `params` sub-messages, all in field-number order. Throws an Error
 * naming the layer for unknown parameters or fields, and values of the wrong type.
 */
export function writePrototxt(net: CaffeNet): string {
  if (typeof net.name !== 'string') throw new Error('net name must be a string');
  const lines: string[] = [`name: ${quoteString(net.name)}`];
  for (const layer of net.layers) {
    const msg = normalizeLayer(layer);
    lines.push('layer {');
    writeMessage(msg, 1, lines);
    lines.push('}');
  }
  return lines.join('\n') + '\n';
}
