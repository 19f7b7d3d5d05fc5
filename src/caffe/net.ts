import type { Tensor } from '../core/tensor.js';

/**
 * One Caffe layer of a deploy net. `params` holds the LayerParameter sub-messages by their
 * caffe.proto field name (e.g. `convolution_param: { num_output: 64, kernel_size: [3] }`),
 * with enum values given by name (e.g. `pool: 'MAX'`).
 * `blobs` are the learned parameters in Caffe's layout (NCHW / OIHW); they are produced
 * lazily so that planning and writing the prototxt never touch weight data.
 */
export interface CaffeLayer {
  name: string;
  type: string;
  bottom: string[];
  top: string[];
  params?: Record<string, Record<string, unknown>>;
  blobs?: () => Tensor[];
  /** Shapes of `blobs()` without computing them (for the prototxt-free summary and size checks). */
  blobShapes?: number[][];
}

export interface CaffeNet {
  name: string;
  layers: CaffeLayer[];
}
