/** Step 0: pick a model — .h5/.keras files in the current folder, the bundled demo, or a typed path. */
import { Box, Text } from 'ink';
import type { PickerEntry } from '../paths.js';
import { c, trunc } from '../theme.js';
import { SelectList } from './SelectList.js';
import { TextField } from './TextField.js';

export interface ModelPickerProps {
  cwd: string;
  entries: PickerEntry[];
  typing: boolean;
  typed: string;
  width: number;
  height: number;
  isActive: boolean;
  onPick(path: string): void;
  onTyping(typing: boolean): void;
  onText(text: string): void;
}

const TYPE = '\u0000type';

export function ModelPicker({ cwd, entries, typing, typed, width, height, isActive, onPick, onTyping, onText }: ModelPickerProps) {
  const files = entries.filter((e) => e.kind === 'file').length;
  const items = entries.map((e, i) => ({ key: String(i), label: trunc(e.label, width - 4), value: e.path ?? TYPE }));
  return (
    <Box flexDirection="column">
      <Text>Which Keras model do you want to convert to Caffe?</Text>
      <Text>{c.dim(trunc(files ? `${files} model file${files === 1 ? '' : 's'} in ${cwd}` : `No .h5/.keras files in ${cwd}`, width))}</Text>
      <Text> </Text>
      <SelectList
        items={items}
        isActive={isActive && !typing}
        limit={Math.max(3, height - 6)}
        onSelect={(v) => (v === TYPE ? onTyping(true) : onPick(v))}
      />
      {typing ? (
        <Box flexDirection="column" marginTop={1}>
          <Text>Path of the model (.h5), relative to {trunc(cwd, width - 40)}:</Text>
          <Box>
            <Text>{c.cyan('› ')}</Text>
            <TextField value={typed} width={width - 4} isActive={isActive} onChange={onText} onSubmit={(v) => v.trim() && onPick(v.trim())} />
          </Box>
        </Box>
      ) : null}
    </Box>
  );
}
