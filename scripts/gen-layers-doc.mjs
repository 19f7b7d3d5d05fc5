// Writes docs/layers.md from the mapping registry (run: npm run docs).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const { layersMarkdown } = await import('../dist/core/layerDocs.js');
const out = fileURLToPath(new URL('../docs/layers.md', import.meta.url));
writeFileSync(out, layersMarkdown());
console.log(`wrote ${out}`);
