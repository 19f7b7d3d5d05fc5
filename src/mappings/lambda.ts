/**
 * Lambda, TFOpLambda, SlicingOpLambda and layer classes with no mapping: never passed through
 * silently. A `handler` decision says what to do:
 * - stop (default): the layer is unsupported and nothing is written;
 * - identity: pass the input through (only for one input whose shape the output keeps); inexact;
 * - python: a Caffe `Python` layer stub (module keras2caffe_stub) that must be implemented at
 *   deploy time; only on targets that load Python layers; inexact;
 * - cut: the Caffe net ends before this layer; its inputs become the net's outputs.
 */
import type { KerasLayerCall } from '../keras/modelGraph.js';
import { mapped, refused } from './common.js';
import type { DecisionOption, LayerMapping, MappingContext, MappingResult, Shape } from './types.js';

export const LAMBDA_CLASSES = ['Lambda', 'TFOpLambda', 'SlicingOpLambda'];

/** The output shape stored in a Lambda config (Keras 2 `output_shape` + `output_shape_type` 'raw'), if any. */
export function storedOutputShape(config: Record<string, any>): Shape | null {
  const s = config.output_shape;
  if (config.output_shape_type && config.output_shape_type !== 'raw') return null; // a serialized function
  if (Array.isArray(s) && s.length > 0 && s.every((d) => typeof d === 'number')) return s as number[];
  return null;
}

/** What the layer computes, as far as the config tells (for the Python stub and the messages). */
function describeFunction(layer: KerasLayerCall): string {
  const c = layer.config ?? {};
  if (typeof c.function === 'string') return c.function; // TFOpLambda/SlicingOpLambda: e.g. 'math.multiply', '__operators__.getitem'
  if (c.function && typeof c.function === 'object' && !Array.isArray(c.function)) {
    const f = c.function as Record<string, any>;
    if (typeof f.config === 'string') return f.config; // Keras 3 {class_name: '__lambda__' | '__function__', config}
    if (f.config && typeof f.config.code === 'string') return '(serialized Python bytecode)';
    if (typeof f.class_name === 'string') return f.class_name;
  }
  if (c.function_type === 'function' && typeof c.function === 'string') return c.function;
  if (c.function !== undefined) return '(serialized Python bytecode)';
  return layer.className;
}

