/**
 * The planner: gives every Keras layer call a Caffe mapping (exact, needs-a-decision, or
 * unsupported), infers NHWC shapes, and assembles the Caffe net. Per-layer problems are plan
 * data; only unreadable input throws.
 */
import type { CaffeLayer, CaffeNet } from '../caffe/net.js';
import { UserError } from './errors.js';
import { elementCount, MAX_BLOB_COUNT } from './tensor.js';
import { TARGETS, DEFAULT_TARGET, type TargetName, type TargetProfile } from './targets.js';
import type { KerasH5, WeightEntry } from '../h5/kerasH5.js';
import type { KerasGraph, KerasLayerCall, TensorId } from '../keras/modelGraph.js';
import type { BlobRef, DecisionSpec, Explanation, LayerMapping, LayerWeights, MappingContext, Shape } from '../mappings/types.js';
import { defaultRegistry } from '../mappings/index.js';
import { unmappedClassMapping } from '../mappings/lambda.js';
import type { MappingRegistry } from '../mappings/registry.js';
import { ShapeError, caffeInputDims } from '../mappings/common.js';

export type LayerStatus = 'exact' | 'decision' | 'inexact' | 'unsupported' | 'dropped' | 'cut';

export interface LayerDecision {
  /** `<layer>:<decision id>`, the key used in plan files and --decide. */
  key: string;
  spec: DecisionSpec;
  chosen: string;
}

export interface LayerPlan {
  layer: KerasLayerCall;
  inputShapes: Shape[];
  outputShapes: Shape[];
  status: LayerStatus;
  caffeLayers: CaffeLayer[];
  outputs: BlobRef[];
  explanation?: Explanation;
  decisions: LayerDecision[];
  /** Why it is unsupported/cut, or the error an inexact choice introduces. */
  reason?: string;
}

export interface NetPort {
  /** Keras layer name. */
  name: string;
  tensor: TensorId;
  blob: string;
  kerasShape: Shape;
  caffeShape: number[];
  layout: BlobRef['layout'];
}

export interface Plan {
  modelName: string;
  target: TargetProfile;
  layers: LayerPlan[];
  inputs: NetPort[];
  outputs: NetPort[];
  /** Keras tensor → its Caffe blob, for per-layer verification. */
  tensorBlobs: Map<TensorId, BlobRef>;
  /** Decisions the user made, by key. */
  decisions: Record<string, string>;
  /** Model-level problems (e.g. unknown input dims), each one line. */
  problems: string[];
  /** True when every layer maps (exactly, or inexactly by choice) and the net can be written. */
  convertible: boolean;
}

export interface PlanOptions {
  target?: TargetName;
  decisions?: Record<string, string>;
  /** Concrete [H, W] for image inputs whose Keras shape has unknown (None) dimensions. */
  inputShape?: [number, number];
  registry?: MappingRegistry;
  /** A person is choosing (the wizard): unanswered decisions take their `proposed` option. */
  interactive?: boolean;
}

function inputShapeOf(layer: KerasLayerCall): (number | null)[] {
  const c = layer.config;
  const shape = c.batch_input_shape ?? c.batch_shape ?? (c.input_shape ? [null, ...c.input_shape] : null);
  if (!Array.isArray(shape)) throw new UserError('input layer has no shape in the model config; the file is corrupted', layer.name);
  return shape.slice(1).map((d: unknown) => (d === null || d === undefined || d === -1 ? null : Number(d)));
}

function layerWeightEntries(file: KerasH5 | null, layer: KerasLayerCall): WeightEntry[] {
  if (!file) return [];
  const all = file.weightEntries(layer.weights.group);
  const scope = layer.weights.scope;
  if (!scope) return all;
  return all.filter((e) => e.name.split('/').slice(0, -1).includes(scope));
}

