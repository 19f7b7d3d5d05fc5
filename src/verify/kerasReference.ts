/**
 * The Keras reference for verification: the model rebuilt in-process with @tensorflow/tfjs-layers
 * (a Keras port with TensorFlow semantics) from the .h5 file's own model_config and weights.
 *
 * Independence: nothing here uses the converter's graph parser or mappings. The config is
 * normalised by this module alone:
 * - Keras 2 / tf.keras / Keras 3 configs become one flat list of layer calls (nested
 *   Model/Functional/Sequential models are inlined so that every inner layer's output can be
 *   compared; Keras 3 `{args, kwargs}` inbound nodes with `__keras_tensor__` keras_history are read
 *   like Keras 2 `[layer, node, tensor, kwargs]` lists).
 * - Per layer: `module`/`registered_name`/`build_config` dropped, `dtype` policy objects become
 *   'float32', `batch_shape` becomes `batch_input_shape`, initializers become Zeros (weights are set
 *   from the file afterwards), regularizers/constraints dropped, class-name aliases resolved
 *   (Convolution2D, MaxPool2D, ...), then snake_case keys and string values are camel-cased exactly
 *   as tfjs's own `modelFromJSON` does.
 * - Layers tfjs lacks or builds differently from Keras get small tfjs implementations here:
 *   ReLU (max_value, negative_slope, threshold), Subtract, Conv2D with groups > 1, global pooling
 *   with keepdims, identity layers (SpatialDropout2D/3D, ActivityRegularization, Identity), and the
 *   activations exponential, Keras 3 hard_sigmoid (relu6(x+3)/6), hard_silu, leaky_relu, silu.
 * - Lambda and custom layers cannot be built: they (and everything downstream) are reported as
 *   such; every layer before them is still built and can be compared.
 *
 * Weights are read from the file by the layer's group (nested models: the outermost nested model's
 * group, filtered by the inner layer's name) and matched to tfjs's `layer.weights` by short name
 * (`kernel`, `gamma`, ...), else by order, with shapes checked. Files saved by Keras on Theano hold
 * Conv1D/Conv2D/Conv3D/Conv2DTranspose (and ConvLSTM2D) kernels spatially flipped; they are flipped
 * back (keras/engine/saving.py, preprocess_weights_for_loading, conv_utils.convert_kernel: every
 * axis but the last two).
 *
 * tfjs follows TensorFlow: 'same' padding puts the odd pixel at the bottom/right, average pooling
 * with 'same' excludes the padding from the count.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import { UserError } from '../core/errors.js';
import { elementCount, type Tensor } from '../core/tensor.js';
import type { KerasConfigNode, KerasH5, WeightEntry } from '../h5/kerasH5.js';
import { isKeras3 } from '../keras/modelGraph.js';

type Tf = typeof TfCore;
type Tfl = typeof TfLayers;
type SymbolicTensor = TfLayers.SymbolicTensor;
type LayersModel = TfLayers.LayersModel;
type TfLayer = TfLayers.layers.Layer;

export interface ReferenceLayer {
  /** Call name: the Keras layer name; `name_N` for the N-th call of a shared layer; uniquified. */
  name: string;
  className: string;
  /** Built in tfjs (its output is in `predictAll`). */
  built: boolean;
  /** The calls feeding it (model inputs included). */
  inputs: string[];
  /** Its output shape without the batch axis (null: unknown), when built. */
  shape?: (number | null)[];
  /** Why not: the layer itself cannot be built, or it depends on one that cannot. */
  reason?: string;
}

export interface UnbuiltLayer {
  layer: string;
  className: string;
  /** One line, e.g. "tfjs cannot build layer 'lambda_1' (Lambda)". */
  message: string;
}

export interface KerasReference {
  /** A tfjs model whose outputs are every built layer call's output (InputLayers excluded). */
  model: LayersModel | null;
  /** Model inputs in input_layers order, shapes without the batch axis. */
  inputs: { name: string; shape: (number | null)[] }[];
  /** Every layer call in model order. */
  layers: ReferenceLayer[];
  /** The model's output call names, in output order. */
  outputs: string[];
  /** Layers tfjs could not build (the root causes only). */
  unbuilt: UnbuiltLayer[];
  /** What was normalised for tfjs (one line each, deduplicated). */
  notes: string[];
  /**
   * Runs the model on NHWC inputs (with or without a batch axis of 1; in `inputs` order) and
   * returns every built layer call's output by call name, without the batch axis.
   */
  predictAll(inputs: Tensor[]): Map<string, Tensor>;
  dispose(): void;
}

export interface ReferenceOptions {
  onProgress?: (message: string) => void;
}

// ---------------------------------------------------------------------------------------------
// tfjs loading

interface TfModules {
  tf: Tf;
  tfl: Tfl;
}

let tfPromise: Promise<TfModules> | null = null;

/** Loads tfjs-core + the CPU backend + tfjs-layers once, silencing their console banners. */
export function loadTf(): Promise<TfModules> {
  if (!tfPromise) {
    tfPromise = (async () => {
      const saved = { warn: console.warn, log: console.log, info: console.info };
      const quiet = () => undefined;
      console.warn = quiet;
      console.log = quiet;
      console.info = quiet;
      try {
        const tf = (await import('@tensorflow/tfjs-core')) as unknown as Tf;
        await import('@tensorflow/tfjs-backend-cpu');
        const tfl = (await import('@tensorflow/tfjs-layers')) as unknown as Tfl;
        tf.env().set('PROD', true);
        await tf.setBackend('cpu');
        await tf.ready();
        // The CPU backend's "install tfjs-node" banner is printed on its first use.
        tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
        registerCustomClasses(tf, tfl);
        return { tf, tfl };
      } finally {
        console.warn = saved.warn;
        console.log = saved.log;
        console.info = saved.info;
      }
    })();
    tfPromise.catch(() => (tfPromise = null));
  }
  return tfPromise;
}

