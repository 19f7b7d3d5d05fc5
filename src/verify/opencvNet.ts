/**
 * Runs a Caffe deploy net in OpenCV DNN (cv.dnn.readNetFromCaffe), via @techstark/opencv-js
 * 4.12.0-release.1 (= docs.opencv.org/4.12.0/opencv.js, an Emscripten build with the wasm inlined
 * as base64). A second, independent Caffe runtime for `verify`, usable without Python or Caffe.
 *
 * Facts about this build (found by probing it; see test/verify-opencv.test.ts):
 *
 * - Loading: `require()` returns the Emscripten Module object itself (not a Promise). It becomes
 *   usable when `Module.onRuntimeInitialized` fires (~0.2 s, asynchronous). The Module also has a
 *   `then(func)` method that calls back with the Module, which is itself a thenable: `await`ing it,
 *   or resolving a Promise with it, never settles (the resolution recurses forever), so we wait on
 *   onRuntimeInitialized and delete `Module.then` before handing the object out. On load in Node it
 *   also installs process 'uncaughtException' (rethrow) and 'unhandledRejection' (abort(), which
 *   prints the whole 10 MB source) listeners; we remove the ones it added. Its stdout/stderr
 *   functions bind console.log/console.warn at require time; we bind them to a private log instead
 *   (shown in our error messages), so OpenCV never prints. Nothing keeps the event loop alive.
 * - Net loading: `cv.readNetFromCaffe(prototxtPath, caffemodelPath)` reads the Emscripten in-memory
 *   FS (`cv.FS_createDataFile`, `cv.FS_unlink`). The buffer overload is exposed as
 *   `cv.readNetFromCaffe1(Uint8Array, Uint8Array)` and works, but converts byte by byte (a 50 MB
 *   caffemodel: 4.7 s against 0.45 s through the FS), so we use the FS. An empty caffemodel is
 *   accepted for nets without weights. The wasm heap is capped at 1 GB and never shrinks: nets up to
 *   a few hundred MB only.
 * - N-D inputs: this build has no N-D Mat constructor (`new cv.Mat(sizes, type)` hits the
 *   (Size, type) overload; constructors are (), (Mat), (Size,type), (rows,cols,type),
 *   (rows,cols,type,Scalar), (rows,cols,type,ptr,step)); `blobFromImage` only makes 1×C×H×W with
 *   C ∈ {1,3,4}. So a 2-D input is `cv.matFromArray(N, C, CV_32F, data)` and any other rank is made
 *   by a helper net `Input [1, n] → Reshape [dims]`, whose forward() returns the N-D Mat.
 *   Output Mats report their shape in `mat.matSize` (an array) and data in `mat.data32F`
 *   (a view into the wasm heap: copied out before `delete()`). A 1-D blob comes back as [n, 1].
 * - Several outputs at once: `net.forward2(matVector, ['layerA', 'layerB'])` (a plain JS array of
 *   names; a StringVector is rejected) fills a MatVector in the requested order, in one pass. Names
 *   are LAYER names, and each gives only that layer's FIRST output. `net.forward1(matVector, 'layer')`
 *   gives all outputs of one layer (Slice, multi-top layers). `net.forward('layer')` returns one Mat;
 *   `net.forward()` only the last layer's first output. Top (blob) names that are not also layer
 *   names are not accepted ("Layer with requested id=-1 not found"); nor are Input layers / `input:`
 *   blobs ("Requested blob not found"). Layer names as OpenCV sees them: a repeated name becomes
 *   `name_1`, `name_2`...; a Convolution is registered under its first TOP's name (Convolution "c1"
 *   with top "t1" is reachable only as "t1"). We map names accordingly and, if OpenCV still says
 *   "not found", probe the other candidate.
 * - In-place layers: OpenCV keeps a separate output per layer, so with Convolution "conv" followed by
 *   ReLU "relu" with top == bottom == "conv", forward2(['conv', 'relu']) returns the pre-ReLU and the
 *   post-ReLU values (the requested layers are not fused). Real Caffe cannot show the pre-ReLU values
 *   (its blob "conv" is overwritten). Our API takes Caffe blob names and asks OpenCV for the LAST
 *   layer writing that blob, which matches Caffe; `@layer` asks for a layer's own output. To compare
 *   intermediate values across both runtimes the converter should not emit in-place layers (or give
 *   each top a distinct name) in its debug/verify output.
 *
 * Caffe layer types this build runs (probed with ~100 tiny nets on random data and compared with
 * BVLC Caffe in the oracle; "= Caffe" means max |diff| <= 1e-6). Note that readNetFromCaffe accepts
 * any layer type: an unknown one fails only at the first forward ("Can't create layer").
 *
 * | Caffe layer    | OpenCV 4.12 (opencv.js)                                                          |
 * | -------------- | -------------------------------------------------------------------------------- |
 * | Convolution    | yes = Caffe: group (incl. depthwise), dilation, pad_h/pad_w, kernel_h/_w,         |
 * |                | stride_h/_w, repeated pad (h, w), bias_term: false, N > 1. Asymmetric padding    |
 * |                | cannot be written in Caffe at all. The layer is NAMED AFTER ITS TOP in OpenCV.   |
 * | Deconvolution  | yes = Caffe: stride, pad, group (incl. group = C)                                |
 * | Pooling        | MAX / AVE = Caffe, incl. pad, Caffe's ceil rounding (and AVE's divisor at the    |
 * |                | padded border), global_pooling, kernel_h/_w. `round_mode` (FLOOR or CEIL) is NOT |
 * |                | honoured: the layer then fails ("kernel[i] > 0"). OpenCV's own `ceil_mode: false`|
 * |                | gives floor rounding, but real Caffe rejects that field.                         |
 * | InnerProduct   | yes = Caffe (4-D or N×C input, axis, bias_term); `transpose: true` is IGNORED     |
 * | BatchNorm      | yes = Caffe (use_global_stats, eps, the 3rd "scale factor" blob)                 |
 * | Scale          | yes = Caffe: with/without bias, axis/num_axes, second bottom (axis 0 and 1)       |
 * | Bias           | NO ("Can't create layer"); use Scale with unit weights and bias_term             |
 * | ReLU           | yes = Caffe, negative_slope too                                                  |
 * | ELU            | yes = Caffe (alpha)                                                              |
 * | PReLU          | yes = Caffe; channel_shared needs its slope blob written with the legacy         |
 * |                | num/channels/height/width = 1,1,1,1 fields (Caffe's own 0-D blob makes OpenCV    |
 * |                | fail to load; a shape [1] blob makes Caffe fail)                                 |
 * | Sigmoid, TanH, AbsVal, BNLL | yes = Caffe                                                         |
 * | Power          | yes = Caffe (power, scale, shift)                                                |
 * | Exp            | yes = Caffe (base, scale, shift)                                                 |
 * | Log            | plain natural log only: base, scale and shift are IGNORED                        |
 * | Softmax        | yes = Caffe (axis 1, 2, -1; N×C)                                                 |
 * | Eltwise        | yes = Caffe: SUM (with coeff), PROD, MAX, 3 bottoms                              |
 * | Concat         | yes = Caffe (axis 1, 2, 3; N×C)                                                  |
 * | Slice          | yes = Caffe WITH slice_point; an equal split without slice_point fails          |
 * | Split          | yes                                                                              |
 * | Flatten        | yes = Caffe (axis 1, 2)                                                          |
 * | Reshape        | yes = Caffe (0 and -1 dims)                                                      |
 * | Crop           | yes = Caffe (axis, one or per-axis offsets)                                      |
 * | Dropout        | yes (identity)                                                                   |
 * | LRN, MVN       | yes = Caffe (ACROSS/WITHIN_CHANNEL; across_channels, normalize_variance)         |
 * | Permute        | yes (SSD's permute_param); not in BVLC Caffe                                     |
 * | Normalize      | loads and runs (SSD's norm_param); not in BVLC Caffe, not compared               |
 * | ReLU6          | yes (no params: min(max(x, 0), 6)); not in BVLC Caffe                            |
 * | Swish          | yes = Caffe for beta = 1; swish_param.beta is IGNORED                            |
 * | Clip           | NO ("Can't create layer")                                                        |
 * | Threshold      | NO                                                                               |
 * | Reduction, ArgMax, Embed | NO                                                                     |
 * | Tile           | NO (fails: "repeats ... is missing")                                             |
 * | Python         | NO                                                                               |
 * | Input, `input:`/`input_shape` | yes (net inputs; not layers: cannot be forwarded to by name)      |
 */
