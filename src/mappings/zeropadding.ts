import { mapped, refused, requireRank, ShapeError } from './common.js';
import { isSymmetric, padDiagram, padsText, zeroPadLayer } from './padding.js';
import type { DecisionOption, LayerMapping, MappingResult, Pads } from './types.js';

/** Keras classes whose mapping applies a pending ZeroPadding2D itself (folds it into its own padding). */
export const PAD_ABSORBING_CLASSES = new Set(['Conv2D', 'Convolution2D', 'MaxPooling2D', 'AveragePooling2D', 'MaxPool2D', 'AvgPool2D', 'DepthwiseConv2D', 'SeparableConv2D']);

export function zeroPaddingPads(padding: unknown): Pads {
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (Array.isArray(padding) && padding.length === 2) {
    const [a, b] = padding;
    if (typeof a === 'number' && typeof b === 'number') return [a, a, b, b];
    if (Array.isArray(a) && Array.isArray(b)) return [a[0], a[1], b[0], b[1]];
  }
  throw new ShapeError(`padding ${JSON.stringify(padding)} is not an int, a pair or a pair of pairs`);
}

export const zeroPaddingMapping: LayerMapping = {
  kerasClasses: ['ZeroPadding2D'],
  doc: {
    caffe: '(folded into the next Convolution/Pooling) or Deconvolution (exact pad layer)',
    restrictions: 'decision: fold into the next layer (default where exact), keep as an exact one-hot Deconvolution pad, or drop (inexact)',
  },
  inferShapes(config, inputs) {
    requireRank(inputs, 3, 'ZeroPadding2D');
    const p = zeroPaddingPads(config.padding ?? 1);
    const [h, w, c] = inputs[0];
    return [[h + p[0] + p[1], w + p[2] + p[3], c]];
  },
  map(ctx): MappingResult {
    const p = zeroPaddingPads(ctx.config.padding ?? 1);
    const input = ctx.inputs[0];
    if (input.layout.kind !== 'nchw') return refused('ZeroPadding2D of a reordered tensor');
    const consumers = ctx.consumers();
    const canFold = consumers.length > 0 && consumers.every((l) => PAD_ABSORBING_CLASSES.has(l.className) && l.config?.data_format !== 'channels_first');
    const options: DecisionOption[] = [];
    if (canFold)
      options.push({ id: 'fold', label: `Fold into the next ${consumers.map((l) => l.className).join('/')} padding`, exact: true, detail: 'no extra layer' });
    options.push({ id: 'keep', label: 'Keep as an exact pad layer (one-hot grouped Deconvolution)', exact: true, detail: 'one extra cheap layer' });
    options.push({
      id: 'drop',
      label: 'Drop it',
      exact: false,
      error: 'the following layers see an unpadded tensor: shapes shrink and border values change (see the verify step)',
    });
    const choice = ctx.decide({
      id: 'zeropad',
      question: `ZeroPadding2D pads ${padsText(p)}${isSymmetric(p) ? '' : ' (asymmetric)'}. How should Caffe do it?`,
      options,
      default: options[0].id,
      diagram: padDiagram(p, input.shape[0], input.shape[1]),
    });
    const prior: Pads = input.pendingPad ?? [0, 0, 0, 0];
    const total: Pads = [prior[0] + p[0], prior[1] + p[1], prior[2] + p[2], prior[3] + p[3]];
    const base = { params: [['padding', padsText(p)]] as [string, string][], weights: [] };
    if (choice === 'fold')
      return mapped([], [{ ...input, shape: ctx.outputShapes[0], pendingPad: total }], {
        ...base,
        summary: `ZeroPadding2D is folded into the next layer's padding (no Caffe layer of its own).`,
        notes: ['Caffe convolutions and poolings pad by themselves; the next layer adds these pads to its own.'],
      });
    if (choice === 'keep') {
      if (prior.some((x) => x)) return refused('two ZeroPadding2D layers in a row with the first folded');
      const out = ctx.name();
      return mapped([zeroPadLayer(out, input.blob, out, input.shape[2], p)], [{ blob: out, shape: ctx.outputShapes[0], layout: { kind: 'nchw' }, ...(input.nonNegative ? { nonNegative: true } : {}) }], {
        ...base,
        summary: 'ZeroPadding2D → a grouped Deconvolution with a one-hot kernel, which shifts each pixel and fills the border with zeros.',
        notes: ['Deconvolution with stride 1 and no pad grows H by kernel_h − 1; the single 1 at (top, left) places the input at that offset.'],
        weights: [{ from: '(none)', to: `blobs[0] (${input.shape[2]},1,${1 + p[0] + p[1]},${1 + p[2] + p[3]})`, transform: 'one-hot at (top, left)' }],
      });
    }
    return mapped([], [input], { ...base, summary: 'ZeroPadding2D is dropped, as chosen.', notes: ['Not exact: later shapes and border values differ from Keras.'] }, 'ZeroPadding2D dropped: shapes and border values differ from Keras');
  },
};