function weightAccess(file: KerasH5 | null, layer: KerasLayerCall): { shapes: Map<string, number[]>; read: () => LayerWeights } {
  const entries = layerWeightEntries(file, layer);
  const shapes = new Map<string, number[]>();
  for (const e of entries) shapes.set(e.shortName, e.shape);
  const read = (): LayerWeights => {
    const cache = new Map<string, ReturnType<KerasH5['readWeight']>>();
    const get = (n: string) => {
      if (cache.has(n)) return cache.get(n);
      const e = entries.find((x) => x.shortName === n);
      if (!e || !file) return undefined;
      const t = file.readWeight(e);
      cache.set(n, t);
      return t;
    };
    return {
      shapes,
      get,
      require(n) {
        const t = get(n);
        if (!t) throw new UserError(`weight '${n}' is missing from the file; re-save the model`, layer.name);
        return t;
      },
    };
  };
  return { shapes, read };
}

/**
 * The plan row's reason for an exception from a mapping: ShapeError is the mappings' way to
 * refuse impossible inputs; any other Error (a TypeError on a config value of the wrong type, a
 * RangeError from an absurd size) also means the layer's config is not one the mapping can
 * read, and stays a per-layer problem. Errors about the input file itself (UserError) are not
 * per-layer: null, rethrown.
 */
function mappingFailure(err: unknown): string | null {
  if (err instanceof ShapeError) return err.message;
  if (err instanceof UserError) return null;
  const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  return `its config cannot be mapped (${msg}); the file is damaged or the config holds values this mapping does not handle`;
}

