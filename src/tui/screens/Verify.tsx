/** Step 4: the numerical check — progress, then the max error per output and per layer. */
import { Box, Text, useInput } from 'ink';
import { useState } from 'react';
import type { Step, VerifyRow } from '../state.js';
import { c, cell, formatError, rcell, trunc, wrap } from '../theme.js';
import { Spinner } from './Spinner.js';

export interface VerifyProps {
  step: Extract<Step, { kind: 'verify' }>;
  width: number;
  height: number;
  isActive: boolean;
  onNext(): void;
}

export function verifyRowText(r: VerifyRow, width: number): string {
  const name = Math.max(10, width - 1 - 7 - 9 - 9 - 6 - 2 - 4);
  const text = `${cell(r.kind, 7)}${cell(r.name, name)} ${rcell(formatError(r.maxAbs), 9)} ${rcell(formatError(r.maxRel), 9)} ${rcell(r.top1 ?? '', 6)} `;
  return text + (r.passed ? c.green('✓') : c.red('✗'));
}

export function Verify({ step, width, height, isActive, onNext }: VerifyProps) {
  const rows = step.outcome ? [...step.outcome.outputs, ...step.outcome.layers] : [];
  const h = Math.max(3, height - 8);
  const max = Math.max(0, rows.length - h);
  const [top, setTop] = useState(0);
  useInput(
    (input, key) => {
      if (key.return) onNext();
      else if (key.upArrow || input === 'k') setTop((t) => Math.max(0, t - 1));
      else if (key.downArrow || input === 'j') setTop((t) => Math.min(max, t + 1));
      else if (key.pageUp) setTop((t) => Math.max(0, t - h));
      else if (key.pageDown || input === ' ') setTop((t) => Math.min(max, t + h));
    },
    { isActive: isActive && step.phase !== 'running' },
  );
  const w = width - 1;
  if (step.phase === 'running')
    return (
      <Box flexDirection="column">
        <Text>Running Keras and Caffe on the same input and comparing every output…</Text>
        <Text> </Text>
        <Spinner label={trunc(step.progress || 'starting', w - 2)} />
      </Box>
    );
  if (step.phase === 'blocked')
    return (
      <Box flexDirection="column">
        <Text>{c.red('✗ Nothing can be verified or written yet: the plan is not convertible.')}</Text>
        <Text> </Text>
        {wrap(step.message ?? '', w, '  ')
          .slice(0, Math.max(3, height - 5))
          .map((line, i) => (
            <Text key={i}>{line}</Text>
          ))}
        <Text> </Text>
        <Text>Press {c.bold('Enter')} or {c.bold('Esc')} to go back and choose differently (an unsupported layer's handler, a target), or q to quit.</Text>
      </Box>
    );
  if (step.phase === 'unavailable' || step.phase === 'failed')
    return (
      <Box flexDirection="column">
        <Text>{step.phase === 'unavailable' ? c.yellow('– Not verified.') : c.yellow('– The check could not run.')}</Text>
        <Text> </Text>
        {wrap(step.message ?? '', w).map((line, i) => (
          <Text key={i}>{line}</Text>
        ))}
        <Text> </Text>
        <Text>
          Press {c.bold('Enter')} to write the files anyway{step.phase === 'unavailable' ? '' : ', or Esc to go back'}.
        </Text>
      </Box>
    );
  const o = step.outcome!;
  const t = Math.min(top, max);
  const shown = rows.slice(t, t + h);
  const nameW = Math.max(10, w - 7 - 9 - 9 - 6 - 2 - 4);
  return (
    <Box flexDirection="column">
      <Text>
        {o.passed
          ? c.green(`✓ Caffe matches Keras within the tolerance ${o.tolerance}.`)
          : o.complete
            ? c.red(`✗ Over the tolerance ${o.tolerance}: the Caffe net differs from Keras.`)
            : c.yellow('– Not verified: an output could not be compared.')}
      </Text>
      {(o.notes.length ? o.notes.slice(0, 2) : [`${o.outputs.length} output${o.outputs.length === 1 ? '' : 's'}, ${o.layers.length} layer${o.layers.length === 1 ? '' : 's'} compared`]).map((n, i) => (
        <Text key={`n${i}`}>{c.dim(trunc(n, w))}</Text>
      ))}
      <Text>{c.dim(`${cell('', 7)}${cell('blob', nameW)} ${rcell('max abs', 9)} ${rcell('max rel', 9)} ${rcell('top-1', 6)}`)}</Text>
      {shown.map((r, i) => (
        <Text key={`${r.kind}${r.name}${i}`}>{verifyRowText(r, width)}</Text>
      ))}
      <Text>{c.dim(rows.length > h ? `rows ${t + 1}–${t + shown.length} of ${rows.length}  ↑↓ scroll` : ' ')}</Text>
      <Text>
        Press {c.bold('Enter')} to choose where to write the files{o.passed ? '' : ' (they can still be written)'}.
      </Text>
    </Box>
  );
}
