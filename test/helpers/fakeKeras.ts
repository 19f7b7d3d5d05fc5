/**
 * An in-memory KerasH5 (src/h5/kerasH5.ts) for mapping tests, and small builders of Keras 2
 * functional model_config JSON, so a test can plan a model without an .h5 file.
 *
 *   const graph = buildKerasGraph(functionalModel([
 *     input('x', [4, 4, 3]),
 *     layer('a', 'ReLU', { max_value: 6 }, ['x']),
 *   ]));
 *   const plan = planConversion(graph, fakeKerasH5({ a: { alpha: tensor([3], ...) } }), { target: 'caffe-1.0' });
 */
import type { KerasConfigNode, KerasH5, WeightEntry } from '../../src/h5/kerasH5.js';
import { elementCount, type Tensor } from '../../src/core/tensor.js';

/** Weights by Keras layer (group) name, then by short name (`kernel`, `bias`, `alpha`, ...), in order. */
export type FakeWeights = Record<string, Record<string, Tensor>>;

export function fakeKerasH5(weights: FakeWeights = {}, opts: { backend?: string; kerasVersion?: string; modelConfig?: KerasConfigNode } = {}): KerasH5 {
  const entries = new Map<string, WeightEntry[]>();
  const data = new Map<string, Tensor>();
  for (const [group, ws] of Object.entries(weights)) {
    const list: WeightEntry[] = [];
    for (const [short, t] of Object.entries(ws)) {
      if (t.data.length !== elementCount(t.shape)) throw new Error(`fake weight ${group}/${short}: shape [${t.shape}] vs ${t.data.length} values`);
      const name = `${group}/${short}:0`;
      const path = `/model_weights/${group}/${name}`;
      list.push({ name, shortName: short, path, shape: [...t.shape] });
      data.set(path, t);
    }
    entries.set(group, list);
  }
  return {
    path: '(in memory)',
    kerasVersion: opts.kerasVersion ?? '2.3.1',
    backend: opts.backend ?? 'tensorflow',
    modelConfig: opts.modelConfig ?? { class_name: 'Model', config: { name: 'fake', layers: [], input_layers: [], output_layers: [] } },
    weightLayerNames: [...entries.keys()],
    weightEntries: (group) => entries.get(group) ?? [],
    readWeight(entry) {
      const t = data.get(entry.path);
      if (!t) throw new Error(`fake h5: no dataset ${entry.path}`);
      return { shape: [...t.shape], data: new Float32Array(t.data) };
    },
    weightBytes: () => [...data.values()].reduce((n, t) => n + t.data.byteLength, 0),
    close() {},
  };
}

export interface LayerSpec {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** Names of the layers whose (first) output feeds this one, in argument order. */
  inbound: string[];
}

export function input(name: string, shape: number[]): LayerSpec {
  return { name, class_name: 'InputLayer', config: { name, batch_input_shape: [null, ...shape], dtype: 'float32' }, inbound: [] };
}

export function layer(name: string, className: string, config: Record<string, unknown>, inbound: string[]): LayerSpec {
  return { name, class_name: className, config: { name, trainable: true, dtype: 'float32', ...config }, inbound };
}

/** A Keras 2 functional `model_config` ({class_name: 'Model', config}). Outputs default to the last layer. */
export function functionalModel(layers: LayerSpec[], outputs?: string[], name = 'test_model'): KerasConfigNode {
  const inputs = layers.filter((l) => l.class_name === 'InputLayer').map((l) => [l.name, 0, 0]);
  const outs = (outputs ?? [layers[layers.length - 1].name]).map((n) => [n, 0, 0]);
  return {
    class_name: 'Model',
    config: {
      name,
      layers: layers.map((l) => ({
        name: l.name,
        class_name: l.class_name,
        config: l.config,
        inbound_nodes: l.inbound.length ? [l.inbound.map((src) => [src, 0, 0, {}])] : [],
      })),
      input_layers: inputs,
      output_layers: outs,
    },
  };
}

/** Deterministic values in [-scale, scale) (an LCG; the same seed gives the same numbers). */
export function seededValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 2 * scale;
  }
  return out;
}
