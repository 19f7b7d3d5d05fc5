/** Step 1: what the file holds — Keras version and backend, layers, parameters, inputs and outputs. */
import { Box, Text, useInput } from 'ink';
import { basename } from 'node:path';
import type { ModelSummary } from '../../core/model.js';
import type { Plan } from '../../core/planner.js';
import { statusCounts } from '../state.js';
import { c, formatBytes, formatNumber, shapeText, trunc } from '../theme.js';

export interface SummaryProps {
  summary: ModelSummary;
  plan: Plan;
  width: number;
  isActive: boolean;
  onNext(): void;
}

function Field({ name, value, width }: { name: string; value: string; width: number }) {
  return (
    <Text>
      {c.dim(name.padEnd(12))}
      {trunc(value, width - 12)}
    </Text>
  );
}

export function Summary({ summary, plan, width, isActive, onNext }: SummaryProps) {
  useInput((_, key) => key.return && onNext(), { isActive });
  const n = statusCounts(plan);
  const parts = [`${n.exact} exact`];
  if (n.decision) parts.push(`${n.decision} need${n.decision === 1 ? 's' : ''} a decision`);
  if (n.inexact) parts.push(`${n.inexact} not exact`);
  if (n.dropped) parts.push(`${n.dropped} dropped`);
  if (n.cut) parts.push(`${n.cut} cut`);
  if (n.unsupported) parts.push(c.red(`${n.unsupported} unsupported`));
  const outShape = new Map<string, (number | null)[] | undefined>(plan.layers.map((l) => [l.layer.name, l.outputShapes[0]]));
  for (const o of plan.outputs) outShape.set(o.name, o.kerasShape);
  return (
    <Box flexDirection="column">
      <Text>{c.bold(trunc(basename(summary.path), width))}</Text>
      <Text> </Text>
      <Field width={width} name="Keras" value={`${summary.kerasVersion ?? 'unknown version'} (${summary.format})`} />
      <Field width={width} name="Backend" value={summary.backend ?? 'unknown'} />
      <Field width={width} name="Layers" value={formatNumber(summary.layerCount)} />
      <Field width={width} name="Parameters" value={`${formatNumber(summary.parameterCount)} (${formatBytes(summary.weightBytes)} of float32 weights)`} />
      {summary.inputs.slice(0, 3).map((i, k) => (
        <Field key={`i${k}`} width={width} name={k === 0 ? 'Inputs' : ''} value={`${i.name} ${shapeText(i.shape)}`} />
      ))}
      {summary.inputs.length > 3 ? <Field width={width} name="" value={`… and ${summary.inputs.length - 3} more`} /> : null}
      {summary.outputs.slice(0, 3).map((o, k) => (
        <Field key={`o${k}`} width={width} name={k === 0 ? 'Outputs' : ''} value={`${o} ${outShape.get(o) ? shapeText(outShape.get(o)) : '(shape unknown until it converts)'}`} />
      ))}
      {summary.outputs.length > 3 ? <Field width={width} name="" value={`… and ${summary.outputs.length - 3} more`} /> : null}
      <Field width={width} name="Target" value={`${plan.target.name} (you can change it in the Decide step)`} />
      <Text>
        {c.dim('Plan'.padEnd(12))}
        {parts.join(', ')}
      </Text>
      <Text> </Text>
      <Text>Press {c.bold('Enter')} to see how each layer maps to Caffe.</Text>
    </Box>
  );
}
