import { denseToInnerProduct } from '../core/layout.js';
import { tensor } from '../core/tensor.js';
import { activationLayers, mapped, outputRef, refused, shapeText, ShapeError } from './common.js';
import type { LayerMapping, MappingResult, WeightMapping } from './types.js';

export const denseMapping: LayerMapping = {
  kerasClasses: ['Dense'],
  doc: {
    caffe: 'InnerProduct (+ activation); 1×1 Convolution on image tensors',
    restrictions: 'weights transposed; after a Flatten of H×W×C the rows are permuted from HWC to CHW order',
  },
  inferShapes(config, inputs) {
    const s = inputs[0];
    if (s.length < 1) throw new ShapeError('Dense needs at least a 1-D input');
    return [[...s.slice(0, -1), config.units]];
  },
  map(ctx): MappingResult {
    const c = ctx.config;
    const input = ctx.inputs[0];
    const kshape = ctx.weightShapes.get('kernel');
    if (!kshape) return refused('the file has no kernel weights for this layer');
    const [ni, no] = kshape;
    const inChannels = input.shape[input.shape.length - 1];
    if (ni !== inChannels || no !== c.units) return refused(`kernel weights ${shapeText(kshape)} do not match ${inChannels} inputs and ${c.units} units`);
    const useBias = c.use_bias !== false;
    const act = c.activation ?? 'linear';
    const out = ctx.name();
    const top = act !== 'linear' ? ctx.name('dense') : out;
    const layout = input.layout;
    const weights: WeightMapping[] = [];
    let layers;
    let summary: string;
    const notes: string[] = [];
    if (input.shape.length === 1) {
      const flatFrom = layout.kind === 'flat-chw' ? layout.from : null;
      layers = [{
        name: top,
        type: 'InnerProduct',
        bottom: [input.blob],
        top: [top],
        params: { inner_product_param: { num_output: no, ...(useBias ? {} : { bias_term: false }) } },
        blobShapes: useBias ? [[no, ni], [no]] : [[no, ni]],
        blobs: () => {
          // One pass: the Flatten row permutation (HWC → CHW) and the transpose together.
          const w = denseToInnerProduct(ctx.weights().require('kernel'), flatFrom ?? undefined);
          return useBias ? [w, ctx.weights().require('bias')] : [w];
        },
      }];
      weights.push({
        from: `kernel ${shapeText(kshape)} (in, out)`,
        to: `blobs[0] ${shapeText([no, ni])} (out, in)`,
        transform: flatFrom ? 'permuteFlattenRowsHwcToChw, denseToInnerProduct' : 'denseToInnerProduct',
      });
      summary = `Dense(${no}) → Caffe InnerProduct.`;
      if (flatFrom)
        notes.push(`The input is a Flatten of ${shapeText(flatFrom)}: Keras flattens in H,W,C order, Caffe in C,H,W order, so the kernel rows are permuted to match.`);
    } else {
      // Dense on a rank ≥ 2 tensor applies to the last (channel) axis: a 1×1 convolution.
      if (layout.kind !== 'nchw') return refused('Dense on a reordered tensor is not supported');
      layers = [{
        name: top,
        type: 'Convolution',
        bottom: [input.blob],
        top: [top],
        params: { convolution_param: { num_output: no, ...(useBias ? {} : { bias_term: false }), kernel_size: [1] } },
        blobShapes: useBias ? [[no, ni, 1, 1], [no]] : [[no, ni, 1, 1]],
        blobs: () => {
          const w = denseToInnerProduct(ctx.weights().require('kernel'));
          const k = tensor([no, ni, 1, 1], w.data);
          return useBias ? [k, ctx.weights().require('bias')] : [k];
        },
      }];
      weights.push({ from: `kernel ${shapeText(kshape)} (in, out)`, to: `blobs[0] ${shapeText([no, ni, 1, 1])} OIHW`, transform: 'denseToInnerProduct' });
      summary = `Dense(${no}) on a ${shapeText(input.shape)} tensor acts on the channel axis only → Caffe 1×1 Convolution.`;
    }
    if (useBias) weights.push({ from: `bias (${no})`, to: `blobs[1] (${no})`, transform: 'copy' });
    const chain = activationLayers(act, top, out, ctx);
    if (typeof chain === 'string') return refused(chain);
    return mapped([...layers, ...chain.layers], [outputRef(out, ctx.outputShapes[0], chain.nonNegative)], {
      summary: act !== 'linear' ? `${summary} Activation: ${chain.note}.` : summary,
      params: [['units', 'num_output'], ['use_bias', 'bias_term'], ['activation', act === 'linear' ? '(none)' : chain.note]],
      weights,
      notes,
    });
  },
};
