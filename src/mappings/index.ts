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

export const defaultRegistry = new MappingRegistry()
  .register(inputMapping)
  .register(conv2dMapping)
  .register(denseMapping)
  .register(flattenMapping)
  .register(dropoutMapping)
  .register(batchNormMapping)
  .register(poolingMapping)
  .register(globalPoolingMapping)
  .register(zeroPaddingMapping);