import { createRequire } from 'node:module';
import type { Tensor } from '../core/tensor.js';
import { elementCount } from '../core/tensor.js';

// ---------------------------------------------------------------------------------------------
// Minimal typings for the parts of opencv.js used here (the package's own .d.ts lags behind).

interface CvMat {
  matSize: number[];
  data32F: Float32Array;
  type(): number;
  convertTo(dst: CvMat, rtype: number): void;
  delete(): void;
}
interface CvMatVector {
  size(): number;
  get(i: number): CvMat;
  delete(): void;
}
interface CvStringVector {
  size(): number;
  get(i: number): string;
  delete(): void;
}
interface CvNet {
  setInput(blob: CvMat, name: string): void;
  forward(name?: string): CvMat;
  forward1(out: CvMatVector, layerName: string): void;
  forward2(out: CvMatVector, layerNames: string[]): void;
  getUnconnectedOutLayersNames(): CvStringVector;
  delete(): void;
}
interface OpenCV {
  CV_32F: number;
  Mat: new () => CvMat;
  MatVector: new () => CvMatVector;
  matFromArray(rows: number, cols: number, type: number, data: ArrayLike<number>): CvMat;
  readNetFromCaffe(prototxtPath: string, caffemodelPath: string): CvNet;
  FS_createDataFile(parent: string, name: string, data: Uint8Array, canRead: boolean, canWrite: boolean, canOwn: boolean): void;
  FS_unlink(path: string): void;
  exceptionFromPtr?(ptr: number): { msg: string };
  getBuildInformation(): string;
  calledRun?: boolean;
  onRuntimeInitialized?: () => void;
  onAbort?: (what: unknown) => void;
  then?: unknown;
}

