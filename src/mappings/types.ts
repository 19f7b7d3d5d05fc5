import type { CaffeLayer } from '../caffe/net.js';
import type { Tensor } from '../core/tensor.js';
import type { TargetProfile } from '../core/targets.js';
import type { KerasLayerCall } from '../keras/modelGraph.js';

/** A Keras tensor shape without the batch dimension, channels last: [H, W, C], [C], [steps, C]. */
export type Shape = number[];

/**
 * How a Keras tensor's values are laid out in its Caffe blob.
 * - `nchw`: the standard mapping ([H,W,C] ↔ C×H×W, [C] ↔ C, [S,C] ↔ C×1×S).
 * - `flat-chw`: a Keras Flatten of [H,W,C] (HWC order) that Caffe holds in CHW order.
 */
export type BlobLayout = { kind: 'nchw' } | { kind: 'flat-chw'; from: [number, number, number] };

/** Zero padding that a folded ZeroPadding2D left for the next Convolution/Pooling: [top, bottom, left, right]. */
export type Pads = [number, number, number, number];

/** What a Keras tensor is on the Caffe side. */
export interface BlobRef {
  blob: string;
  /** Keras shape of the tensor (after any pending padding is applied). */
  shape: Shape;
  layout: BlobLayout;
  /** Padding still to apply: the Caffe blob is `shape` minus these pads. */
  pendingPad?: Pads;
  /** The values are provably ≥ 0 (after ReLU, sigmoid, softmax, ...). */
  nonNegative?: boolean;
}

export interface DecisionOption {
  id: string;
  label: string;
  exact: boolean;
  /** For inexact options: what error it introduces, said plainly. */
  error?: string;
  detail?: string;
}

export interface DecisionSpec {
  /** Unique within the layer, e.g. `padding`, `handler`. */
  id: string;
  question: string;
  options: DecisionOption[];
  default: string;
  /**
   * The option offered first when a person is asked (the wizard), where it differs from the
   * headless default: e.g. `cut` for a Lambda, which headless conversion stops at unless told.
   */
  proposed?: string;
  /** A small text diagram (e.g. which rows/columns are padded in Keras vs Caffe). */
  diagram?: string;
}

export interface WeightMapping {
  /** Keras weight name and layout, e.g. `kernel (3,3,32,64) HWIO`. */
  from: string;
  /** Caffe blob and layout, e.g. `blobs[0] (64,32,3,3) OIHW`. */
  to: string;
  /** The named transform applied, e.g. `hwioToOihw`. */
  transform: string;
}

export interface Explanation {
  /** One sentence: what this layer becomes and why. */
  summary: string;
  /** Keras parameter → Caffe parameter. */
  params: [string, string][];
  weights: WeightMapping[];
  /** Why a rewrite was needed, format facts, caveats. */
  notes: string[];
}

export interface LayerWeights {
  /** Weight by short name (`kernel`, `bias`, `gamma`, `moving_mean`, ...). */
  get(shortName: string): Tensor | undefined;
  require(shortName: string): Tensor;
  /** Short names with shapes, without reading data. */
  shapes: Map<string, number[]>;
}

export interface MappingContext {
  layer: KerasLayerCall;
  config: Record<string, any>;
  inputs: BlobRef[];
  outputShapes: Shape[];
  target: TargetProfile;
  /** Backend the file was saved with: Theano files hold flipped convolution kernels. */
  backend: string;
  /** Saved by Keras 3 (hard_sigmoid is relu6(x + 3) / 6 there, clip(0.2·x + 0.5, 0, 1) before). */
  keras3: boolean;
  /** Weight shapes by short name, without reading data. */
  weightShapes: Map<string, number[]>;
  /** Reads the layer's weights (call only inside `blobs` thunks, so planning stays cheap). */
  weights(): LayerWeights;
  /** Declares a decision and returns the chosen option id (the user's, else the default). */
  decide(spec: DecisionSpec): string;
  /** Layers consuming this layer's output `index`. */
  consumers(index?: number): KerasLayerCall[];
  /**
   * A unique Caffe layer/blob name for this layer. With no suffix it is the Keras layer name
   * (the name of the layer's final output blob); with a suffix, `<name>/<suffix>`.
   */
  name(suffix?: string): string;
}

export interface MappedLayer {
  kind: 'mapped';
  layers: CaffeLayer[];
  /** One per Keras output of the layer. */
  outputs: BlobRef[];
  explanation: Explanation;
  /** Set when a decision chose an inexact option: the error that it introduces. */
  inexact?: string;
}

export interface RefusedLayer {
  kind: 'unsupported';
  reason: string;
}

/** A Lambda/custom layer handler that cuts the net before this layer. */
export interface CutLayer {
  kind: 'cut';
  reason: string;
}

export type MappingResult = MappedLayer | RefusedLayer | CutLayer;

export interface MappingDoc {
  /** The Caffe layer(s) it becomes, e.g. `Convolution (+ ReLU)`. */
  caffe: string;
  /** Restrictions and rewrites, one line. */
  restrictions: string;
  /** Where a target changes the mapping: target name → what it emits there. */
  perTarget?: Record<string, string>;
}

export interface LayerMapping {
  /** Keras class names this mapping handles. */
  kerasClasses: string[];
  /** NHWC output shapes from input shapes; throws ShapeError for impossible inputs. */
  inferShapes(config: Record<string, any>, inputShapes: Shape[], layer: KerasLayerCall): Shape[];
  map(ctx: MappingContext): MappingResult;
  doc: MappingDoc;
}
