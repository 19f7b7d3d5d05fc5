/**
 * A layer's explanation, from the plan: what it becomes, parameter mapping, weight layout
 * transforms with shapes, and why a rewrite was needed. Scrolls when longer than the screen.
 */
import { Box, Text, useInput } from 'ink';
import { useState } from 'react';
import type { LayerPlan } from '../../core/planner.js';
import { c, shapeText, statusMark, STATUS_WORD, trunc, wrapPrefixed } from '../theme.js';

export interface LayerDetailProps {
  layer: LayerPlan;
  width: number;
  height: number;
  isActive: boolean;
  onClose(): void;
}

/** The explanation as plain lines (styled), wrapped to `width`. */
export function detailLines(l: LayerPlan, width: number): string[] {
  const w = Math.max(30, width - 1);
  const out: string[] = [];
  const section = (title: string) => {
    out.push('');
    out.push(c.bold(title));
  };
  const e = l.explanation;
  out.push(`${statusMark(l.status)} ${STATUS_WORD[l.status]}`);
  const ins = l.inputShapes.map((s) => shapeText(s)).join(', ');
  const outs = l.outputShapes.map((s) => shapeText(s)).join(', ');
  out.push(c.dim(trunc(`${ins ? `in ${ins} → ` : ''}out ${outs || '?'} (Keras NHWC, without the batch)`, w)));
  if (e?.summary) out.push(...wrapPrefixed('', e.summary, w));
  if (l.reason) out.push(...wrapPrefixed(l.status === 'inexact' ? 'Error introduced: ' : 'Why: ', l.reason, w).map((x) => c.yellow(x)));
  if (l.caffeLayers.length) {
    section('Caffe layers');
    for (const cl of l.caffeLayers) out.push(trunc(`  ${cl.type.padEnd(13)} ${cl.name}  ${cl.bottom.join(',') || '—'} → ${cl.top.join(',')}`, w));
  }
  if (e?.params.length) {
    section('Parameters (Keras → Caffe)');
    const kw = Math.min(22, Math.max(...e.params.map(([k]) => k.length)));
    for (const [k, v] of e.params) out.push(...wrapPrefixed(`  ${k.padEnd(kw)} → `, v, w));
  }
  if (e?.weights.length) {
    section('Weights (Keras layout → Caffe layout)');
    for (const m of e.weights) {
      out.push(...wrapPrefixed('  ', `${m.from} → ${m.to}`, w));
      out.push(c.dim(trunc(`      transform: ${m.transform}`, w)));
    }
  }
  if (e?.notes.length) {
    section('Notes');
    for (const n of e.notes) out.push(...wrapPrefixed('  • ', n, w));
  }
  if (l.decisions.length) {
    section('Decisions');
    for (const d of l.decisions) {
      const o = d.spec.options.find((x) => x.id === d.chosen);
      out.push(...wrapPrefixed(`  ${d.spec.id}: `, `${o?.label ?? d.chosen} (${o?.exact ? 'exact' : 'not exact'}${d.chosen === d.spec.default ? ', proposed' : ''}); the Decide step asks`, w));
    }
  }
  return out;
}

export function LayerDetail({ layer, width, height, isActive, onClose }: LayerDetailProps) {
  const lines = detailLines(layer, width);
  const h = Math.max(3, height);
  const max = Math.max(0, lines.length - h);
  const [top, setTop] = useState(0);
  useInput(
    (input, key) => {
      if (key.upArrow || input === 'k') setTop((t) => Math.max(0, t - 1));
      else if (key.downArrow || input === 'j') setTop((t) => Math.min(max, t + 1));
      else if (key.pageUp) setTop((t) => Math.max(0, t - h));
      else if (key.pageDown || input === ' ') setTop((t) => Math.min(max, t + h));
      else if (key.return) onClose();
    },
    { isActive },
  );
  const t = Math.min(top, max);
  const shown = lines.slice(t, t + h);
  return (
    <Box flexDirection="column">
      <Text>{c.bold(trunc(`${layer.layer.name} · ${layer.layer.className}${layer.layer.scope.length ? ` · in ${layer.layer.scope.join('/')}` : ''}`, width - 1))}</Text>
      {shown.map((line, i) => (
        <Text key={i}>{line || ' '}</Text>
      ))}
      {Array.from({ length: h - shown.length }, (_, i) => (
        <Text key={`pad${i}`}> </Text>
      ))}
      <Text>{c.dim(lines.length > h ? `lines ${t + 1}–${t + shown.length} of ${lines.length}  ↑↓ scroll` : ' ')}</Text>
    </Box>
  );
}