// ---------------------------------------------------------------------------------------------
// Custom tfjs classes for what tfjs lacks

const PREFIX = 'K2cRef';

function registerCustomClasses(tf: Tf, tfl: Tfl): void {
  const map = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, unknown>;
  if (`${PREFIX}ReLU` in map) return;
  const Layer = tfl.layers.Layer as unknown as new (args: any) => any;
  const one = (x: any) => (Array.isArray(x) ? x[0] : x);

  const activationFn = (name: string | null | undefined) => {
    if (!name || name === 'linear') return (x: TfCore.Tensor) => x;
    const entry = (tf.serialization.SerializationMap.getMap().classNameMap as any)[name];
    if (!entry) throw new Error(`unknown activation '${name}'`);
    const inst = new entry[0]();
    return (x: TfCore.Tensor) => inst.apply(x) as TfCore.Tensor;
  };

  // Activations: classes with apply(x) (tfjs instantiates them with `new cls(config)`).
  const act = (className: string, f: (x: TfCore.Tensor) => TfCore.Tensor) => {
    const C = class {
      static className = className;
      apply(x: TfCore.Tensor) {
        return tf.tidy(() => f(x));
      }
      getClassName() {
        return className;
      }
      getConfig() {
        return {};
      }
    };
    tf.serialization.registerClass(C as any);
  };
  act(`${PREFIX}Exponential`, (x) => tf.exp(x));
  act(`${PREFIX}HardSigmoid3`, (x) => tf.div(tf.relu6(tf.add(x, 3)), 6));
  act(`${PREFIX}HardSilu`, (x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)));
  act(`${PREFIX}LeakyRelu`, (x) => tf.leakyRelu(x, 0.2));

  class KReLU extends Layer {
    static className = `${PREFIX}ReLU`;
    maxValue: number | null;
    negativeSlope: number;
    threshold: number;
    constructor(args: any) {
      super(args);
      this.maxValue = args.maxValue ?? null;
      this.negativeSlope = args.negativeSlope ?? 0;
      this.threshold = args.threshold ?? 0;
    }
    computeOutputShape(s: any) {
      return s;
    }
    call(inputs: any) {
      return tf.tidy(() => {
        const x = one(inputs) as TfCore.Tensor;
        // Keras backend relu(x, alpha, max_value, threshold): the part above the threshold (clipped
        // to [0, max_value]), minus alpha · relu(threshold − x).
        const t = this.threshold;
        let y: TfCore.Tensor = t === 0 ? tf.relu(x) : tf.where(tf.greater(x, t), x, tf.zerosLike(x));
        if (this.maxValue !== null) y = tf.clipByValue(y, 0, this.maxValue);
        if (this.negativeSlope !== 0) y = tf.sub(y, tf.mul(tf.relu(tf.sub(t, x)), this.negativeSlope));
        return y;
      });
    }
    getConfig() {
      return { ...super.getConfig(), maxValue: this.maxValue, negativeSlope: this.negativeSlope, threshold: this.threshold };
    }
  }
  tf.serialization.registerClass(KReLU as any);

  class KELU extends Layer {
    static className = `${PREFIX}ELU`;
    alpha: number;
    constructor(args: any) {
      super(args);
      this.alpha = args.alpha ?? 1;
    }
    computeOutputShape(s: any) {
      return s;
    }
    call(inputs: any) {
      return tf.tidy(() => {
        const x = one(inputs) as TfCore.Tensor;
        return tf.where(tf.greater(x, 0), x, tf.mul(tf.sub(tf.exp(x), 1), this.alpha));
      });
    }
    getConfig() {
      return { ...super.getConfig(), alpha: this.alpha };
    }
  }
  tf.serialization.registerClass(KELU as any);

  class KSubtract extends Layer {
    static className = `${PREFIX}Subtract`;
    computeOutputShape(s: any) {
      return s[0];
    }
    call(inputs: any) {
      return tf.tidy(() => tf.sub(inputs[0], inputs[1]));
    }
  }
  tf.serialization.registerClass(KSubtract as any);

  class KGlobalPool2D extends Layer {
    static className = `${PREFIX}GlobalPool2D`;
    mode: 'avg' | 'max';
    keepdims: boolean;
    constructor(args: any) {
      super(args);
      this.mode = args.mode;
      this.keepdims = !!args.keepdims;
    }
    computeOutputShape(s: any) {
      return this.keepdims ? [s[0], 1, 1, s[3]] : [s[0], s[3]];
    }
    call(inputs: any) {
      return tf.tidy(() => (this.mode === 'avg' ? tf.mean(one(inputs), [1, 2], this.keepdims) : tf.max(one(inputs), [1, 2], this.keepdims)));
    }
    getConfig() {
      return { ...super.getConfig(), mode: this.mode, keepdims: this.keepdims };
    }
  }
  tf.serialization.registerClass(KGlobalPool2D as any);

  /** Conv2DTranspose with output_padding (tfjs's ignores it): TensorFlow's conv2d_transpose with Keras's output size. */
  class KConv2DTranspose extends Layer {
    static className = `${PREFIX}Conv2DTranspose`;
    args: any;
    kernel: any;
    bias: any;
    constructor(args: any) {
      super(args);
      this.args = args;
    }
    private pair(v: any): [number, number] {
      return typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]];
    }
    build(inputShape: any) {
      const s = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
      const [kh, kw] = this.pair(this.args.kernelSize);
      const zeros = tfl.initializers.zeros();
      this.kernel = (this as any).addWeight('kernel', [kh, kw, this.args.filters, s[3]], 'float32', zeros);
      if (this.args.useBias !== false) this.bias = (this as any).addWeight('bias', [this.args.filters], 'float32', zeros);
      (this as any).built = true;
    }
    /** keras.utils.conv_utils.deconv_output_length with output_padding. */
    private outLength(n: number | null, k: number, s: number, op: number): number | null {
      if (n === null) return null;
      const pad = this.args.padding === 'same' ? Math.floor(k / 2) : 0;
      return (n - 1) * s + k - 2 * pad + op;
    }
    computeOutputShape(inputShape: any) {
      const s = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
      const [kh, kw] = this.pair(this.args.kernelSize);
      const [sh, sw] = this.pair(this.args.strides ?? 1);
      const [oh, ow] = this.pair(this.args.outputPadding);
      return [s[0], this.outLength(s[1], kh, sh, oh), this.outLength(s[2], kw, sw, ow), this.args.filters];
    }
    call(inputs: any) {
      return tf.tidy(() => {
        const x = one(inputs) as TfCore.Tensor4D;
        const [, h, w, c] = this.computeOutputShape(x.shape) as number[];
        let y: TfCore.Tensor = tf.conv2dTranspose(x, this.kernel.read(), [x.shape[0], h, w, c], this.pair(this.args.strides ?? 1), this.args.padding === 'same' ? 'same' : 'valid');
        if (this.bias) y = tf.add(y, this.bias.read());
        return activationFn(this.args.activation)(y);
      });
    }
    getConfig() {
      return { ...super.getConfig(), ...this.args };
    }
  }
  tf.serialization.registerClass(KConv2DTranspose as any);

  /** Conv2D with groups > 1 (tfjs's Conv2D ignores `groups`). */
  class KGroupedConv2D extends Layer {
    static className = `${PREFIX}GroupedConv2D`;
    args: any;
    kernel: any;
    bias: any;
    constructor(args: any) {
      super(args);
      this.args = args;
    }
    private pair(v: any): [number, number] {
      return typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]];
    }
    build(inputShape: any) {
      const s = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
      const [kh, kw] = this.pair(this.args.kernelSize);
      const g = this.args.groups;
      const zeros = tfl.initializers.zeros();
      this.kernel = (this as any).addWeight('kernel', [kh, kw, s[3] / g, this.args.filters], 'float32', zeros);
      if (this.args.useBias !== false) this.bias = (this as any).addWeight('bias', [this.args.filters], 'float32', zeros);
      (this as any).built = true;
    }
    computeOutputShape(inputShape: any) {
      const s = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
      const [kh, kw] = this.pair(this.args.kernelSize);
      const [sh, sw] = this.pair(this.args.strides ?? 1);
      const [dh, dw] = this.pair(this.args.dilationRate ?? 1);
      const len = (n: number | null, k: number, st: number, d: number) => {
        if (n === null) return null;
        const ek = (k - 1) * d + 1;
        return this.args.padding === 'same' ? Math.ceil(n / st) : Math.ceil((n - ek + 1) / st);
      };
      return [s[0], len(s[1], kh, sh, dh), len(s[2], kw, sw, dw), this.args.filters];
    }
    call(inputs: any) {
      return tf.tidy(() => {
        const x = one(inputs) as TfCore.Tensor4D;
        const g = this.args.groups as number;
        const k = this.kernel.read() as TfCore.Tensor4D;
        const xs = tf.split(x, g, 3);
        const ks = tf.split(k, g, 3);
        const strides = this.pair(this.args.strides ?? 1);
        const dil = this.pair(this.args.dilationRate ?? 1);
        const parts = xs.map((xi, i) => tf.conv2d(xi as TfCore.Tensor4D, ks[i] as TfCore.Tensor4D, strides, this.args.padding === 'same' ? 'same' : 'valid', 'NHWC', dil));
        let y: TfCore.Tensor = tf.concat(parts, 3);
        if (this.bias) y = tf.add(y, this.bias.read());
        return activationFn(this.args.activation)(y);
      });
    }
    getConfig() {
      return { ...super.getConfig(), ...this.args };
    }
  }
  tf.serialization.registerClass(KGroupedConv2D as any);
}

