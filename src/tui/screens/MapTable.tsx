/**
 * Step 2: every Keras layer with its output shape, the Caffe layer(s) it becomes and a status.
 * Scrolls to fit the terminal; Enter on a row opens its explanation, Enter on "Continue" goes on.
 */
import { Box, Text, useInput } from 'ink';
import type { LayerPlan, Plan } from '../../core/planner.js';
import { caffeLabel } from '../../core/session.js';
import { blockingText } from '../state.js';
import { c, cell, shapeText, statusMark, STATUS_WORD, trunc } from '../theme.js';

export interface MapTableProps {
  plan: Plan;
  cursor: number;
  offset: number;
  /** Table rows that fit. */
  height: number;
  width: number;
  isActive: boolean;
  /** Questions the Decide step will ask (shown on the Continue row). */
  questions: number;
  onMove(delta: number): void;
  onOpen(): void;
  onContinue(): void;
}

export interface MapColumns {
  name: number;
  cls: number;
  shape: number;
  caffe: number;
}

export function mapColumns(width: number): MapColumns {
  const w = Math.max(40, width - 1);
  const shape = 12;
  const cls = w >= 70 ? 16 : 0;
  const fixed = 2 + shape + 1 + (cls ? cls + 1 : 0) + 3;
  const rest = w - fixed;
  const caffe = Math.max(8, Math.min(22, Math.floor(rest / 2)));
  const name = Math.max(10, rest - caffe - 1);
  return { name, cls, shape, caffe };
}

export function mapRowText(l: LayerPlan, cols: MapColumns, selected: boolean): string {
  const shape = l.outputShapes[0] ? shapeText(l.outputShapes[0]) : '?';
  const parts = [selected ? '› ' : '  ', cell(l.layer.name, cols.name), ' '];
  if (cols.cls) parts.push(cell(l.layer.className, cols.cls), ' ');
  parts.push(cell(shape, cols.shape), ' ', cell(caffeLabel(l), cols.caffe), ' ');
  const text = parts.join('');
  return (selected ? c.bold(text) : text) + statusMark(l.status);
}

export function MapTable({ plan, cursor, offset, height, width, isActive, questions, onMove, onOpen, onContinue }: MapTableProps) {
  const rows = plan.layers;
  const h = Math.max(1, height);
  useInput(
    (input, key) => {
      if (key.upArrow || input === 'k') onMove(-1);
      else if (key.downArrow || input === 'j') onMove(1);
      else if (key.pageUp) onMove(-h);
      else if (key.pageDown || input === ' ') onMove(h);
      else if (key.home || input === 'g') onMove(-Infinity);
      else if (key.end || input === 'G') onMove(Infinity);
      else if (key.return) onOpen();
      else if (input === 'c') onContinue();
    },
    { isActive },
  );
  const cols = mapColumns(width);
  const visible = rows.slice(offset, offset + h);
  const q = questions;
  const cont = `Continue → ${plan.convertible ? '' : 'the plan cannot be written yet; '}${q} question${q === 1 ? '' : 's'} to answer`;
  const header = ['  ', cell('Keras layer', cols.name), ' ', cols.cls ? `${cell('class', cols.cls)} ` : '', cell('output', cols.shape), ' ', cell('Caffe', cols.caffe), ' ', 'st'].join('');
  const sel = cursor >= 0 ? rows[cursor] : undefined;
  const more = `${offset > 0 ? '↑ ' : '  '}rows ${rows.length ? offset + 1 : 0}–${offset + visible.length} of ${rows.length}${offset + visible.length < rows.length ? ' ↓' : ''}`;
  return (
    <Box flexDirection="column">
      <Text>{cursor < 0 ? c.bold(c.cyan(`› ${cont}`)) : `  ${cont}`}</Text>
      <Text>{c.dim(trunc(header, width - 1))}</Text>
      {visible.map((l, i) => (
        <Text key={l.layer.name}>{mapRowText(l, cols, offset + i === cursor)}</Text>
      ))}
      <Text>{c.dim(trunc(`${more}   ✓ exact  ? decision  ≈ inexact  ✗ unsupported  – dropped  ✂ cut`, width - 1))}</Text>
      <Text>
        {sel
          ? trunc(`${sel.layer.name}: ${STATUS_WORD[sel.status]}${sel.reason ? ` — ${sel.reason}` : ''}  (Enter: how it maps)`, width - 1)
          : !plan.convertible
            ? c.yellow(trunc(`! not convertible yet: ${blockingText(plan)}`, width - 1))
            : c.dim(trunc('Enter on a layer shows how it maps: parameters, weight layouts, and why.', width - 1))}
      </Text>
    </Box>
  );
}
