/**
 * protobufjs from its single-file build (`protobufjs/dist/protobuf.min.js`): the same library and
 * version as the package's main entry, whose CommonJS sources Node loads as some 40 modules
 * (~40 ms at start-up against ~12 ms for the one file, measured with protobufjs 7.6.6). Types come
 * from the package's own declarations.
 */
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs/dist/protobuf.min.js') as typeof Protobuf;
export default protobuf;