// ---------------------------------------------------------------------------------------------
// Config normalisation

type Ref = [string, number, number];

interface RawLayer {
  name: string;
  class_name: string;
  config: any;
  inbound_nodes: any[];
}

interface ModelParts {
  name: string;
  layers: RawLayer[];
  inputLayers: Ref[];
  outputLayers: Ref[];
}

const MODEL_CLASSES = new Set(['Model', 'Functional', 'Sequential']);

const CLASS_ALIASES: Record<string, string> = {
  Convolution1D: 'Conv1D',
  Convolution2D: 'Conv2D',
  Convolution3D: 'Conv3D',
  Deconvolution2D: 'Conv2DTranspose',
  Convolution2DTranspose: 'Conv2DTranspose',
  Deconvolution3D: 'Conv3DTranspose',
  Convolution3DTranspose: 'Conv3DTranspose',
  SeparableConvolution2D: 'SeparableConv2D',
  DepthwiseConvolution2D: 'DepthwiseConv2D',
  MaxPool1D: 'MaxPooling1D',
  MaxPool2D: 'MaxPooling2D',
  MaxPool3D: 'MaxPooling3D',
  AvgPool1D: 'AveragePooling1D',
  AvgPool2D: 'AveragePooling2D',
  AvgPool3D: 'AveragePooling3D',
  GlobalAvgPool1D: 'GlobalAveragePooling1D',
  GlobalMaxPool1D: 'GlobalMaxPooling1D',
  GlobalAvgPool2D: 'GlobalAveragePooling2D',
  GlobalMaxPool2D: 'GlobalMaxPooling2D',
};

