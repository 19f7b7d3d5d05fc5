/**
 * Target profiles: which Caffe layer types and parameters a deployment runtime can load.
 * The converter never emits a layer type or parameter outside the chosen profile.
 */
export type TargetName = 'caffe-1.0' | 'bvlc' | 'opencv';

export type TargetFeature =
  /** PoolingParameter.round_mode (BVLC master, 2018; not in Caffe 1.0). */
  | 'pooling.round_mode';

export interface TargetProfile {
  name: TargetName;
  description: string;
  layers: ReadonlySet<string>;
  features: ReadonlySet<TargetFeature>;
  has(layerType: string): boolean;
}

/** Layer types in BVLC Caffe 1.0 (April 2017) that a deploy net may use. */
const CAFFE_1_0_LAYERS = [
  'AbsVal', 'ArgMax', 'BNLL', 'BatchNorm', 'Bias', 'Concat', 'Convolution', 'Crop', 'Deconvolution',
  'Dropout', 'ELU', 'Eltwise', 'Exp', 'Flatten', 'InnerProduct', 'Input', 'Log', 'LRN', 'MVN',
  'PReLU', 'Pooling', 'Power', 'Python', 'ReLU', 'Reduction', 'Reshape', 'Scale', 'Sigmoid', 'Slice',
  'Silence', 'Softmax', 'Split', 'TanH', 'Threshold', 'Tile',
];

const OPENCV_MISSING = new Set(['Bias', 'Threshold', 'Reduction', 'Tile', 'ArgMax', 'Python']);

function profile(name: TargetName, description: string, layers: string[], features: TargetFeature[]): TargetProfile {
  const set = new Set(layers);
  return { name, description, layers: set, features: new Set(features), has: (t) => set.has(t) };
}

export const TARGETS: Record<TargetName, TargetProfile> = {
  'caffe-1.0': profile('caffe-1.0', 'BVLC Caffe 1.0 as released, and toolchains built on it (most portable)', CAFFE_1_0_LAYERS, []),
  bvlc: profile('bvlc', 'BVLC Caffe master (2018): adds Clip, Swish and pooling round_mode', [...CAFFE_1_0_LAYERS, 'Clip', 'Swish'], ['pooling.round_mode']),
  opencv: profile(
    'opencv',
    "OpenCV DNN's Caffe importer (cv.dnn.readNetFromCaffe): Caffe 1.0 layers without Bias, Threshold, Reduction, Tile, ArgMax and Python, plus Permute, ReLU6 and Swish (beta 1)",
    // Probed in opencv.js 4.12 against BVLC Caffe (src/verify/opencvNet.ts): Bias, Threshold,
    // Reduction, Tile, ArgMax and Python layers load but fail at the first forward.
    [...CAFFE_1_0_LAYERS.filter((t) => !OPENCV_MISSING.has(t)), 'Permute', 'ReLU6', 'Swish'],
    [],
  ),
};

export const DEFAULT_TARGET: TargetName = 'caffe-1.0';

export function isTargetName(s: string): s is TargetName {
  return Object.prototype.hasOwnProperty.call(TARGETS, s);
}
