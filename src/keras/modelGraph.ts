/**
 * Normalises a Keras model_config (Keras 2 Model/Sequential, tf.keras Functional, Keras 3
 * Functional/Sequential) into one flat graph of layer calls, with nested models inlined.
 *
 * Config formats:
 * - Keras 2 / tf.keras inbound_nodes: `[[[layer, node, tensor, kwargs], ...], ...]` (one list per call).
 * - Keras 3 inbound_nodes: `[{args: [tensor | [tensor, ...]], kwargs}]` where a tensor is
 *   `{class_name: "__keras_tensor__", config: {shape, dtype, keras_history: [layer, node, tensor]}}`.
 * - input_layers/output_layers: `[[layer, node, tensor], ...]`, or a single `[layer, node, tensor]`.
 * - Sequential: `config` is a list of layers (Keras 2.0-2.2.0) or `{name, layers}`.
 */
import { ModelFileError, UnsupportedModelError, UserError } from '../core/errors.js';
import { MAX_BLOB_COUNT } from '../core/tensor.js';
import type { KerasConfigNode } from '../h5/kerasH5.js';

export type TensorId = string;

/** Where a layer's weights are stored in the file. */
export interface WeightSource {
  /** Group under /model_weights. */
  group: string;
  /** For layers inlined from a nested model: only the weight names inside this layer's scope. */
  scope?: string;
}

export interface KerasLayerCall {
  /** Unique name of this call (the Keras layer name; `name_N` for the N-th call of a shared layer). */
  name: string;
  /** The Keras layer name as in the config. */
  kerasName: string;
  className: string;
  config: Record<string, any>;
  inputs: TensorId[];
  outputs: TensorId[];
  weights: WeightSource;
  /** Enclosing nested models, outermost first (for display). */
  scope: string[];
}

export interface KerasGraph {
  name: string;
  layers: KerasLayerCall[];
  inputs: TensorId[];
  outputs: TensorId[];
  /** The layer call that produces each tensor. */
  producer: Map<TensorId, KerasLayerCall>;
  /** The layer calls that consume each tensor. */
  consumers: Map<TensorId, KerasLayerCall[]>;
  /** Saved by Keras 3, whose activations differ from Keras 2's in places (hard_sigmoid). */
  keras3: boolean;
}

/**
 * Whether a model config was saved by Keras 3: its keras_version attribute says 3.x, or the
 * config's JSON text holds Keras 3's serialized tensors (`__keras_tensor__`, in inbound_nodes).
 */
export function isKeras3(kerasVersion: string | null | undefined, configJson: string): boolean {
  return /^3\./.test(kerasVersion ?? '') || configJson.includes('"__keras_tensor__"');
}

const MODEL_CLASSES = new Set(['Model', 'Functional', 'Sequential']);
const MAX_NESTING = 64;

interface RawLayer {
  name: string;
  class_name: string;
  config: any;
  inbound_nodes?: any[];
}

type Ref = [string, number, number];

function isKerasTensor(v: any): boolean {
  return v && typeof v === 'object' && !Array.isArray(v) && v.class_name === '__keras_tensor__';
}

function bad(msg: string): never {
  throw new ModelFileError(`model_config: ${msg}; the file is corrupted or not a Keras model`);
}

/** The tensor references of one call in inbound_nodes, in argument order. */
function callRefs(node: any, layerName: string): Ref[] {
  if (Array.isArray(node)) {
    // Keras 2: [[layer, node, tensor, kwargs], ...]
    return node.map((r: any) => {
      if (!Array.isArray(r) || typeof r[0] !== 'string') bad(`layer '${layerName}' has a malformed inbound node`);
      return [r[0], Number(r[1] ?? 0), Number(r[2] ?? 0)] as Ref;
    });
  }
  if (node && typeof node === 'object' && Array.isArray(node.args)) {
    const refs: Ref[] = [];
    const visit = (v: any) => {
      if (isKerasTensor(v)) {
        const h = v.config?.keras_history;
        if (!Array.isArray(h)) bad(`layer '${layerName}' has a tensor without keras_history`);
        refs.push([String(h[0]), Number(h[1] ?? 0), Number(h[2] ?? 0)]);
      } else if (Array.isArray(v)) v.forEach(visit);
    };
    node.args.forEach(visit);
    return refs;
  }
  bad(`layer '${layerName}' has a malformed inbound node`);
}

