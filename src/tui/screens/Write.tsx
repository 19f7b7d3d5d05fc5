/** Step 5: the output folder (default next to the model), overwrite confirmation, and progress. */
import { Box, Text, useInput } from 'ink';
import type { Step } from '../state.js';
import { c, trunc } from '../theme.js';
import { Spinner } from './Spinner.js';
import { TextField } from './TextField.js';

export interface WriteProps {
  step: Extract<Step, { kind: 'write' }>;
  stem: string;
  width: number;
  isActive: boolean;
  onText(text: string): void;
  onSubmit(): void;
  onOverwrite(yes: boolean): void;
}

export function Write({ step, stem, width, isActive, onText, onSubmit, onOverwrite }: WriteProps) {
  useInput(
    (input, key) => {
      if (input === 'y' || input === 'Y') onOverwrite(true);
      else if (input === 'n' || input === 'N' || key.return) onOverwrite(false);
    },
    { isActive: isActive && step.phase === 'confirm' },
  );
  const w = width - 1;
  const names = `${stem}.prototxt, ${stem}.caffemodel, ${stem}.plan.json`;
  return (
    <Box flexDirection="column">
      <Text>Output folder (Enter accepts; type to change, Ctrl+U clears):</Text>
      <Box>
        <Text>{c.cyan('› ')}</Text>
        {step.phase === 'folder' ? (
          <TextField value={step.dir} width={w - 2} isActive={isActive} onChange={onText} onSubmit={() => onSubmit()} />
        ) : (
          <Text>{trunc(step.dir, w - 2)}</Text>
        )}
      </Box>
      <Text>{c.dim(trunc(`writes ${names} (all three or none)`, w))}</Text>
      <Text> </Text>
      {step.phase === 'checking' ? <Spinner label="checking the folder" /> : null}
      {step.phase === 'confirm' ? (
        <Box flexDirection="column">
          <Text>{c.yellow(trunc(`${step.existing.join(', ')} already exist${step.existing.length === 1 ? 's' : ''} in this folder.`, w))}</Text>
          <Text>
            Overwrite? {c.bold('y')} overwrites · {c.bold('n')}, Enter or Esc choose another folder
          </Text>
        </Box>
      ) : null}
      {step.phase === 'writing' ? <Spinner label={trunc(`writing ${step.progress}`, w - 2)} /> : null}
    </Box>
  );
}
