/** Plain-text formatting for the headless commands. */

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Truncates to `width` display cells with an ellipsis. */
export function truncate(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  return width <= 1 ? '…' : chars.slice(0, width - 1).join('') + '…';
}

/** Left-aligned columns, the last column taking what is left of `width`. */
export function formatTable(rows: string[][], width = 100): string {
  if (rows.length === 0) return '';
  const n = rows[0].length;
  const widths = Array.from({ length: n - 1 }, (_, i) => Math.min(28, Math.max(...rows.map((r) => [...r[i]].length))));
  const used = widths.reduce((a, b) => a + b + 2, 2);
  const last = Math.max(20, width - used);
  return rows
    .map((r) => '  ' + r.slice(0, -1).map((c, i) => truncate(c, widths[i]).padEnd(widths[i])).join('  ') + '  ' + truncate(r[n - 1], last) + '\n')
    .join('');
}
