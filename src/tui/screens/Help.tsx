/** The key help overlay (?) and the quit confirmation (q with unsaved work). */
import { Box, Text } from 'ink';
import { c } from '../theme.js';

const KEYS: [string, string][] = [
  ['↑ ↓  j k', 'move (lists, tables, long texts)'],
  ['PgUp PgDn', 'scroll a page'],
  ['Enter', 'choose / accept the proposal and go on'],
  ['Esc', 'back one step'],
  ['c', 'continue from the layer map'],
  ['y / n', 'answer a confirmation'],
  ['?', 'this help'],
  ['q', 'quit (asks first when nothing is written yet)'],
  ['Ctrl+C', 'quit at once'],
];

export function Help() {
  return (
    <Box flexDirection="column">
      <Text>{c.bold('Keys')}</Text>
      {KEYS.map(([k, v]) => (
        <Text key={k}>
          {'  '}
          {c.cyan(k.padEnd(12))}
          {v}
        </Text>
      ))}
      <Text> </Text>
      <Text>Pressing Enter at every step accepts the proposed choices and ends with the files written.</Text>
      <Text>In text fields (paths, sizes) letters are typed; use Esc to leave them.</Text>
      <Text> </Text>
      <Text>{c.dim('Status marks: ✓ exact  ? needs a decision  ≈ not exact (chosen)  ✗ unsupported  – dropped  ✂ cut')}</Text>
      <Text> </Text>
      <Text>Press any key to close this help.</Text>
    </Box>
  );
}

export function QuitConfirm() {
  return (
    <Box flexDirection="column">
      <Text>{c.yellow('Quit without writing?')} Nothing has been written yet; your decisions would be lost.</Text>
      <Text> </Text>
      <Text>
        {c.bold('y')} quit · {c.bold('n')} or Esc stay
      </Text>
    </Box>
  );
}
