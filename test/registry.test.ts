import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MappingRegistry } from '../src/mappings/registry.js';
import { defaultRegistry } from '../src/mappings/index.js';
import { layersMarkdown } from '../src/core/layerDocs.js';
import { conv2dMapping } from '../src/mappings/conv2d.js';

describe('mapping registry', () => {
  it('refuses a Keras class registered twice', () => {
    const r = new MappingRegistry().register(conv2dMapping);
    expect(() => r.register({ ...conv2dMapping, kerasClasses: ['Conv2D'] })).toThrow(/registered twice/);
  });

  it('covers the core layer families', () => {
    for (const cls of ['InputLayer', 'Conv2D', 'Dense', 'Flatten', 'Dropout', 'BatchNormalization', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'ZeroPadding2D'])
      expect(defaultRegistry.get(cls), cls).toBeDefined();
  });

  it('docs/layers.md is generated from the registry (run `npm run docs` after adding a mapping)', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'layers.md'), 'utf8');
    expect(doc).toBe(layersMarkdown());
    for (const cls of defaultRegistry.classes()) expect(doc).toContain(`\`${cls}\``);
  });
});