/** An input layer's shape, when given, is a list of sizes (integers, or null/-1 for unknown). */
function checkInputShape(l: RawLayer): void {
  const c = l.config ?? {};
  const shape = c.batch_input_shape ?? c.batch_shape ?? (c.input_shape !== undefined ? [null, ...(Array.isArray(c.input_shape) ? c.input_shape : [c.input_shape])] : undefined);
  if (shape === undefined) return;
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 8 || !shape.every((d) => d === null || (Number.isSafeInteger(d) && d >= -1)))
    bad(`input layer '${l.name}' has a malformed shape ${JSON.stringify(shape).slice(0, 80)}`);
  if (shape.slice(1).reduce((a: number, d: number | null) => a * (d !== null && d > 0 ? d : 1), 1) > MAX_BLOB_COUNT)
    bad(`input layer '${l.name}' has shape ${JSON.stringify(shape)}, more values than a Caffe blob holds`);
}

function refList(v: any, what: string): Ref[] {
  if (!Array.isArray(v)) bad(`${what} is missing`);
  if (v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'number') return [[v[0], v[1], v[2]]];
  return v.map((r: any) => {
    if (!Array.isArray(r) || typeof r[0] !== 'string') bad(`${what} is malformed`);
    return [r[0], Number(r[1] ?? 0), Number(r[2] ?? 0)] as Ref;
  });
}

/** Turns a Sequential config into the functional form: an InputLayer then a chain. */
function sequentialAsFunctional(cfg: any, fallbackName: string): { name: string; layers: RawLayer[]; input_layers: Ref[]; output_layers: Ref[] } {
  const list: any[] = Array.isArray(cfg) ? cfg : cfg?.layers;
  if (!Array.isArray(list) || list.length === 0) bad('a Sequential model has no layers');
  const name: string = (!Array.isArray(cfg) && typeof cfg?.name === 'string' && cfg.name) || fallbackName;
  const layers: RawLayer[] = [];
  for (const l of list) if (!l || typeof l !== 'object' || typeof l.class_name !== 'string') bad(`a layer of Sequential model '${name}' has no class_name`);
  const first = list[0];
  let prev: string;
  if (first.class_name === 'InputLayer') {
    layers.push({ ...first, name: first.config?.name ?? first.name, inbound_nodes: [] });
    prev = layers[0].name;
  } else {
    const shape = first.config?.batch_input_shape ?? first.config?.batch_shape ??
      (cfg?.build_input_shape ?? null);
    if (!shape) bad(`Sequential model '${name}' has no input shape`);
    prev = `${name}_input`;
    layers.push({ name: prev, class_name: 'InputLayer', config: { batch_input_shape: shape, name: prev }, inbound_nodes: [] });
  }
  const rest = first.class_name === 'InputLayer' ? list.slice(1) : list;
  for (const l of rest) {
    const lname = l.config?.name ?? l.name;
    if (typeof lname !== 'string') bad('a Sequential layer has no name');
    layers.push({ name: lname, class_name: l.class_name, config: l.config ?? {}, inbound_nodes: [[[prev, 0, 0, {}]]] });
    prev = lname;
  }
  return { name, layers, input_layers: [[layers[0].name, 0, 0]], output_layers: [[prev, 0, 0]] };
}

function functionalParts(node: KerasConfigNode | RawLayer, fallbackName: string) {
  if (node.class_name === 'Sequential') return sequentialAsFunctional(node.config, fallbackName);
  const cfg = node.config;
  if (!cfg || !Array.isArray(cfg.layers)) bad(`model '${fallbackName}' has no layer list`);
  const layers: RawLayer[] = cfg.layers.map((l: any) => {
    const name = l.name ?? l.config?.name;
    if (typeof name !== 'string') bad('a layer has no name');
    if (typeof l.class_name !== 'string') bad(`layer '${name}' has no class_name`);
    return { name, class_name: l.class_name, config: l.config ?? {}, inbound_nodes: l.inbound_nodes ?? [] };
  });
  return {
    name: typeof cfg.name === 'string' ? cfg.name : fallbackName,
    layers,
    input_layers: refList(cfg.input_layers, `model '${fallbackName}' input_layers`),
    output_layers: refList(cfg.output_layers, `model '${fallbackName}' output_layers`),
  };
}

