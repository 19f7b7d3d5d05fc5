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

export function optionLabel(o: QuestionView['options'][number], proposed: boolean, width: number): string {
  const tag = `${o.exact ? 'exact' : 'NOT exact'}${proposed ? ' · proposed' : ''}`;
  const room = Math.max(10, width - 4 - 22);
  return `${cell(o.label, room)}  ${o.exact ? c.green(tag) : c.yellow(tag)}`;
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
          {view.diagram.split('\n').map((line, i) => (
            <Text key={`d${i}`}>{c.cyan(trunc(line, w))}</Text>
          ))}
          <Text>{c.dim('P = a padded row/column, . = data')}</Text>
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
          items={view.options.map((opt) => ({ key: opt.id, value: opt.id, label: optionLabel(opt, opt.id === view.planDefault, w) }))}
          initialIndex={initial}
          isActive={isActive && !planning}
          onSelect={onAnswer}
          onHighlight={setHighlighted}
        />
      )}
      {o ? (
        <Box flexDirection="column" marginTop={1}>
          {wrap(o.exact ? `Exact${o.detail ? `: ${o.detail}` : '.'}` : `Not exact: ${o.error ?? 'the Caffe output differs from Keras'}${o.detail ? ` (${o.detail})` : ''}`, w, '  ')
            .slice(0, 3)
            .map((line, i) => (
              <Text key={`o${i}`}>{o.exact ? line : c.yellow(line)}</Text>
            ))}
        </Box>
      ) : null}
      {planning ? <Text>{c.dim('updating the plan…')}</Text> : null}
    </Box>
  );
}
