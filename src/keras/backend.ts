/**
 * Keras layers whose kernels a Theano-saved file holds spatially flipped relative to TensorFlow
 * (keras/engine/saving.py, preprocess_weights_for_loading: Conv1D/2D/3D, Conv2DTranspose,
 * ConvLSTM2D). DepthwiseConv2D and SeparableConv2D's depthwise half are not flipped.
 */
export const THEANO_FLIPPED_CLASSES: ReadonlySet<string> = new Set(['Conv1D', 'Conv2D', 'Convolution2D', 'Conv3D', 'Conv2DTranspose', 'ConvLSTM2D']);