/** Inference-time identity layers tfjs does not have: built as a linear Activation. */
const IDENTITY_CLASSES = new Set(['SpatialDropout2D', 'SpatialDropout3D', 'ActivityRegularization', 'Identity']);

/** Keras classes whose kernels a Theano-saved file holds flipped (keras/engine/saving.py). */
const THEANO_FLIP: Record<string, string[]> = {
  Conv1D: ['kernel'],
  Conv2D: ['kernel'],
  Conv3D: ['kernel'],
  Conv2DTranspose: ['kernel'],
  ConvLSTM2D: ['kernel', 'recurrent_kernel'],
};

function badConfig(msg: string): never {
  throw new UserError(`model_config: ${msg}; the file is corrupted or not a Keras model`);
}

function isKerasTensor(v: any): boolean {
  return v && typeof v === 'object' && !Array.isArray(v) && v.class_name === '__keras_tensor__';
}

/** Input references of one call (Keras 2 list form, or Keras 3 {args, kwargs}). */
function nodeRefs(node: any, layer: string): Ref[] {
  if (Array.isArray(node))
    return node.map((r: any) => {
      if (!Array.isArray(r) || typeof r[0] !== 'string') badConfig(`layer '${layer}' has a malformed inbound node`);
      return [r[0], Number(r[1] ?? 0), Number(r[2] ?? 0)] as Ref;
    });
  if (node && typeof node === 'object' && Array.isArray(node.args)) {
    const refs: Ref[] = [];
    const visit = (v: any) => {
      if (isKerasTensor(v)) {
        const h = v.config?.keras_history;
        if (!Array.isArray(h)) badConfig(`layer '${layer}' has a tensor without keras_history`);
        refs.push([String(h[0]), Number(h[1] ?? 0), Number(h[2] ?? 0)]);
      } else if (Array.isArray(v)) v.forEach(visit);
    };
    node.args.forEach(visit);
    return refs;
  }
  badConfig(`layer '${layer}' has a malformed inbound node`);
}

function refs(v: any, what: string): Ref[] {
  if (!Array.isArray(v)) badConfig(`${what} is missing`);
  if (v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'number') return [[v[0], v[1], Number(v[2] ?? 0)]];
  return v.map((r: any) => {
    if (!Array.isArray(r) || typeof r[0] !== 'string') badConfig(`${what} is malformed`);
    return [r[0], Number(r[1] ?? 0), Number(r[2] ?? 0)] as Ref;
  });
}

function modelParts(node: { class_name: string; config: any }, fallback: string): ModelParts {
  const cfg = node.config;
  if (node.class_name === 'Sequential') {
    const list: any[] = Array.isArray(cfg) ? cfg : cfg?.layers;
    if (!Array.isArray(list) || list.length === 0) badConfig(`Sequential model '${fallback}' has no layers`);
    const name: string = (!Array.isArray(cfg) && cfg?.name) || fallback;
    const layers: RawLayer[] = [];
    const lname = (l: any) => {
      const n = l?.config?.name ?? l?.name;
      if (typeof n !== 'string') badConfig(`a layer of Sequential model '${name}' has no name`);
      return n;
    };
    let prev: string;
    let rest = list;
    if (list[0].class_name === 'InputLayer') {
      prev = lname(list[0]);
      layers.push({ name: prev, class_name: 'InputLayer', config: list[0].config ?? {}, inbound_nodes: [] });
      rest = list.slice(1);
    } else {
      const shape = list[0].config?.batch_input_shape ?? list[0].config?.batch_shape ?? (Array.isArray(cfg) ? null : cfg?.build_input_shape);
      if (!Array.isArray(shape)) badConfig(`Sequential model '${name}' has no input shape`);
      // Keras 2 names the implicit input of a Sequential `<first layer>_input`.
      prev = `${lname(list[0])}_input`;
      layers.push({ name: prev, class_name: 'InputLayer', config: { batch_input_shape: shape, name: prev }, inbound_nodes: [] });
    }
    for (const l of rest) {
      const n = lname(l);
      layers.push({ name: n, class_name: l.class_name, config: l.config ?? {}, inbound_nodes: [[[prev, 0, 0, {}]]] });
      prev = n;
    }
    return { name, layers, inputLayers: [[layers[0].name, 0, 0]], outputLayers: [[prev, 0, 0]] };
  }
  if (!cfg || !Array.isArray(cfg.layers)) badConfig(`model '${fallback}' has no layer list`);
  const layers: RawLayer[] = cfg.layers.map((l: any) => {
    const name = l.name ?? l.config?.name;
    if (typeof name !== 'string') badConfig('a layer has no name');
    if (typeof l.class_name !== 'string') badConfig(`layer '${name}' has no class_name`);
    return { name, class_name: l.class_name, config: l.config ?? {}, inbound_nodes: l.inbound_nodes ?? [] };
  });
  return {
    name: cfg.name ?? fallback,
    layers,
    inputLayers: refs(cfg.input_layers, `model '${fallback}' input_layers`),
    outputLayers: refs(cfg.output_layers, `model '${fallback}' output_layers`),
  };
}

interface Normaliser {
  keras3: boolean;
  notes: Set<string>;
}

/** snake_case → camelCase, as tfjs-layers' toCamelCase. */
function camel(s: string): string {
  if (s.length <= 1 || !s.includes('_')) return s;
  return s.replace(/[_]+(\w|$)/g, (_m, p1: string) => p1.toUpperCase());
}

