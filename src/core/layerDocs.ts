/** The supported-layer table (docs/layers.md and `keras2caffe layers`), generated from the registry. */
import { defaultRegistry } from '../mappings/index.js';
import type { MappingRegistry } from '../mappings/registry.js';
import { TARGETS, DEFAULT_TARGET } from './targets.js';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function layersMarkdown(registry: MappingRegistry = defaultRegistry): string {
  const targets = Object.values(TARGETS);
  const lines = [
    '# Supported Keras layers',
    '',
    'Generated from the mapping registry by `npm run docs`; do not edit by hand.',
    '',
    `Targets (\`--target\`, default \`${DEFAULT_TARGET}\`):`,
    '',
    ...targets.map((t) => `- \`${t.name}\`: ${t.description}.`),
    '',
    `| Keras layer | Caffe layer(s) | ${targets.map((t) => `\`${t.name}\``).join(' | ')} | Restrictions and rewrites |`,
    `| --- | --- | ${targets.map(() => '---').join(' | ')} | --- |`,
  ];
  for (const m of registry.mappings()) {
    const perTarget = targets.map((t) => cell(m.doc.perTarget?.[t.name] ?? '✓'));
    lines.push(`| ${m.kerasClasses.map((c) => `\`${c}\``).join(', ')} | ${cell(m.doc.caffe)} | ${perTarget.join(' | ')} | ${cell(m.doc.restrictions)} |`);
  }
  lines.push('', 'A layer class not listed here is reported as unsupported, with its name, before anything is written.', '');
  return lines.join('\n');
}