export function planConversion(graph: KerasGraph, file: KerasH5 | null, options: PlanOptions = {}): Plan {
  const registry = options.registry ?? defaultRegistry;
  const target = TARGETS[options.target ?? DEFAULT_TARGET];
  const userDecisions = options.decisions ?? {};
  const backend = (file?.backend ?? 'tensorflow').toLowerCase();
  const tensorBlobs = new Map<TensorId, BlobRef>();
  const usedNames = new Set<string>();
  const problems: string[] = [];
  const layers: LayerPlan[] = [];
  const inputs: NetPort[] = [];
  /** Tensors that cannot be computed (after an unsupported or cut layer). */
  const blocked = new Map<TensorId, string>();
  const cutTensors = new Set<TensorId>();

  const claim = (name: string): string => {
    let n = name;
    for (let i = 1; usedNames.has(n); i++) n = `${name}_${i}`;
    usedNames.add(n);
    return n;
  };

  for (const layer of graph.layers) {
    const decisions: LayerDecision[] = [];
    const plan: LayerPlan = { layer, inputShapes: [], outputShapes: [], status: 'exact', caffeLayers: [], outputs: [], decisions };
    layers.push(plan);

    if (layer.className === 'InputLayer') {
      const raw = inputShapeOf(layer);
      let shape: Shape;
      if (raw.some((d) => d === null)) {
        if (raw.length === 3 && raw[2] !== null && options.inputShape) shape = [options.inputShape[0], options.inputShape[1], raw[2] as number];
        else if (raw.length === 3 && raw[2] !== null) {
          problems.push(`input '${layer.name}' has unknown dimensions [${raw.map((d) => d ?? 'None').join(', ')}]; give them with --input-shape H,W`);
          shape = [raw[0] ?? 0, raw[1] ?? 0, raw[2] as number];
        } else {
          problems.push(`input '${layer.name}' has unknown dimensions [${raw.map((d) => d ?? 'None').join(', ')}] that --input-shape cannot fill`);
          shape = raw.map((d) => d ?? 0);
        }
      } else shape = raw as number[];
      const blob = claim(layer.name);
      const ref: BlobRef = { blob, shape, layout: { kind: 'nchw' } };
      tensorBlobs.set(layer.outputs[0], ref);
      plan.outputShapes = [shape];
      plan.outputs = [ref];
      plan.caffeLayers = [{ name: blob, type: 'Input', bottom: [], top: [blob], params: { input_param: { shape: [{ dim: caffeInputDims(shape) }] } } }];
      plan.explanation = {
        summary: `Keras input ${JSON.stringify(shape)} (NHWC, batch first) becomes a Caffe Input blob ${JSON.stringify(caffeInputDims(shape))} (NCHW).`,
        params: [['batch_input_shape', 'input_param.shape.dim']],
        weights: [],
        notes: ['Caffe blobs are N×C×H×W; Keras tensors are N×H×W×C. The batch is fixed to 1 in the deploy net.'],
      };
      inputs.push({ name: layer.name, tensor: layer.outputs[0], blob, kerasShape: shape, caffeShape: caffeInputDims(shape), layout: { kind: 'nchw' } });
      continue;
    }

    const blockedBy = layer.inputs.map((t) => blocked.get(t)).find((b) => b !== undefined);
    if (blockedBy !== undefined || layer.inputs.some((t) => cutTensors.has(t))) {
      const reason = layer.inputs.some((t) => cutTensors.has(t)) ? 'the net is cut before this layer' : `depends on unsupported layer '${blockedBy}'`;
      plan.status = layer.inputs.some((t) => cutTensors.has(t)) ? 'cut' : 'unsupported';
      plan.reason = reason;
      for (const t of layer.outputs) (plan.status === 'cut' ? cutTensors.add(t) : blocked.set(t, blockedBy ?? layer.name));
      continue;
    }

    const inRefs = layer.inputs.map((t) => tensorBlobs.get(t)!);
    plan.inputShapes = inRefs.map((r) => r.shape);
    // A class with no mapping gets the Lambda handler decision (stop by default; lambda.ts).
    const mapping: LayerMapping = registry.get(layer.className) ?? unmappedClassMapping;
    const refuse = (reason: string) => {
      plan.status = 'unsupported';
      plan.reason = reason;
      for (const t of layer.outputs) blocked.set(t, layer.name);
    };
    if (layer.config?.data_format === 'channels_first') {
      refuse('channels_first layers are not supported yet; rebuild the model with data_format="channels_last"');
      continue;
    }
    try {
      plan.outputShapes = mapping.inferShapes(layer.config, plan.inputShapes, layer);
      if (!plan.outputShapes.every((sh) => Array.isArray(sh) && sh.every((d) => Number.isSafeInteger(d) && d >= 0)))
        throw new ShapeError(`the config gives an invalid output shape ${JSON.stringify(plan.outputShapes).slice(0, 80)}`);
      const huge = plan.outputShapes.find((sh) => elementCount(sh) > MAX_BLOB_COUNT);
      if (huge) throw new ShapeError(`the output shape (${huge.join(',')}) has more values than a Caffe blob holds (${MAX_BLOB_COUNT}); the config is damaged`);
    } catch (err) {
      const reason = mappingFailure(err);
      if (reason === null) throw err;
      refuse(reason);
      continue;
    }
    const weights = weightAccess(file, layer);
    const ctx: MappingContext = {
      layer,
      config: layer.config,
      inputs: inRefs,
      outputShapes: plan.outputShapes,
      target,
      backend,
      keras3: graph.keras3,
      weightShapes: weights.shapes,
      weights: weights.read,
      decide(spec) {
        const key = `${layer.name}:${spec.id}`;
        const wanted = userDecisions[key];
        const fallback = options.interactive && spec.proposed ? spec.proposed : spec.default;
        const chosen = wanted !== undefined && spec.options.some((o) => o.id === wanted) ? wanted : fallback;
        decisions.push({ key, spec, chosen });
        return chosen;
      },
      consumers: (index = 0) => graph.consumers.get(layer.outputs[index]) ?? [],
      name: (suffix) => claim(suffix ? `${layer.name}/${suffix}` : layer.name),
    };
    let result;
    try {
      result = mapping.map(ctx);
    } catch (err) {
      const reason = mappingFailure(err);
      if (reason === null) throw err;
      refuse(reason);
      continue;
    }
    if (result.kind === 'unsupported') {
      refuse(result.reason);
      continue;
    }
    if (result.kind === 'cut') {
      plan.status = 'cut';
      plan.reason = result.reason;
      for (const t of layer.outputs) cutTensors.add(t);
      continue;
    }
    const illegal = result.layers.find((l) => !target.has(l.type));
    if (illegal) {
      refuse(`would need Caffe layer '${illegal.type}', which target '${target.name}' cannot load`);
      continue;
    }
    plan.caffeLayers = result.layers;
    plan.outputs = result.outputs;
    plan.explanation = result.explanation;
    result.outputs.forEach((ref, i) => tensorBlobs.set(layer.outputs[i], ref));
    if (result.inexact) {
      plan.status = 'inexact';
      plan.reason = result.inexact;
    } else if (decisions.length) plan.status = 'decision';
    else if (result.layers.length === 0) plan.status = 'dropped';
    else plan.status = 'exact';
  }

  // Outputs: the Keras model outputs, or for a cut net the tensors feeding the cut.
  const outputs: NetPort[] = [];
  const outputTensors: TensorId[] = [];
  const anyCut = layers.some((l) => l.status === 'cut');
  if (anyCut) {
    const seen = new Set<TensorId>();
    for (const l of layers)
      if (l.status === 'cut')
        for (const t of l.layer.inputs)
          if (!cutTensors.has(t) && !seen.has(t)) {
            seen.add(t);
            outputTensors.push(t);
          }
    for (const t of graph.outputs) if (!cutTensors.has(t) && !seen.has(t)) outputTensors.push(t);
  } else outputTensors.push(...graph.outputs);
  for (const t of outputTensors) {
    const ref = tensorBlobs.get(t);
    const producer = graph.producer.get(t)!;
    if (!ref) continue;
    if (ref.pendingPad) problems.push(`output '${producer.name}' ends in a ZeroPadding2D that was folded away; choose another handling for it`);
    outputs.push({ name: producer.name, tensor: t, blob: ref.blob, kerasShape: ref.shape, caffeShape: caffeInputDims(ref.shape), layout: ref.layout });
    if (ref.layout.kind !== 'nchw')
      problems.push(`output '${producer.name}' is a Flatten whose element order differs between Keras (HWC) and Caffe (CHW); add a Dense after it or use --target opencv (Permute)`);
  }

  const decided: Record<string, string> = {};
  for (const l of layers) for (const d of l.decisions) decided[d.key] = d.chosen;
  const convertible = problems.length === 0 && layers.every((l) => l.status !== 'unsupported') && outputs.length > 0;
  return { modelName: graph.name, target, layers, inputs, outputs, tensorBlobs, decisions: decided, problems, convertible };
}