/** tfjs's convertPythonicToTs: keys and string values camel-cased, `name` values kept. */
function pythonicToTs(v: any): any {
  if (v === null || v === undefined) return v ?? null;
  if (typeof v === 'string') return camel(v);
  if (typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(pythonicToTs);
  const out: Record<string, any> = {};
  for (const [k, val] of Object.entries(v)) out[camel(k)] = k === 'name' && typeof val === 'string' ? val : pythonicToTs(val);
  return out;
}

class CannotBuild extends Error {}

/** A Keras activation identifier → the tfjs activation name (before camel-casing), or throws. */
function activationName(a: any, n: Normaliser): string {
  if (a === null || a === undefined) return 'linear';
  if (typeof a === 'object') {
    if (typeof a.config === 'string') a = a.config;
    else if (typeof a.class_name === 'string' && (a.config === null || typeof a.config !== 'object' || Object.keys(a.config).length === 0)) a = a.class_name;
    else throw new CannotBuild(`activation ${JSON.stringify(a).slice(0, 60)}`);
  }
  const name = String(a);
  switch (name) {
    case 'linear':
    case 'relu':
    case 'relu6':
    case 'elu':
    case 'selu':
    case 'sigmoid':
    case 'tanh':
    case 'softmax':
    case 'softplus':
    case 'softsign':
    case 'log_softmax':
    case 'mish':
    case 'gelu':
    case 'swish':
      return name;
    case 'silu':
      return 'swish';
    case 'hard_sigmoid':
      if (n.keras3) {
        n.notes.add('hard_sigmoid is Keras 3\'s relu6(x + 3) / 6');
        return `${PREFIX}HardSigmoid3`;
      }
      return 'hard_sigmoid';
    case 'hard_silu':
    case 'hard_swish':
      return `${PREFIX}HardSilu`;
    case 'exponential':
      return `${PREFIX}Exponential`;
    case 'leaky_relu':
      return `${PREFIX}LeakyRelu`;
    default:
      throw new CannotBuild(`activation '${name}'`);
  }
}

/** Removes Keras 3 / tf.keras decorations from any nested {class_name, config} object. */
function stripDecorations(v: any, n: Normaliser): any {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => stripDecorations(x, n));
  const out: Record<string, any> = {};
  for (const [k, val] of Object.entries(v)) {
    if (k === 'module' || k === 'registered_name' || k === 'build_config' || k === 'compile_config' || k === 'shared_object_id') continue;
    if (k === 'dtype' && val && typeof val === 'object') {
      const policy = (val as any).config?.name ?? 'float32';
      if (policy !== 'float32') n.notes.add(`dtype policy '${policy}' computed in float32`);
      out[k] = 'float32';
      continue;
    }
    if (/_initializer$/.test(k)) {
      out[k] = { class_name: 'Zeros', config: {} };
      continue;
    }
    if (/_(regularizer|constraint)$/.test(k)) {
      out[k] = null;
      continue;
    }
    out[k] = stripDecorations(val, n);
  }
  return out;
}

/** The tfjs class name and pythonic config for a Keras layer, or throws CannotBuild. */
function tfjsLayerSpec(className: string, rawConfig: any, n: Normaliser, knownClass: (c: string) => boolean): { className: string; config: any } {
  let cls = CLASS_ALIASES[className] ?? className;
  const c = stripDecorations(rawConfig ?? {}, n);
  if (c.data_format === 'channels_first') n.notes.add('channels_first layers run on the CPU backend as channels_first');
  if ('activation' in c) c.activation = activationName(c.activation, n);
  if (cls === 'Lambda' || cls === 'TFOpLambda' || cls === 'SlicingOpLambda') throw new CannotBuild('');
  if (IDENTITY_CLASSES.has(cls)) return { className: 'Activation', config: { name: c.name, activation: 'linear', trainable: false } };
  if (cls === 'ReLU') {
    const cfg = { name: c.name, max_value: c.max_value ?? null, negative_slope: c.negative_slope ?? 0, threshold: c.threshold ?? 0 };
    return { className: `${PREFIX}ReLU`, config: cfg };
  }
  if (cls === 'ELU' && c.alpha !== undefined && Number(c.alpha) !== 1) return { className: `${PREFIX}ELU`, config: { name: c.name, alpha: Number(c.alpha) } };
  if (cls === 'Subtract') return { className: `${PREFIX}Subtract`, config: { name: c.name } };
  if (cls === 'LeakyReLU' && c.negative_slope !== undefined) {
    c.alpha = c.negative_slope;
    delete c.negative_slope;
  }
  if ((cls === 'GlobalAveragePooling2D' || cls === 'GlobalMaxPooling2D') && c.keepdims)
    return { className: `${PREFIX}GlobalPool2D`, config: { name: c.name, mode: cls === 'GlobalAveragePooling2D' ? 'avg' : 'max', keepdims: true } };
  if (cls === 'Conv2DTranspose' && c.output_padding !== undefined && c.output_padding !== null) {
    const d = c.dilation_rate;
    if (d !== undefined && d !== null && [d].flat().some((x: number) => Number(x) !== 1)) throw new CannotBuild('dilated Conv2DTranspose with output_padding');
    return { className: `${PREFIX}Conv2DTranspose`, config: c };
  }
  if (cls === 'Conv2D' && Number(c.groups ?? 1) > 1) return { className: `${PREFIX}GroupedConv2D`, config: c };
  if ('groups' in c && Number(c.groups) === 1) delete c.groups;
  else if ('groups' in c && cls !== `${PREFIX}GroupedConv2D`) throw new CannotBuild(`groups=${c.groups}`);
  if (cls === 'BatchNormalization' && Array.isArray(c.axis)) {
    if (c.axis.length !== 1) throw new CannotBuild(`axis ${JSON.stringify(c.axis)}`);
    c.axis = c.axis[0];
  }
  if (cls === 'InputLayer') {
    if (!c.batch_input_shape && c.batch_shape) c.batch_input_shape = c.batch_shape;
    delete c.batch_shape;
    delete c.sparse;
    delete c.ragged;
  }
  if (cls === 'Dense') delete c.lora_rank;
  if (cls === 'TimeDistributed' || cls === 'Bidirectional') {
    const inner = c.layer;
    if (!inner || typeof inner.class_name !== 'string') throw new CannotBuild('wrapped layer config');
    c.layer = tfjsLayerSpec(inner.class_name, inner.config, n, knownClass);
    c.layer = { class_name: c.layer.className, config: c.layer.config };
    if (c.backward_layer) {
      const b = tfjsLayerSpec(c.backward_layer.class_name, c.backward_layer.config, n, knownClass);
      c.backward_layer = { class_name: b.className, config: b.config };
    }
  }
  if (!knownClass(cls)) throw new CannotBuild('');
  if (cls === 'Functional') cls = 'Model';
  return { className: cls, config: c };
}

