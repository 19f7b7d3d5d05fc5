/** The end: the three files written, and how to replay the same decisions headless. */
import { Box, Text, useInput } from 'ink';
import { isAbsolute, relative } from 'node:path';
import type { WrittenPaths } from '../state.js';
import { c, formatBytes, trunc } from '../theme.js';

export interface DoneProps {
  files: WrittenPaths;
  modelPath: string;
  cwd: string;
  width: number;
  isActive: boolean;
  onExit(): void;
}

function shown(cwd: string, p: string): string {
  const r = relative(cwd, p);
  if (r === '') return '.';
  return !r.startsWith('..') && !isAbsolute(r) ? r : p;
}

function quote(p: string): string {
  return /^[\w./@%+=:,-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

export function replayCommand(files: WrittenPaths, modelPath: string, cwd: string): string {
  return `keras2caffe convert ${quote(shown(cwd, modelPath))} --plan ${quote(shown(cwd, files.plan))} --yes --out ${quote(shown(cwd, files.dir))} --force`;
}

export function Done({ files, modelPath, cwd, width, isActive, onExit }: DoneProps) {
  useInput((input, key) => (key.return || input === 'q') && onExit(), { isActive });
  const w = width - 1;
  return (
    <Box flexDirection="column">
      <Text>{c.green('✓ Written.')}</Text>
      <Text> </Text>
      <Text>{trunc(`  prototxt    ${files.prototxt}`, w)}</Text>
      <Text>{trunc(`  caffemodel  ${files.caffemodel} (${formatBytes(files.caffemodelBytes)})`, w)}</Text>
      <Text>{trunc(`  plan        ${files.plan}`, w)}</Text>
      {files.warnings.slice(0, 3).map((x, i) => (
        <Text key={i}>{c.yellow(trunc(`  warning: ${x}`, w))}</Text>
      ))}
      <Text> </Text>
      <Text>Replay the same decisions without questions (same bytes):</Text>
      <Text>{c.cyan(`  ${replayCommand(files, modelPath, cwd)}`)}</Text>
      <Text> </Text>
      <Text>Press {c.bold('Enter')} to exit.</Text>
    </Box>
  );
}