/** An error reported by OpenCV (a C++ cv::Exception or an Emscripten binding error). */
export class OpenCVError extends Error {
  override name = 'OpenCVError';
}

// ---------------------------------------------------------------------------------------------
// Loading

const logLines: string[] = [];
function log(line: string): void {
  logLines.push(line);
  if (logLines.length > 50) logLines.shift();
}

let cvPromise: Promise<OpenCV> | undefined;

/** Loads opencv.js once per process (later calls share the same promise). */
export function loadOpenCV(): Promise<OpenCV> {
  cvPromise ??= new Promise<OpenCV>((resolve, reject) => {
    const require = createRequire(import.meta.url);
    const before = {
      u: process.listeners('uncaughtException'),
      r: process.listeners('unhandledRejection'),
    };
    const { log: origLog, warn: origWarn } = console;
    let cv: OpenCV;
    try {
      // opencv.js binds console.log / console.warn as its stdout / stderr when it is evaluated.
      console.log = (...a: unknown[]) => log(a.join(' '));
      console.warn = (...a: unknown[]) => log(a.join(' '));
      cv = require('@techstark/opencv-js') as OpenCV;
    } catch (e) {
      reject(new OpenCVError(`cannot load @techstark/opencv-js: ${(e as Error).message}`));
      return;
    } finally {
      console.log = origLog;
      console.warn = origWarn;
      for (const l of process.listeners('uncaughtException')) if (!before.u.includes(l)) process.removeListener('uncaughtException', l);
      for (const l of process.listeners('unhandledRejection')) if (!before.r.includes(l)) process.removeListener('unhandledRejection', l);
    }
    const done = () => {
      delete cv.then; // a thenable Module would make the promise resolution loop forever
      resolve(cv);
    };
    if (cv instanceof Promise) {
      // other builds of this package export a Promise of the module
      (cv as Promise<OpenCV>).then((m) => {
        cv = m;
        done();
      }, reject);
    } else if (cv.calledRun) {
      done();
    } else {
      const prev = cv.onRuntimeInitialized;
      cv.onRuntimeInitialized = () => {
        prev?.();
        done();
      };
      cv.onAbort = (what) => reject(new OpenCVError(`opencv.js aborted while loading: ${String(what)}`));
    }
  });
  return cvPromise;
}