// ---------------------------------------------------------------------------------------------
// Building

interface CallRecord {
  name: string;
  className: string;
  /** tfjs layer object (shared by the calls of a shared layer within one model instance). */
  layer: TfLayer | null;
  output: SymbolicTensor | null;
  /** The calls feeding it. */
  inputs: string[];
  reason?: string;
  /** Root cause when it depends on a layer that cannot be built. */
  blockedBy?: string;
}

interface WeightSource {
  group: string;
  scope?: string;
  className: string;
  kerasName: string;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

function toTf(tf: Tf, t: Tensor, shape: (number | null)[], what: string): TfCore.Tensor {
  let dims = t.shape;
  if (dims.length === shape.length + 1) {
    if (dims[0] !== 1) throw new UserError(`${what}: a batch of ${dims[0]} was given; verification uses one sample (batch 1)`);
    dims = dims.slice(1);
  }
  if (dims.length !== shape.length || dims.some((d, i) => shape[i] !== null && shape[i] !== d))
    throw new UserError(`${what}: shape [${t.shape}] does not fit the model input [${shape.map((d) => d ?? 'None').join(', ')}] (NHWC, batch optional)`);
  return tf.tensor(t.data, [1, ...dims], 'float32');
}

/** Builds the Keras reference model of `file` in tfjs. */
export async function buildKerasReference(file: KerasH5, options: ReferenceOptions = {}): Promise<KerasReference> {
  options.onProgress?.('loading tfjs');
  const { tf, tfl } = await loadTf();
  const classMap = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, [any, any]>;
  const knownClass = (c: string) => c in classMap || c === 'Model' || c === 'Functional';
  const top = file.modelConfig as KerasConfigNode;
  if (!MODEL_CLASSES.has(top.class_name)) throw new UserError(`the top-level model class '${top.class_name}' is not a Keras Model or Sequential`);
  const configJson = JSON.stringify(top);
  if (/^1\./.test(file.kerasVersion ?? '') || /"(nb_filter|border_mode|nb_row|output_dim)"/.test(configJson))
    throw new UserError('this is a Keras 1 model, which the verification cannot rebuild; load it in Keras 2 and save it again with model.save("model.h5")');
  const keras3 = isKeras3(file.kerasVersion, configJson);
  const norm: Normaliser = { keras3, notes: new Set() };
  const theano = (file.backend ?? '').toLowerCase() === 'theano';
  if (theano) norm.notes.add('Theano-saved convolution kernels flipped back to TensorFlow order');

  options.onProgress?.('building the Keras reference in tfjs');
  const used = new Set<string>();
  const unique = (base: string) => {
    let n = base;
    for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
    used.add(n);
    return n;
  };
  const calls: CallRecord[] = [];
  const unbuilt: UnbuiltLayer[] = [];
  const weightSources = new Map<TfLayer, WeightSource>();
  const inputs: { name: string; shape: (number | null)[]; sym: SymbolicTensor }[] = [];
  const layerNameUsed = new Set<string>();
  const tfjsName = (base: string) => {
    let n = base;
    for (let i = 1; layerNameUsed.has(n); i++) n = `${base}_${i}`;
    layerNameUsed.add(n);
    return n;
  };

  /** A tensor of the flat graph: the call that made it and its symbolic value (null when blocked). */
  interface Value {
    call: string;
    sym: SymbolicTensor | null;
    /** Root cause when blocked. */
    blockedBy?: string;
  }

  const expand = (node: { class_name: string; config: any }, fallback: string, bound: Value[] | null, weightGroup: string | null, depth: number): Value[] => {
    if (depth > 64) throw new UserError('models are nested more than 64 deep');
    const parts = modelParts(node, fallback);
    const byName = new Map(parts.layers.map((l) => [l.name, l]));
    const local = new Map<string, Value>();
    const key = (r: Ref) => `${r[0]}:${r[1]}:${r[2]}`;
    parts.inputLayers.forEach((r, i) => {
      const l = byName.get(r[0]);
      if (!l) badConfig(`input layer '${r[0]}' is not a layer of model '${parts.name}'`);
      if (bound) {
        if (!bound[i]) badConfig(`nested model '${parts.name}' is called with too few inputs`);
        local.set(key([r[0], 0, 0]), bound[i]);
        return;
      }
      const name = unique(l.name);
      const c = stripDecorations(l.config ?? {}, norm);
      const shape: unknown = c.batch_input_shape ?? c.batch_shape;
      if (!Array.isArray(shape)) badConfig(`input '${l.name}' has no shape`);
      const dims = (shape as unknown[]).map((d) => (d === null || d === undefined || d === -1 ? null : Number(d)));
      const sym = tfl.input({ batchShape: dims, dtype: 'float32', name: tfjsName(name) });
      inputs.push({ name, shape: dims.slice(1), sym });
      calls.push({ name, className: 'InputLayer', layer: null, output: sym, inputs: [] });
      local.set(key([r[0], 0, 0]), { call: name, sym });
    });

    const pending: { l: RawLayer; nodeIndex: number; refs: Ref[] }[] = [];
    for (const l of parts.layers) {
      if (l.class_name === 'InputLayer') continue;
      (l.inbound_nodes ?? []).forEach((nd: any, nodeIndex: number) => pending.push({ l, nodeIndex, refs: nodeRefs(nd, l.name) }));
    }
    // A nested model built by Keras 2 / tf.keras has its own node 0 (made when it was built), so
    // the references to its calls count from 1: detect that from the highest node index used.
    const nodeOffset = new Map<string, number>();
    const allRefs = [...pending.flatMap((p) => p.refs), ...parts.outputLayers];
    for (const l of parts.layers) {
      if (!MODEL_CLASSES.has(l.class_name)) continue;
      const used = allRefs.filter((r) => r[0] === l.name).map((r) => r[1]);
      nodeOffset.set(l.name, used.length && Math.max(...used) >= (l.inbound_nodes ?? []).length ? 1 : 0);
    }
    /** One tfjs layer per Keras layer of this model instance (shared calls reuse it). */
    const made = new Map<string, { layer: TfLayer | null; reason?: string; className: string }>();
    let progress = true;
    while (pending.length && progress) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const call = pending[i];
        const ins = call.refs.map((r) => local.get(key(r)));
        if (ins.some((v) => v === undefined)) continue;
        for (const r of call.refs) if (!byName.has(r[0])) badConfig(`layer '${call.l.name}' takes input from unknown layer '${r[0]}'`);
        pending.splice(i--, 1);
        progress = true;
        const l = call.l;
        const values = ins as Value[];
        if (MODEL_CLASSES.has(l.class_name)) {
          const outs = expand(l, l.name, values, weightGroup ?? l.name, depth + 1);
          outs.forEach((v, j) => local.set(key([l.name, call.nodeIndex + (nodeOffset.get(l.name) ?? 0), j]), v));
          continue;
        }
        const name = unique(call.nodeIndex === 0 ? l.name : `${l.name}_${call.nodeIndex}`);
        const className = CLASS_ALIASES[l.class_name] ?? l.class_name;
        const blocked = values.find((v) => !v.sym);
        let rec: CallRecord;
        if (blocked) {
          rec = { name, className, layer: null, output: null, inputs: values.map((v) => v.call), blockedBy: blocked.blockedBy, reason: `depends on layer '${blocked.blockedBy}', which tfjs cannot build` };
          local.set(key([l.name, call.nodeIndex, 0]), { call: name, sym: null, blockedBy: blocked.blockedBy });
          calls.push(rec);
          continue;
        }
        let m = made.get(l.name);
        if (!m) {
          try {
            const spec = tfjsLayerSpec(l.class_name, l.config, norm, knownClass);
            const tsConfig = pythonicToTs(spec.config);
            tsConfig.name = tfjsName(String(spec.config.name ?? l.name));
            const entry = classMap[spec.className];
            if (!entry) throw new CannotBuild('');
            const [cls, fromConfig] = entry;
            const layer: TfLayer = fromConfig(cls, { ...tsConfig, customObjects: {} });
            m = { layer, className };
            weightSources.set(layer, weightGroup ? { group: weightGroup, scope: l.name, className, kerasName: l.name } : { group: l.name, className, kerasName: l.name });
          } catch (e) {
            const detail = e instanceof CannotBuild ? e.message : firstLine(e);
            m = { layer: null, className, reason: detail };
          }
          made.set(l.name, m);
        }
        let sym: SymbolicTensor | null = null;
        let reason = m.reason;
        if (m.layer) {
          try {
            const arg = values.length === 1 ? values[0].sym! : values.map((v) => v.sym!);
            const out = m.layer.apply(arg as any) as SymbolicTensor | SymbolicTensor[];
            sym = Array.isArray(out) ? out[0] : out;
            if (Array.isArray(out) && out.length > 1) norm.notes.add(`layer '${l.name}': only its first output is compared`);
          } catch (e) {
            reason = firstLine(e);
          }
        }
        if (!sym) {
          const message = `tfjs cannot build layer '${name}' (${className})${reason ? `: ${reason}` : ''}`;
          unbuilt.push({ layer: name, className, message });
          rec = { name, className, layer: null, output: null, inputs: values.map((v) => v.call), reason: message };
          local.set(key([l.name, call.nodeIndex, 0]), { call: name, sym: null, blockedBy: name });
        } else {
          rec = { name, className, layer: m.layer, output: sym, inputs: values.map((v) => v.call) };
          local.set(key([l.name, call.nodeIndex, 0]), { call: name, sym });
        }
        calls.push(rec);
      }
    }
    if (pending.length) badConfig(`layer '${pending[0].l.name}' depends on a cycle or a missing node`);
    return parts.outputLayers.map((r) => {
      const v = local.get(key(r));
      if (!v) badConfig(`output '${r[0]}' of model '${parts.name}' is not produced by any layer`);
      return v;
    });
  };

  const outs = expand(top, 'model', null, null, 0);
  const outputCalls = outs.map((v) => v.call);

  // Weights.
  options.onProgress?.('loading the Keras weights');
  const entriesCache = new Map<string, WeightEntry[]>();
  const groupEntries = (group: string): WeightEntry[] => {
    if (!entriesCache.has(group)) entriesCache.set(group, file.weightLayerNames.includes(group) ? file.weightEntries(group) : []);
    return entriesCache.get(group)!;
  };
  const failWeights = (layer: TfLayer, msg: string) => {
    const src = weightSources.get(layer)!;
    const blockedCalls = calls.filter((c) => c.layer === layer);
    for (const c of blockedCalls) {
      c.output = null;
      c.layer = null;
      c.reason = `tfjs cannot build layer '${c.name}' (${src.className}): ${msg}`;
      unbuilt.push({ layer: c.name, className: src.className, message: c.reason });
    }
  };
  const seen = new Set<TfLayer>();
  for (const c of calls) {
    const layer = c.layer;
    if (!layer || seen.has(layer)) continue;
    seen.add(layer);
    const tfWeights = layer.weights;
    if (tfWeights.length === 0) continue;
    const src = weightSources.get(layer)!;
    let entries = groupEntries(src.group);
    if (src.scope) entries = entries.filter((e) => e.name.split('/').slice(0, -1).includes(src.scope!));
    if (entries.length !== tfWeights.length) {
      failWeights(layer, `the file has ${entries.length} weight${entries.length === 1 ? '' : 's'} for it, tfjs expects ${tfWeights.length} (${tfWeights.map((w) => w.originalName.split('/').pop()).join(', ')})`);
      continue;
    }
    const shortOf = (n: string) => (n.split('/').pop() ?? n).replace(/:\d+$/, '');
    const byShort = new Map<string, WeightEntry[]>();
    for (const e of entries) byShort.set(e.shortName, [...(byShort.get(e.shortName) ?? []), e]);
    const values: TfCore.Tensor[] = [];
    let problem: string | null = null;
    tfWeights.forEach((w, i) => {
      if (problem) return;
      const short = shortOf(w.originalName);
      const cand = byShort.get(short);
      const e = cand && cand.length === 1 ? cand[0] : entries[i];
      const want = w.shape;
      if (e.shape.length !== want.length || e.shape.some((d, k) => d !== want[k])) {
        problem = `weight '${e.name}' has shape [${e.shape}], tfjs expects ${short} [${want}]`;
        return;
      }
      let t = file.readWeight(e);
      if (theano && (THEANO_FLIP[src.className] ?? []).includes(short)) t = flipSpatial(t);
      values.push(tf.tensor(t.data, t.shape, 'float32'));
    });
    if (problem) {
      tf.dispose(values);
      failWeights(layer, problem);
      continue;
    }
    layer.setWeights(values);
    tf.dispose(values);
  }
  // Calls downstream of a layer whose weights failed are blocked too: rebuild the blocked set.
  propagateBlocking(calls);

  const built = calls.filter((c) => c.className !== 'InputLayer' && c.output);
  let model: LayersModel | null = null;
  if (built.length && inputs.length) {
    model = tfl.model({ inputs: inputs.map((i) => i.sym), outputs: built.map((c) => c.output!), name: `k2c_reference_${Date.now().toString(36)}` });
  }
  const layers: ReferenceLayer[] = calls.map((c) => ({
    name: c.name,
    className: c.className,
    built: !!c.output,
    inputs: c.inputs,
    ...(c.output ? { shape: (c.output.shape as (number | null)[]).slice(1) } : {}),
    ...(c.reason ? { reason: c.reason } : {}),
  }));

  let disposed = false;
  return {
    model,
    inputs: inputs.map(({ name, shape }) => ({ name, shape })),
    layers,
    outputs: outputCalls,
    unbuilt,
    notes: [...norm.notes],
    predictAll(given: Tensor[]): Map<string, Tensor> {
      const result = new Map<string, Tensor>();
      if (disposed) throw new Error('predictAll: the Keras reference was disposed');
      if (!model) return result;
      if (given.length !== inputs.length) throw new UserError(`the model has ${inputs.length} input${inputs.length === 1 ? '' : 's'}, ${given.length} given`);
      const xs = given.map((t, i) => toTf(tf, t, inputs[i].shape, `input '${inputs[i].name}'`));
      try {
        const ys = model.predict(xs.length === 1 ? xs[0] : xs, { batchSize: 1 }) as TfCore.Tensor | TfCore.Tensor[];
        const list = Array.isArray(ys) ? ys : [ys];
        list.forEach((y, i) => {
          result.set(built[i].name, { shape: y.shape.slice(1) as number[], data: Float32Array.from(y.dataSync() as Float32Array) });
        });
        tf.dispose(list);
      } finally {
        tf.dispose(xs);
      }
      return result;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      model?.dispose();
      for (const c of calls)
        if (c.layer && !c.output)
          try {
            (c.layer as any).dispose?.();
          } catch {
            /* shared with a built call, already disposed with the model */
          }
    },
  };
}

