/**
 * Colours and text layout for the wizard. Every colour goes through this chalk instance, which is
 * off when NO_COLOR is set (https://no-color.org) or the terminal has no colour support; the
 * wizard never uses Ink's own colour props, so NO_COLOR covers everything it draws.
 */
import chalk, { Chalk, type ChalkInstance } from 'chalk';
import type { LayerStatus } from '../core/planner.js';
import { STATUS_SYMBOL } from '../core/session.js';

export function colorLevel(env: NodeJS.ProcessEnv = process.env): 0 | 1 | 2 | 3 {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  return chalk.level;
}

export const c: ChalkInstance = new Chalk({ level: colorLevel() });

export function statusColor(status: LayerStatus): (s: string) => string {
  switch (status) {
    case 'exact':
      return c.green;
    case 'decision':
    case 'inexact':
      return c.yellow;
    case 'unsupported':
      return c.red;
    case 'cut':
      return c.magenta;
    default:
      return c.dim;
  }
}

export function statusMark(status: LayerStatus): string {
  return statusColor(status)(STATUS_SYMBOL[status]);
}

export const STATUS_WORD: Record<LayerStatus, string> = {
  exact: 'exact',
  decision: 'needs a decision',
  inexact: 'not exact (by choice)',
  unsupported: 'unsupported',
  dropped: 'dropped (no Caffe layer)',
  cut: 'cut off',
};

/** Shortens `s` to `n` characters, ending in … when cut. */
export function trunc(s: string, n: number): string {
  if (n <= 0) return '';
  if (s.length <= n) return s;
  return n === 1 ? '…' : `${s.slice(0, n - 1)}…`;
}

/** Truncates or pads `s` to exactly `n` characters. */
export function cell(s: string, n: number): string {
  const t = trunc(s, n);
  return t + ' '.repeat(Math.max(0, n - t.length));
}

export function rcell(s: string, n: number): string {
  const t = trunc(s, n);
  return ' '.repeat(Math.max(0, n - t.length)) + t;
}

/** Word-wraps `text` to lines of at most `width` characters; continuation lines start with `indent`. */
export function wrap(text: string, width: number, indent = ''): string[] {
  const out: string[] = [];
  const w = Math.max(indent.length + 8, width);
  for (const para of text.split('\n')) {
    let line = '';
    let hasWord = false;
    let pushed = false;
    for (let word of para.split(/\s+/).filter(Boolean)) {
      for (;;) {
        const sep = hasWord ? ' ' : '';
        if (line.length + sep.length + word.length <= w) {
          line += sep + word;
          hasWord = true;
          break;
        }
        if (hasWord) {
          out.push(line);
          pushed = true;
          line = indent;
          hasWord = false;
          continue;
        }
        const room = w - line.length;
        out.push(line + word.slice(0, room));
        pushed = true;
        word = word.slice(room);
        line = indent;
        if (!word) break;
      }
    }
    if (hasWord || !pushed) out.push(line);
  }
  return out;
}

/** `prefix` then `text` wrapped to `width`; continuation lines are indented to the prefix's width. */
export function wrapPrefixed(prefix: string, text: string, width: number): string[] {
  const room = Math.max(10, width - prefix.length);
  return wrap(text, room).map((line, i) => (i === 0 ? prefix : ' '.repeat(prefix.length)) + line);
}

export function shapeText(shape: (number | null)[] | undefined): string {
  if (!shape) return '?';
  return `(${shape.map((d) => (d === null || d === 0 ? '?' : String(d))).join(',')})`;
}

export function formatNumber(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export function formatError(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (x === 0) return '0';
  return x.toExponential(1);
}