export interface BuildOptions {
  kerasVersion?: string | null;
}

/**
 * JSON nesting deeper than this is refused up front: real configs stay far below it (a model
 * nested MAX_NESTING deep is ~400 levels), and recursive code (JSON.stringify, the mappings)
 * would overflow the stack on much deeper ones.
 */
export const MAX_CONFIG_DEPTH = 2000;

/** Nesting depth of a parsed JSON value, without recursion (stops counting past `limit`). */
function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (x && typeof x === 'object') stack.push([x, d + 1]);
  }
  return max;
}

/**
 * The flat graph of a model_config. Every way the config can be malformed is a ModelFileError
 * or UnsupportedModelError (exit 2), including structures this code does not expect.
 */
export function buildKerasGraph(modelConfig: KerasConfigNode, opts: BuildOptions = {}): KerasGraph {
  if (jsonDepth(modelConfig, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH)
    throw new ModelFileError(`model_config is nested more than ${MAX_CONFIG_DEPTH} levels deep; the file is corrupted or not a Keras model`);
  try {
    return buildGraph(modelConfig, opts);
  } catch (err) {
    if (err instanceof UserError) throw err;
    // A TypeError on a missing field, or a RangeError: the config is not shaped like Keras's.
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ModelFileError(`model_config has an unexpected structure (${msg}); the file is corrupted or not a Keras model`);
  }
}

function buildGraph(modelConfig: KerasConfigNode, opts: BuildOptions): KerasGraph {
  const version = opts.kerasVersion ?? '';
  const configJson = JSON.stringify(modelConfig);
  if (/^1\./.test(version) || /"(nb_filter|border_mode|nb_row|output_dim)"/.test(configJson))
    throw new UnsupportedModelError('this is a Keras 1 model, which is not supported yet; load it in Keras 2 and save it again with model.save("model.h5")');
  if (!MODEL_CLASSES.has(modelConfig.class_name))
    throw new UnsupportedModelError(`the top-level model class '${modelConfig.class_name}' is not a Keras Model or Sequential; save a Functional or Sequential model`);

  const layers: KerasLayerCall[] = [];
  const usedNames = new Set<string>();
  const uniqueName = (base: string): string => {
    let name = base;
    for (let i = 1; usedNames.has(name); i++) name = `${base}_${i}`;
    usedNames.add(name);
    return name;
  };

  /**
   * Expands one (possibly nested) model. `bound` gives the tensors that feed its inputs
   * (null for the top level). Returns its output tensors.
   */
  const expand = (node: KerasConfigNode | RawLayer, fallbackName: string, bound: TensorId[] | null, weightGroup: string | null, scope: string[], depth: number): { inputs: TensorId[]; outputs: TensorId[] } => {
    if (depth > MAX_NESTING) throw new UnsupportedModelError(`models are nested more than ${MAX_NESTING} deep, which this tool does not read; flatten the model in Keras and save it again`);
    const parts = functionalParts(node, fallbackName);
    const byName = new Map<string, RawLayer>();
    for (const l of parts.layers) {
      if (byName.has(l.name)) bad(`layer name '${l.name}' appears twice in model '${parts.name}'`);
      byName.set(l.name, l);
    }
    /** tensor (layer, node, index) within this model → graph tensor id */
    const local = new Map<string, TensorId>();
    const key = (r: Ref) => `${r[0]}:${r[1]}:${r[2]}`;

    const inputs: TensorId[] = [];
    parts.input_layers.forEach((r, i) => {
      const l = byName.get(r[0]);
      if (!l) bad(`input layer '${r[0]}' is not among the layers of model '${parts.name}'`);
      if (bound) {
        if (bound[i] === undefined) bad(`nested model '${parts.name}' is called with too few inputs`);
        local.set(key([r[0], 0, 0]), bound[i]);
        inputs.push(bound[i]);
      } else {
        checkInputShape(l);
        const name = uniqueName(l.name);
        const t = `${name}:0`;
        layers.push({ name, kerasName: l.name, className: 'InputLayer', config: l.config, inputs: [], outputs: [t], weights: { group: l.name }, scope });
        local.set(key([r[0], 0, 0]), t);
        inputs.push(t);
      }
    });

    // Resolve layer calls in dependency order (configs list layers topologically, but be safe).
    const pending: { layer: RawLayer; nodeIndex: number; refs: Ref[] }[] = [];
    for (const l of parts.layers) {
      if (l.class_name === 'InputLayer') continue;
      const nodes = l.inbound_nodes ?? [];
      nodes.forEach((n: any, nodeIndex: number) => pending.push({ layer: l, nodeIndex, refs: callRefs(n, l.name) }));
    }
    // Keras 2 and tf.keras number a nested model's calls from 1: node 0 is the model's own
    // internal node (keras/engine/network.py get_config: "Networks start with a pre-existing
    // node linking their input to output"). Keras 3 numbers them from 0. Tell by the references.
    const nodeOffset = new Map<string, number>();
    const allRefs = [...pending.flatMap((p) => p.refs), ...parts.output_layers];
    for (const l of parts.layers) {
      if (!MODEL_CLASSES.has(l.class_name)) continue;
      const used = allRefs.filter((r) => r[0] === l.name).map((r) => r[1]);
      const calls = (l.inbound_nodes ?? []).length;
      nodeOffset.set(l.name, used.length > 0 && used.every((n) => n >= 1 && n <= calls) ? 1 : 0);
    }
    const refKey = (r: Ref) => key([r[0], r[1] - (nodeOffset.get(r[0]) ?? 0), r[2]]);
    let progress = true;
    while (pending.length && progress) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const call = pending[i];
        const ins = call.refs.map((r) => local.get(refKey(r)));
        if (ins.some((t) => t === undefined)) continue;
        for (const r of call.refs)
          if (!byName.has(r[0])) bad(`layer '${call.layer.name}' takes input from unknown layer '${r[0]}'`);
        pending.splice(i--, 1);
        progress = true;
        const l = call.layer;
        const group = weightGroup ?? l.name;
        const inputsOfCall = ins as TensorId[];
        if (MODEL_CLASSES.has(l.class_name)) {
          const inner = expand(l, l.name, inputsOfCall, group, [...scope, l.name], depth + 1);
          inner.outputs.forEach((t, j) => local.set(key([l.name, call.nodeIndex, j]), t));
          continue;
        }
        const name = uniqueName(call.nodeIndex === 0 ? l.name : `${l.name}_${call.nodeIndex}`);
        const nOut = 1;
        const outputs = Array.from({ length: nOut }, (_, j) => `${name}:${j}`);
        outputs.forEach((t, j) => local.set(key([l.name, call.nodeIndex, j]), t));
        layers.push({
          name,
          kerasName: l.name,
          className: l.class_name,
          config: l.config ?? {},
          inputs: inputsOfCall,
          outputs,
          weights: weightGroup ? { group: weightGroup, scope: l.name } : { group: l.name },
          scope,
        });
      }
    }
    if (pending.length) {
      const call = pending[0];
      const missing = call.refs.find((r) => !local.has(refKey(r)))!;
      if (!byName.has(missing[0])) bad(`layer '${call.layer.name}' takes input from unknown layer '${missing[0]}'`);
      bad(`layer '${call.layer.name}' depends on a cycle or a missing node of '${missing[0]}'`);
    }
    const outputs = parts.output_layers.map((r) => {
      const t = local.get(refKey(r));
      if (!t) bad(`output '${r[0]}' of model '${parts.name}' is not produced by any layer`);
      return t;
    });
    return { inputs, outputs };
  };

  const top = expand(modelConfig, 'model', null, null, [], 0);
  const producer = new Map<TensorId, KerasLayerCall>();
  const consumers = new Map<TensorId, KerasLayerCall[]>();
  for (const l of layers) {
    for (const t of l.outputs) producer.set(t, l);
    for (const t of l.inputs) {
      const list = consumers.get(t) ?? [];
      list.push(l);
      consumers.set(t, list);
    }
  }
  const name = (modelConfig.config && !Array.isArray(modelConfig.config) && typeof modelConfig.config.name === 'string' && modelConfig.config.name) || 'model';
  return { name, layers, inputs: top.inputs, outputs: top.outputs, producer, consumers, keras3: isKeras3(version, configJson) };
}