/** Marks every call downstream of a call without output as blocked (after weight failures). */
function propagateBlocking(calls: CallRecord[]): void {
  const cause = new Map<string, string>();
  for (const c of calls) {
    if (c.className === 'InputLayer') continue;
    if (!c.output) {
      cause.set(c.name, c.blockedBy ?? c.name);
      continue;
    }
    const dead = c.inputs.find((i) => cause.has(i));
    if (dead !== undefined) {
      const root = cause.get(dead)!;
      c.output = null;
      c.blockedBy = root;
      c.reason = `depends on layer '${root}', which tfjs cannot build`;
      cause.set(c.name, root);
    }
  }
}

/** Flips every axis but the last two: conv_utils.convert_kernel. */
export function flipSpatial(t: Tensor): Tensor {
  const spatial = t.shape.slice(0, -2);
  const inner = t.shape.slice(-2).reduce((a, b) => a * b, 1);
  const n = elementCount(spatial);
  const out = new Float32Array(t.data.length);
  const idx = new Array(spatial.length).fill(0);
  for (let p = 0; p < n; p++) {
    // p ↔ idx (row-major); target = reversed index on every spatial axis
    let q = 0;
    for (let a = 0; a < spatial.length; a++) q = q * spatial[a] + (spatial[a] - 1 - idx[a]);
    out.set(t.data.subarray(p * inner, (p + 1) * inner), q * inner);
    for (let a = spatial.length - 1; a >= 0; a--) {
      if (++idx[a] < spatial[a]) break;
      idx[a] = 0;
    }
  }
  return { shape: [...t.shape], data: out };
}