/** The Caffe net of a convertible plan, in layer order. */
export function buildNet(plan: Plan): CaffeNet {
  if (!plan.convertible) throw new UserError('the plan has unsupported layers; nothing can be written');
  const layers: CaffeLayer[] = [];
  for (const l of plan.layers) if (l.status !== 'cut' && l.status !== 'unsupported') layers.push(...l.caffeLayers);
  const outputs = new Set(plan.outputs.map((o) => o.blob));
  const kept = pruneUnused(layers, outputs);
  return { name: plan.modelName, layers: silenceUnused(kept, outputs) };
}

/**
 * Caffe reports every blob that no layer consumes as a net output. Tops that are dropped on
 * purpose (the cut-off part of a Slice) are consumed by one Silence layer at the end.
 */
function silenceUnused(layers: CaffeLayer[], outputs: Set<string>): CaffeLayer[] {
  const consumed = new Set(layers.flatMap((l) => l.bottom));
  const unused = layers.flatMap((l) => l.top).filter((t) => !consumed.has(t) && !outputs.has(t));
  if (unused.length === 0) return layers;
  let name = 'silence_unused';
  const names = new Set(layers.map((l) => l.name));
  for (let i = 1; names.has(name); i++) name = `silence_unused_${i}`;
  return [...layers, { name, type: 'Silence', bottom: [...new Set(unused)], top: [] }];
}

/** Drops layers whose tops feed nothing that reaches an output (e.g. branches after a cut). */
function pruneUnused(layers: CaffeLayer[], outputs: Set<string>): CaffeLayer[] {
  const needed = new Set(outputs);
  const keep: boolean[] = new Array(layers.length).fill(false);
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i];
    if (l.type === 'Input' || l.top.some((t) => needed.has(t))) {
      keep[i] = true;
      for (const b of l.bottom) needed.add(b);
    }
  }
  // A Silence layer (no tops) stays when everything it consumes is computed.
  const produced = new Set<string>();
  layers.forEach((l, i) => {
    if (keep[i]) for (const t of l.top) produced.add(t);
  });
  layers.forEach((l, i) => {
    if (l.type === 'Silence' && l.bottom.every((b) => produced.has(b))) keep[i] = true;
  });
  return layers.filter((_, i) => keep[i]);
}
