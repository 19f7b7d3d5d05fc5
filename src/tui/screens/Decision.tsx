/**
 * Step 3: one question. The options come from the plan (a layer's decision spec), the target
 * profiles, or — for inputs of unknown size — a typed H,W. Each option says whether it is exact
 * and, if not, what error it introduces; padding questions show the plan's diagram.
 */
import { Box, Text } from 'ink';
import { useState } from 'react';
import type { QuestionView } from '../state.js';
import { c, cell, trunc, wrap } from '../theme.js';
import { SelectList } from './SelectList.js';
import { TextField } from './TextField.js';

export interface DecisionProps {
  view: QuestionView;
  kind: 'layer' | 'target' | 'input-shape';
  index: number;
  total: number;
  planning: boolean;
  /** The typed H,W (input-size question only). */
  text?: string;
  error?: string;
  width: number;
  isActive: boolean;
  onAnswer(value: string): void;
  onText?(text: string): void;
}

export function optionLabel(o: QuestionView['options'][number], view: Pick<QuestionView, 'exactness'>, width: number): string {
  if (!view.exactness) return trunc(o.detail ? `${o.label.padEnd(10)} ${o.detail}` : o.label, Math.max(10, width - 2));
  const room = Math.max(10, width - 2 - 11);
  return `${cell(o.label, room)}  ${o.exact ? c.green('exact') : c.yellow('NOT exact')}`;
}

/** The highlighted option in full: its label, whether it is the proposal, and its exactness or error. */
export function optionDetail(o: QuestionView['options'][number], view: QuestionView): { text: string; warn: boolean } {
  const proposed = o.id === view.planDefault ? ' (proposed)' : '';
  if (!view.exactness) return { text: `${o.label}${proposed}${o.detail ? `: ${o.detail}` : ''}`, warn: false };
  if (o.exact) return { text: `${o.label}${proposed}. Exact${o.detail ? `: ${o.detail}` : '.'}`, warn: false };
  return { text: `${o.label}${proposed}. Not exact: ${o.error ?? 'the Caffe output differs from Keras'}${o.detail ? ` (${o.detail})` : ''}`, warn: true };
}

export function Decision({ view, kind, index, total, planning, text = '', error, width, isActive, onAnswer, onText }: DecisionProps) {
  const initial = Math.max(0, view.options.findIndex((o) => o.id === view.chosen));
  const [highlighted, setHighlighted] = useState(view.options[initial]?.id ?? '');
  const w = width - 1;
  const o = view.options.find((x) => x.id === highlighted);
  return (
    <Box flexDirection="column">
      <Text>
        {c.dim(`Question ${index} of ${total} · `)}
        {c.bold(trunc(view.title, w - 20))}
      </Text>
      {wrap(view.question, w).map((line, i) => (
        <Text key={`q${i}`}>{line}</Text>
      ))}
      {view.diagram ? (
        <Box flexDirection="column" marginTop={1}>
          {/* A diagram's last line is its legend. */}
          {view.diagram.split('\n').map((line, i, all) => (
            <Text key={`d${i}`}>{i === all.length - 1 ? c.dim(trunc(line, w)) : c.cyan(trunc(line, w))}</Text>
          ))}
        </Box>
      ) : null}
      <Text> </Text>
      {kind === 'input-shape' ? (
        <Box flexDirection="column">
          <Box>
            <Text>{c.cyan('H,W › ')}</Text>
            <TextField value={text} width={20} isActive={isActive && !planning} onChange={(v) => onText?.(v)} onSubmit={(v) => onAnswer(v)} />
          </Box>
          {error ? <Text>{c.red(trunc(error, w))}</Text> : <Text>{c.dim(`Enter accepts; the proposal is ${view.planDefault}`)}</Text>}
        </Box>
      ) : (
        <SelectList
          items={view.options.map((opt) => ({ key: opt.id, value: opt.id, label: optionLabel(opt, view, w) }))}
          initialIndex={initial}
          isActive={isActive && !planning}
          onSelect={onAnswer}
          onHighlight={setHighlighted}
        />
      )}
      {o ? (
        <Box flexDirection="column" marginTop={1}>
          {wrap(optionDetail(o, view).text, w, '  ')
            .slice(0, 4)
            .map((line, i) => (
              <Text key={`o${i}`}>{optionDetail(o, view).warn ? c.yellow(line) : line}</Text>
            ))}
        </Box>
      ) : null}
      {planning ? <Text>{c.dim('updating the plan…')}</Text> : null}
    </Box>
  );
}
