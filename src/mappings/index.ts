/** The mapping registry: one line per Keras layer family. */
import { MappingRegistry } from './registry.js';
import { inputMapping } from './input.js';
import { conv2dMapping } from './conv2d.js';
import { denseMapping } from './dense.js';
import { flattenMapping } from './flatten.js';
import { dropoutMapping } from './dropout.js';
import { batchNormMapping } from './batchnorm.js';
import { poolingMapping, globalPoolingMapping } from './pooling.js';
import { zeroPaddingMapping } from './zeropadding.js';
import { activationMapping } from './activation.js';
import { reluLayerMapping, leakyReluMapping, eluLayerMapping, preluMapping, thresholdedReluMapping, softmaxLayerMapping } from './advancedActivations.js';
import { elementwiseMergeMapping, concatenateMapping } from './merge.js';
import { reshapeMapping } from './reshape.js';

import { depthwiseConv2dMapping, separableConv2dMapping } from './depthwise.js';
import { conv2dTransposeMapping } from './convTranspose.js';
import { upSampling2dMapping, upSampling1dMapping } from './upsampling.js';
import { cropping2dMapping, cropping1dMapping } from './cropping.js';
import { conv1dMapping, pooling1dMapping, globalPooling1dMapping, zeroPadding1dMapping, depthwiseConv1dMapping, separableConv1dMapping } from './conv1d.js';
import { permuteMapping } from './permute.js';
import { lambdaMapping } from './lambda.js';

export const defaultRegistry = new MappingRegistry()
  .register(inputMapping)
  .register(depthwiseConv2dMapping)
  .register(separableConv2dMapping)
  .register(conv2dTransposeMapping)
  .register(upSampling2dMapping)
  .register(upSampling1dMapping)
  .register(cropping2dMapping)
  .register(cropping1dMapping)
  .register(conv1dMapping)
  .register(pooling1dMapping)
  .register(globalPooling1dMapping)
  .register(zeroPadding1dMapping)
  .register(depthwiseConv1dMapping)
  .register(separableConv1dMapping)
  .register(permuteMapping)
  .register(lambdaMapping)
  .register(conv2dMapping)
  .register(denseMapping)
  .register(flattenMapping)
  .register(dropoutMapping)
  .register(batchNormMapping)
  .register(poolingMapping)
  .register(globalPoolingMapping)
  .register(zeroPaddingMapping)
  .register(activationMapping)
  .register(reluLayerMapping)
  .register(leakyReluMapping)
  .register(eluLayerMapping)
  .register(preluMapping)
  .register(thresholdedReluMapping)
  .register(softmaxLayerMapping)
  .register(elementwiseMergeMapping)
  .register(concatenateMapping)
  .register(reshapeMapping);
