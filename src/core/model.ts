/** Loading a Keras model file into a graph, and the facts shown about it. */
import { openKerasH5, type KerasH5 } from '../h5/kerasH5.js';
import { buildKerasGraph, type KerasGraph } from '../keras/modelGraph.js';
import { elementCount } from './tensor.js';

export interface ModelSummary {
  path: string;
  kerasVersion: string | null;
  backend: string | null;
  /** keras2 (Keras 2.x), tf.keras, keras3. */
  format: 'keras2' | 'tf.keras' | 'keras3';
  layerCount: number;
  parameterCount: number;
  weightBytes: number;
  inputs: { name: string; shape: (number | null)[] }[];
  outputs: string[];
}

export interface LoadedModel {
  file: KerasH5;
  graph: KerasGraph;
  summary: ModelSummary;
}

export function kerasFormat(version: string | null, backend: string | null): ModelSummary['format'] {
  if (version && /^3\./.test(version)) return 'keras3';
  if (version && /tf/.test(version)) return 'tf.keras';
  if (version && /^2\.(\d+)/.test(version) && Number(version.split('.')[1]) >= 4) return 'tf.keras';
  void backend;
  return 'keras2';
}

export async function loadModel(path: string): Promise<LoadedModel> {
  const file = await openKerasH5(path);
  try {
    const graph = buildKerasGraph(file.modelConfig, { kerasVersion: file.kerasVersion });
    let parameterCount = 0;
    for (const layer of file.weightLayerNames) for (const e of file.weightEntries(layer)) parameterCount += elementCount(e.shape);
    const inputs = graph.layers
      .filter((l) => l.className === 'InputLayer')
      .map((l) => {
        const s = l.config.batch_input_shape ?? l.config.batch_shape ?? [];
        return { name: l.name, shape: (s as (number | null)[]).slice(1) };
      });
    const summary: ModelSummary = {
      path,
      kerasVersion: file.kerasVersion,
      backend: file.backend,
      format: kerasFormat(file.kerasVersion, file.backend),
      layerCount: graph.layers.length,
      parameterCount,
      weightBytes: parameterCount * 4,
      inputs,
      outputs: graph.outputs.map((t) => graph.producer.get(t)!.name),
    };
    return { file, graph, summary };
  } catch (err) {
    file.close();
    throw err;
  }
}
