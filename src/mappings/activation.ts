/**
 * Keras `Activation(name)` layers: the same Caffe layers an `activation=` argument becomes
 * (activationLayers in common.ts), plus a few activation names that only occur as Activation
 * layers in newer Keras versions (softsign, mish, leaky_relu, hard_silu/hard_swish).
 */
import type { CaffeLayer } from '../caffe/net.js';
import type { TargetProfile } from '../core/targets.js';
import { activationLayers, mapped, refused, relu6Layers, type ActivationChain } from './common.js';
import type { BlobRef, LayerMapping, MappingResult } from './types.js';

/** The activation's name as it appears in a config (`'relu'`, or a Keras 3 serialized object). */
export function activationName(activation: unknown): string {
  if (typeof activation === 'string') return activation;
  const a = activation as any;
  return String(a?.config?.name ?? a?.class_name ?? a ?? 'linear');
}

/**
 * Activations that activationLayers (common.ts) does not know, in exact Caffe 1.0 form.
 * Returns undefined for names it does not handle either.
 */
function extraActivation(act: string, bottom: string, top: string, name: (s: string) => string, target: TargetProfile): ActivationChain | undefined {
  switch (act) {
    case 'softsign': {
      // softsign(x) = x / (1 + |x|)  (keras/activations.py: K.softsign = tf.nn.softsign)
      const abs = name('abs');
      const inv = name('inv');
      return {
        layers: [
          { name: abs, type: 'AbsVal', bottom: [bottom], top: [abs] },
          { name: inv, type: 'Power', bottom: [abs], top: [inv], params: { power_param: { power: -1, scale: 1, shift: 1 } } },
          { name: top, type: 'Eltwise', bottom: [bottom, inv], top: [top], params: { eltwise_param: { operation: 'PROD' } } },
        ],
        nonNegative: false,
        note: 'softsign = x·(1 + |x|)⁻¹ → AbsVal, Power(power −1, shift 1), Eltwise PROD',
      };
    }
    case 'mish': {
      // mish(x) = x · tanh(softplus(x))  (Keras 3 keras/src/activations/activations.py)
      const sp = name('softplus');
      const th = name('tanh');
      return {
        layers: [
          { name: sp, type: 'BNLL', bottom: [bottom], top: [sp] },
          { name: th, type: 'TanH', bottom: [sp], top: [th] },
          { name: top, type: 'Eltwise', bottom: [bottom, th], top: [top], params: { eltwise_param: { operation: 'PROD' } } },
        ],
        nonNegative: false,
        note: 'mish = x·tanh(softplus(x)) → BNLL, TanH, Eltwise PROD',
      };
    }
    case 'leaky_relu':
      // Keras 3 activations.leaky_relu(x, negative_slope=0.2); as a string it has the default slope.
      return {
        layers: [{ name: top, type: 'ReLU', bottom: [bottom], top: [top], params: { relu_param: { negative_slope: 0.2 } } }],
        nonNegative: false,
        note: 'leaky_relu (slope 0.2) → ReLU negative_slope 0.2',
      };
    case 'hard_silu':
    case 'hard_swish': {
      // Keras 3: hard_silu(x) = x · relu6(x + 3) / 6.
      const shifted = name('plus3');
      const capped = name('relu6');
      const gate = name('gate');
      const chain = relu6Layers(shifted, capped, name, target);
      return {
        layers: [
          { name: shifted, type: 'Power', bottom: [bottom], top: [shifted], params: { power_param: { power: 1, scale: 1, shift: 3 } } },
          ...chain.layers,
          { name: gate, type: 'Power', bottom: [capped], top: [gate], params: { power_param: { power: 1, scale: 1 / 6, shift: 0 } } },
          { name: top, type: 'Eltwise', bottom: [bottom, gate], top: [top], params: { eltwise_param: { operation: 'PROD' } } },
        ],
        nonNegative: false,
        note: `${act} = x·relu6(x+3)/6 → Power(+3), ${chain.layers.length === 1 ? 'Clip(0, 6)' : 'capped-ReLU chain'}, Power(×1/6), Eltwise PROD`,
      };
    }
    default:
      return undefined;
  }
}

