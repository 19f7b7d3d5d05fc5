import { tensor } from '../core/tensor.js';
import { mapped, outputRef, refused, ShapeError } from './common.js';
import type { CaffeLayer } from '../caffe/net.js';
import type { LayerMapping, MappingResult } from './types.js';

function channelAxisOk(axis: unknown, rank: number): boolean {
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : axis ?? -1;
  return a === -1 || a === rank;
}

export const batchNormMapping: LayerMapping = {
  kerasClasses: ['BatchNormalization'],
  doc: {
    caffe: 'BatchNorm + Scale',
    restrictions: "channel axis only; Keras's epsilon kept (Caffe's default is 1e-5), scale factor 1; center/scale=False handled",
  },
  inferShapes(config, inputs) {
    if (!channelAxisOk(config.axis, inputs[0].length)) throw new ShapeError(`BatchNormalization over axis ${JSON.stringify(config.axis)} is not supported (only the channel axis)`);
    return [inputs[0]];
  },
  map(ctx): MappingResult {
    const c = ctx.config;
    const input = ctx.inputs[0];
    if (input.layout.kind !== 'nchw') return refused('BatchNormalization after a Flatten of a spatial tensor is not supported');
    const channels = input.shape[input.shape.length - 1];
    const center = c.center !== false;
    const scale = c.scale !== false;
    const eps = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
    for (const n of ['moving_mean', 'moving_variance', ...(center ? ['beta'] : []), ...(scale ? ['gamma'] : [])]) {
      const s = ctx.weightShapes.get(n);
      if (!s) return refused(`the file has no '${n}' weights for this layer`);
      if (s.length !== 1 || s[0] !== channels) return refused(`'${n}' has shape (${s}) but the input has ${channels} channels`);
    }
    const out = ctx.name();
    const needScale = center || scale;
    const bnTop = needScale ? ctx.name('bn') : out;
    const layers: CaffeLayer[] = [
      {
        name: bnTop,
        type: 'BatchNorm',
        bottom: [input.blob],
        top: [bnTop],
        params: { batch_norm_param: { use_global_stats: true, eps } },
        blobShapes: [[channels], [channels], [1]],
        // Caffe divides the stored mean and variance by blobs[2] (the moving-average factor); 1 keeps them as they are.
        blobs: () => [ctx.weights().require('moving_mean'), ctx.weights().require('moving_variance'), tensor([1], [1])],
      },
    ];
    if (needScale)
      layers.push({
        name: out,
        type: 'Scale',
        bottom: [bnTop],
        top: [out],
        params: { scale_param: { bias_term: true } },
        blobShapes: [[channels], [channels]],
        blobs: () => {
          const w = ctx.weights();
          return [scale ? w.require('gamma') : tensor([channels], new Float32Array(channels).fill(1)), center ? w.require('beta') : tensor([channels])];
        },
      });
    return mapped(layers, [outputRef(out, ctx.outputShapes[0])], {
      summary: `BatchNormalization → Caffe BatchNorm (normalise with the moving statistics) + Scale (γ, β).`,
      params: [
        ['epsilon', `batch_norm_param.eps = ${eps}`],
        ['(inference)', 'use_global_stats: true'],
        ['center / scale', `Scale bias_term: true (γ=${scale ? 'gamma' : '1'}, β=${center ? 'beta' : '0'})`],
      ],
      weights: [
        { from: `moving_mean (${channels})`, to: 'BatchNorm blobs[0]', transform: 'copy' },
        { from: `moving_variance (${channels})`, to: 'BatchNorm blobs[1]', transform: 'copy' },
        { from: '(none)', to: 'BatchNorm blobs[2] = [1]', transform: 'scale factor 1' },
        { from: scale ? `gamma (${channels})` : 'scale=False', to: 'Scale blobs[0]', transform: scale ? 'copy' : 'ones' },
        { from: center ? `beta (${channels})` : 'center=False', to: 'Scale blobs[1]', transform: center ? 'copy' : 'zeros' },
      ],
      notes: [
        `Caffe's BatchNorm has no γ/β, so a Scale layer follows. Its eps defaults to 1e-5; Keras used ${eps}, which is written explicitly.`,
        'Weights are read by name (gamma, beta, moving_mean, moving_variance), so center=False or scale=False files map correctly.',
      ],
    });
  },
};