/** Shapes for a layer whose function is unknown: the stored output shape, else the first input's. */
function unknownShapes(config: Record<string, any>, inputs: Shape[]): Shape[] {
  const stored = storedOutputShape(config);
  if (stored) return [stored];
  return [inputs[0] ? [...inputs[0]] : []];
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The handler decision and its result; `what` names the layer kind in messages. */
export function mapByHandler(ctx: MappingContext, stopReason: string, what: string): MappingResult {
  const input = ctx.inputs[0];
  const fn = describeFunction(ctx.layer);
  const stored = storedOutputShape(ctx.config);
  const options: DecisionOption[] = [
    { id: 'stop', label: 'Stop: report the layer as unsupported', exact: false, error: 'nothing can be written while the layer is unsupported' },
  ];
  const identityOk = ctx.inputs.length === 1 && input !== undefined && input.layout.kind === 'nchw' && !(input.pendingPad && input.pendingPad.some((x) => x)) && (!stored || sameShape(stored, input.shape));
  if (identityOk)
    options.push({
      id: 'identity',
      label: `Pass the input through unchanged${stored ? '' : ' (the file does not store the output shape: assumes it equals the input shape)'}`,
      exact: false,
      error: `the ${what}'s function is not applied`,
    });
  if (ctx.target.has('Python'))
    options.push({
      id: 'python',
      label: 'Emit a Caffe Python layer stub (module keras2caffe_stub)',
      exact: false,
      error: 'needs a Python implementation at deploy time',
      detail: `implement layer '${pythonLayerName(ctx.layer.name)}' in keras2caffe_stub.py`,
    });
  options.push({ id: 'cut', label: 'Cut the net before this layer (its inputs become the outputs)', exact: true, detail: 'everything after it is left out' });
  const choice = ctx.decide({
    id: 'handler',
    question: `${ctx.layer.className} '${ctx.layer.name}' (${fn}) has no Caffe equivalent. What should the converter do?`,
    options,
    default: 'stop',
    // In the wizard, cutting before the layer keeps the part that converts exactly.
    proposed: 'cut',
  });
  if (choice === 'cut') return { kind: 'cut', reason: `cut before ${ctx.layer.className} '${ctx.layer.name}', as chosen` };
  if (choice === 'identity') {
    return mapped(
      [],
      [{ ...input, shape: ctx.outputShapes[0] }],
      {
        summary: `${ctx.layer.className} is replaced by the identity, as chosen: its function is not applied.`,
        params: [['function', fn]],
        weights: [],
        notes: ['Not exact: the following layers see the input of this layer.'],
      },
      `the ${what}'s function is not applied`,
    );
  }
  if (choice === 'python') {
    const out = ctx.name();
    const paramStr = JSON.stringify({
      keras_class: ctx.layer.className,
      keras_layer: ctx.layer.name,
      function: fn,
      ...(ctx.config.arguments && Object.keys(ctx.config.arguments).length ? { arguments: ctx.config.arguments } : {}),
      input_shapes: ctx.inputs.map((r) => r.shape),
      output_shape: ctx.outputShapes[0],
      layout: 'NCHW blobs: [H,W,C] is 1xCxHxW, [S,C] is 1xCx1xS, [C] is 1xC',
    });
    return mapped(
      [
        {
          name: out,
          type: 'Python',
          bottom: ctx.inputs.map((r) => r.blob),
          top: [out],
          params: { python_param: { module: 'keras2caffe_stub', layer: pythonLayerName(ctx.layer.name), param_str: paramStr } },
        },
      ],
      [{ blob: out, shape: ctx.outputShapes[0], layout: { kind: 'nchw' } }],
      {
        summary: `${ctx.layer.className} → a Caffe Python layer stub: keras2caffe_stub.${pythonLayerName(ctx.layer.name)} must implement ${fn}.`,
        params: [['function', `python_param.param_str (${fn})`]],
        weights: [],
        notes: ['Not exact until implemented: Caffe loads the class from keras2caffe_stub.py on its Python path at deploy time.'],
      },
      'needs a Python implementation at deploy time',
    );
  }
  return refused(stopReason);
}

/** A Python identifier from a layer name (Caffe imports `layer` from the module by name). */
export function pythonLayerName(name: string): string {
  const id = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(id) ? id : `_${id}`;
}

export const lambdaMapping: LayerMapping = {
  kerasClasses: LAMBDA_CLASSES,
  doc: {
    caffe: '(decision) stop / identity / Python layer stub / cut',
    restrictions: 'Python code cannot be converted: the default stops; identity only where the shape allows; Python only where the target loads Python layers',
    perTarget: { opencv: 'no Python layers: stop, identity or cut' },
  },
  inferShapes(config, inputs) {
    return unknownShapes(config, inputs);
  },
  map(ctx) {
    const fn = describeFunction(ctx.layer);
    return mapByHandler(ctx, `${ctx.layer.className} '${ctx.layer.name}' runs Python code (${fn}) that Caffe cannot; choose a handler (identity, python or cut)`, ctx.layer.className);
  },
};

/**
 * The mapping the planner uses for a layer class with no registered mapping: the same handler
 * decision, with `stop` reporting "no Caffe mapping for Keras layer class '<class>'".
 */
export const unmappedClassMapping: LayerMapping = {
  kerasClasses: [],
  doc: { caffe: '(decision) stop / identity / Python layer stub / cut', restrictions: 'for Keras classes with no mapping' },
  inferShapes(config, inputs) {
    return unknownShapes(config, inputs);
  },
  map(ctx) {
    return mapByHandler(ctx, `no Caffe mapping for Keras layer class '${ctx.layer.className}'`, 'layer');
  },
};