/** Elementwise activations keep the element order, so the input's layout carries over. */
function sameLayout(input: BlobRef, blob: string, shape: number[], nonNegative: boolean): BlobRef {
  return { blob, shape, layout: input.layout, ...(nonNegative ? { nonNegative: true } : {}) };
}

export const activationMapping: LayerMapping = {
  kerasClasses: ['Activation'],
  doc: {
    caffe: 'ReLU / Sigmoid / TanH / ELU / BNLL / Softmax / Exp, or an exact chain (selu, relu6, hard_sigmoid, swish, softsign, mish, hard_silu)',
    restrictions:
      'softmax over the channel axis → Softmax axis 1; relu6 → Clip or an exact ReLU/Power chain; hard_sigmoid with the slope of the saving Keras (0.2; Keras 3: 1/6); no gelu (erf), log_softmax or other non-Caffe functions',
    perTarget: {
      bvlc: 'relu6 → Clip(0, 6); swish/silu → Swish',
      opencv: 'relu6 → ReLU, Power, ReLU, Power; swish/silu → Swish',
      'caffe-1.0': 'relu6 → ReLU, Power, ReLU, Power; swish/silu → Sigmoid + Eltwise PROD',
    },
  },
  inferShapes: (_config, inputs) => [inputs[0]],
  map(ctx): MappingResult {
    const input = ctx.inputs[0];
    if (input.pendingPad?.some((p) => p)) return refused('an activation after a folded ZeroPadding2D (the padded zeros would not be activated)');
    const act = activationName(ctx.config.activation ?? 'linear');
    if (act === 'linear')
      return mapped([], [input], {
        summary: "Activation('linear') is the identity, so it is dropped.",
        params: [['activation', 'linear (no Caffe layer)']],
        weights: [],
        notes: [],
      });
    const out = ctx.name();
    const name = (s: string) => ctx.name(s);
    // The channel axis of every blob layout here is Caffe axis 1 ([C] → 1×C, [S,C] → 1×C×1×S, [H,W,C] → 1×C×H×W).
    let chain = activationLayers(ctx.config.activation, input.blob, out, ctx, 1);
    if (typeof chain === 'string') {
      const extra = extraActivation(act, input.blob, out, name, ctx.target);
      if (!extra) return refused(chain);
      chain = extra;
    }
    const layers: CaffeLayer[] = chain.layers;
    const notes: string[] = [];
    if (act === 'softmax') {
      notes.push(`Keras applies softmax over the last (channel) axis; in the Caffe blob ${input.shape.length === 3 ? '1×C×H×W' : input.shape.length === 2 ? '1×C×1×S' : '1×C'} that is axis 1.`);
      if (input.layout.kind === 'flat-chw') notes.push('The input is a reordered Flatten: softmax over the whole vector does not depend on the element order.');
    }
    if (act === 'hard_sigmoid')
      notes.push(ctx.keras3 ? 'Keras 3 hard_sigmoid = relu6(x + 3) / 6 = clip(x/6 + 0.5, 0, 1) (Keras 2 used slope 0.2).' : 'Keras 2 / tf.keras hard_sigmoid = clip(0.2·x + 0.5, 0, 1) (Keras 3 uses slope 1/6).');
    if (input.layout.kind === 'flat-chw' && act !== 'softmax') notes.push('Elementwise: the reordered (CHW) element order of the input Flatten is kept.');
    return mapped(layers, [sameLayout(input, out, ctx.outputShapes[0], chain.nonNegative)], {
      summary: `Activation('${act}') → ${chain.note}.`,
      params: [['activation', chain.note]],
      weights: [],
      notes,
    });
  },
};