/** OpenCV's version, e.g. "4.12.0". */
export async function opencvVersion(): Promise<string> {
  const cv = await loadOpenCV();
  const m = /OpenCV\s+(\d+\.\d+\.\d+\S*)/.exec(cv.getBuildInformation());
  return m ? m[1] : 'unknown';
}

function cvError(cv: OpenCV, e: unknown, what: string): OpenCVError {
  let msg: string;
  if (typeof e === 'number' && cv.exceptionFromPtr) {
    try {
      msg = cv.exceptionFromPtr(e).msg;
    } catch {
      msg = `C++ exception at ${e}`;
    }
  } else msg = e instanceof Error ? e.message : String(e);
  // "OpenCV(4.12.0) /home/ci/opencv/modules/dnn/src/x.cpp:123: error: (-2:Unspecified error) ..."
  msg = msg.replace(/^OpenCV\([^)]*\)\s+\S+:\d+:\s+error:\s*/, '').replace(/\s+/g, ' ').trim();
  const recent = logLines.splice(0).filter((l) => l.trim());
  return new OpenCVError(`OpenCV: ${what}: ${msg}${recent.length ? ` [log: ${recent.slice(-5).join(' | ')}]` : ''}`);
}

// ---------------------------------------------------------------------------------------------
// Prototxt: just enough structure to map blob names to layers.

interface PtxLayer {
  name: string;
  type: string;
  bottoms: string[];
  tops: string[];
  /** Names OpenCV may give this layer, the likeliest first (see cvLayerNames). */
  cvNames: string[];
}

type PtxValue = string | PtxMessage;
type PtxMessage = Map<string, PtxValue[]>;

/**
 * The text of a protobuf text-format string literal (without its quotes): C escapes (`\n`,
 * `\t`, `\"`, `\\`, ...), octal `\NNN` and hex `\xHH` bytes, decoded as UTF-8 (how
 * prototxt.ts writes non-ASCII names, and how protobuf's TextFormat reads them).
 */
function unescapeCString(s: string): string {
  const bytes: number[] = [];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, f: 12, v: 11 };
  for (let i = 0; i < s.length; i++) {
    const c = String.fromCodePoint(s.codePointAt(i)!);
    if (c !== '\\' || i + 1 >= s.length) {
      bytes.push(...Buffer.from(c, 'utf8'));
      i += c.length - 1;
      continue;
    }
    const e = s[++i];
    const oct = /^[0-7]{1,3}/.exec(s.slice(i, i + 3));
    const hex = e === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 1, i + 3)) : null;
    if (oct) {
      bytes.push(parseInt(oct[0], 8) & 0xff);
      i += oct[0].length - 1;
    } else if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += hex[0].length;
    } else if (e in simple) bytes.push(simple[e]);
    else bytes.push(...Buffer.from(e, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function parsePrototxt(text: string): PtxMessage {
  const tokens = text.match(/#[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[{}<>:;,\[\]]|[^\s{}<>:;,\[\]"'#]+/g) ?? [];
  let i = 0;
  const unquote = (t: string) => (t[0] === '"' || t[0] === "'" ? unescapeCString(t.slice(1, -1)) : t);
  const next = () => {
    while (i < tokens.length && tokens[i].startsWith('#')) i++;
    return tokens[i];
  };
  const message = (close: string | undefined): PtxMessage => {
    const m: PtxMessage = new Map();
    for (;;) {
      const key = next();
      if (key === undefined) {
        if (close) throw new Error(`prototxt: missing '${close}'`);
        return m;
      }
      i++;
      if (key === close) return m;
      if (key === ';' || key === ',') continue;
      let t = next();
      if (t === ':') {
        i++;
        t = next();
      }
      const push = (v: PtxValue) => (m.get(key) ?? m.set(key, []).get(key)!).push(v);
      if (t === '{' || t === '<') {
        i++;
        push(message(t === '{' ? '}' : '>'));
      } else if (t === '[') {
        i++;
        while (next() !== undefined && next() !== ']') {
          const v = tokens[i++];
          if (v !== ',') push(unquote(v));
        }
        i++;
      } else if (t !== undefined) {
        i++;
        push(unquote(t));
      }
    }
  };
  return message(undefined);
}

function strings(m: PtxMessage, key: string): string[] {
  return (m.get(key) ?? []).filter((v): v is string => typeof v === 'string');
}

/**
 * The names OpenCV gives a prototxt layer. Its Caffe importer renames a repeated layer name to
 * `name_1`, `name_2`, ... (counting Input layers too), and in this build a Convolution layer is
 * found under its first top's name, not its own (probed: "c1" with top "t1" is only reachable as
 * "t1"; Deconvolution, InnerProduct, ... keep their names). Unknown cases are resolved by probing.
 */
function cvLayerNames(type: string, name: string, tops: string[]): string[] {
  const names = type === 'Convolution' || type === 'ConvolutionDepthwise' || type === 'CONVOLUTION' ? [tops[0], name] : [name, tops[0]];
  return [...new Set(names.filter((n): n is string => !!n))];
}

function netLayers(prototxt: string): { layers: PtxLayer[]; inputs: string[] } {
  const net = parsePrototxt(prototxt);
  const layers: PtxLayer[] = [];
  const inputs = strings(net, 'input');
  const seen = new Map<string, number>();
  for (const v of [...(net.get('layer') ?? []), ...(net.get('layers') ?? [])]) {
    if (typeof v === 'string') continue;
    const given = strings(v, 'name')[0] ?? '';
    const rep = seen.get(given) ?? 0;
    seen.set(given, rep + 1);
    const name = rep ? `${given}_${rep}` : given;
    const type = strings(v, 'type')[0] ?? '';
    const tops = strings(v, 'top');
    if (type === 'Input' || type === 'INPUT') inputs.push(...tops);
    else layers.push({ name: given, type, bottoms: strings(v, 'bottom'), tops, cvNames: cvLayerNames(type, name, tops) });
  }
  return { layers, inputs };
}

// ---------------------------------------------------------------------------------------------
// Running

export interface OpenCVInput {
  /** The net input (blob) name: the top of an Input layer, or a top-level `input:`. */
  name: string;
  /** Any rank; NCHW for images, N×C for vectors. */
  tensor: Tensor;
}

let fileCounter = 0;

function toTensor(cv: OpenCV, mat: CvMat): Tensor {
  let m = mat;
  let converted: CvMat | undefined;
  if (mat.type() !== cv.CV_32F) {
    converted = new cv.Mat();
    mat.convertTo(converted, cv.CV_32F);
    m = converted;
  }
  try {
    const shape = Array.from(m.matSize);
    const data = new Float32Array(m.data32F); // copy out of the wasm heap
    if (data.length !== elementCount(shape)) throw new OpenCVError(`OpenCV returned a blob of shape [${shape}] with ${data.length} values`);
    return { shape, data };
  } finally {
    converted?.delete();
  }
}

/** Builds an N-D CV_32F Mat holding `t` (see the header comment for why this takes a helper net). */
function toMat(cv: OpenCV, t: Tensor, fs: (name: string, bytes: Uint8Array) => string): CvMat {
  const n = elementCount(t.shape);
  if (t.data.length !== n) throw new Error(`input tensor has ${t.data.length} values, shape [${t.shape}] needs ${n}`);
  if (t.shape.length === 2) return cv.matFromArray(t.shape[0], t.shape[1], cv.CV_32F, t.data);
  const proto =
    `layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: ${n} } } }\n` +
    `layer { name: "r" type: "Reshape" bottom: "x" top: "r" reshape_param { shape { ${t.shape.map((d) => `dim: ${d}`).join(' ')} } } }\n`;
  const p = fs('reshape.prototxt', new TextEncoder().encode(proto));
  const w = fs('reshape.caffemodel', new Uint8Array(0));
  const net = cv.readNetFromCaffe(p, w);
  const flat = cv.matFromArray(1, n, cv.CV_32F, t.data);
  try {
    net.setInput(flat, 'x');
    return net.forward('r');
  } finally {
    flat.delete();
    net.delete();
  }
}

/**
 * Forwards `inputs` through the Caffe net in OpenCV DNN and returns the requested blobs.
 *
 * `blobNames` are Caffe blob (top) names; each is read from the last layer that writes it (so an
 * in-place ReLU's blob is post-ReLU, as in Caffe). `@name` reads layer `name`'s own (first) output.
 * An input blob name returns the input. Default: the net's unconnected output layers, keyed by
 * their top names. Every Mat / Net is deleted before returning.
 */
export async function runCaffeInOpenCV(
  prototxt: string,
  caffemodel: Uint8Array,
  inputs: OpenCVInput[],
  blobNames?: string[],
): Promise<Map<string, Tensor>> {
  const cv = await loadOpenCV();
  // If our small parser cannot read the prototxt, let OpenCV have the last word: names are then
  // taken as OpenCV layer names as they are.
  let parsed: { layers: PtxLayer[]; inputs: string[] } | undefined;
  try {
    parsed = netLayers(prototxt);
  } catch {
    parsed = undefined;
  }
  const layersOf = parsed?.layers ?? [];
  const inputsOf = parsed?.inputs ?? [];
  const adHoc = (name: string): PtxLayer => ({ name, type: '', bottoms: [], tops: [name], cvNames: [name] });
  const lastWriter = new Map<string, { layer: PtxLayer; index: number }>();
  for (const l of layersOf) l.tops.forEach((top, index) => lastWriter.set(top, { layer: l, index }));

  const files: string[] = [];
  const fs = (name: string, bytes: Uint8Array) => {
    const path = `/keras2caffe-${process.pid}-${++fileCounter}-${name}`;
    cv.FS_createDataFile('/', path.slice(1), bytes, true, false, false);
    files.push(path);
    return path;
  };
  const unlinkAll = () => {
    for (const f of files.splice(0)) {
      try {
        cv.FS_unlink(f);
      } catch {
        /* already gone */
      }
    }
  };

  const mats: CvMat[] = [];
  const vectors: CvMatVector[] = [];
  let net: CvNet | undefined;
  try {
    try {
      net = cv.readNetFromCaffe(fs('net.prototxt', new TextEncoder().encode(prototxt)), fs('net.caffemodel', caffemodel));
    } catch (e) {
      throw cvError(cv, e, 'cannot load the Caffe net');
    } finally {
      unlinkAll();
    }
    const theNet = net;

    // what to read: key -> (layer, output index), or an input
    type Want = { key: string; layer?: PtxLayer; index: number; input?: Tensor };
    const want: Want[] = [];
    if (blobNames === undefined) {
      const v = theNet.getUnconnectedOutLayersNames();
      try {
        for (let i = 0; i < v.size(); i++) {
          const cvName = v.get(i);
          const layer = layersOf.find((l) => l.cvNames[0] === cvName) ?? layersOf.find((l) => l.cvNames.includes(cvName)) ?? adHoc(cvName);
          layer.tops.forEach((top, index) => {
            const w = lastWriter.get(top);
            if (!w || w.layer === layer) want.push({ key: top, layer, index });
          });
        }
      } finally {
        v.delete();
      }
    } else {
      for (const key of blobNames) {
        const given = inputs.find((x) => x.name === key);
        if (key.startsWith('@')) {
          const name = key.slice(1);
          want.push({ key, layer: layersOf.find((l) => l.name === name) ?? adHoc(name), index: 0 });
        } else if (lastWriter.has(key)) want.push({ key, ...lastWriter.get(key)! });
        else if (given) want.push({ key, index: 0, input: given.tensor });
        else if (!parsed) want.push({ key, layer: adHoc(key), index: 0 });
        else if (inputsOf.includes(key)) throw new OpenCVError(`OpenCV: input blob '${key}' was not given a value`);
        else throw new OpenCVError(`OpenCV: the net has no blob named '${key}'`);
      }
    }

    for (const { name, tensor } of inputs) {
      let mat: CvMat;
      try {
        mat = toMat(cv, tensor, fs);
      } catch (e) {
        throw typeof e === 'number' ? cvError(cv, e, `cannot build input '${name}'`) : e;
      } finally {
        unlinkAll();
      }
      mats.push(mat);
      try {
        theNet.setInput(mat, name);
      } catch (e) {
        throw cvError(cv, e, `cannot set input '${name}'`);
      }
    }

    // OpenCV layer name of each wanted layer: the first candidate, or whichever a probe finds
    const cvName = new Map<PtxLayer, string>();
    const notFound = (e: unknown) => typeof e === 'number' && /not found/.test(cvError(cv, e, '').message);
    const resolveByProbing = (layers: PtxLayer[]) => {
      for (const l of layers) {
        const hit = l.cvNames.find((n) => {
          try {
            theNet.forward(n).delete();
            return true;
          } catch (e) {
            if (notFound(e)) return false;
            throw cvError(cv, e, `forward to '${n}' failed`);
          }
        });
        if (hit === undefined) throw new OpenCVError(`OpenCV: no layer found for '${l.name}' (tried ${l.cvNames.join(', ')})`);
        cvName.set(l, hit);
      }
    };
    const nameOf = (l: PtxLayer) => cvName.get(l) ?? l.cvNames[0];
    const forwardMany = (layers: PtxLayer[], one?: PtxLayer): CvMatVector => {
      for (let attempt = 0; ; attempt++) {
        const mv = new cv.MatVector();
        vectors.push(mv);
        try {
          if (one) theNet.forward1(mv, nameOf(one));
          else theNet.forward2(mv, layers.map(nameOf));
          return mv;
        } catch (e) {
          if (attempt === 0 && notFound(e)) {
            resolveByProbing(one ? [one] : layers);
            continue;
          }
          throw cvError(cv, e, `forward to [${(one ? [one] : layers).map(nameOf).join(', ')}] failed`);
        }
      }
    };
    const grab = (mv: CvMatVector): Tensor[] => {
      const all: Tensor[] = [];
      for (let i = 0; i < mv.size(); i++) {
        const m = mv.get(i);
        mats.push(m);
        all.push(toTensor(cv, m));
      }
      return all;
    };

    const out = new Map<string, Tensor>();
    for (const w of want) if (w.input) out.set(w.key, { shape: [...w.input.shape], data: new Float32Array(w.input.data) });
    // first outputs of all layers in one pass (forward2); further outputs of multi-top layers one
    // layer at a time (forward1 returns all outputs of one layer)
    const first = want.filter((w) => w.layer && w.index === 0);
    const firstLayers = [...new Set(first.map((w) => w.layer!))];
    if (firstLayers.length > 0) {
      const got = grab(forwardMany(firstLayers));
      for (const w of first) out.set(w.key, got[firstLayers.indexOf(w.layer!)]);
    }
    const rest = want.filter((w) => w.layer && w.index > 0);
    for (const layer of new Set(rest.map((w) => w.layer!))) {
      const got = grab(forwardMany([], layer));
      for (const w of rest.filter((r) => r.layer === layer)) {
        if (!got[w.index]) throw new OpenCVError(`OpenCV: layer '${layer.name}' has ${got.length} outputs, wanted output ${w.index} ('${w.key}')`);
        out.set(w.key, got[w.index]);
      }
    }
    return new Map(want.map((w) => [w.key, out.get(w.key)!])); // in the requested order
  } finally {
    for (const m of mats) m.delete();
    for (const v of vectors) v.delete();
    net?.delete();
    unlinkAll();
  }
}
