/** An error: its one-line cause, never a stack trace. */
import { Box, Text, useInput } from 'ink';
import { c, wrap } from '../theme.js';

export interface ErrorScreenProps {
  message: string;
  canGoBack: boolean;
  width: number;
  isActive: boolean;
  onNext(): void;
}

export function ErrorScreen({ message, canGoBack, width, isActive, onNext }: ErrorScreenProps) {
  useInput((_, key) => key.return && onNext(), { isActive });
  return (
    <Box flexDirection="column">
      {wrap(`✗ ${message}`, width - 1, '  ')
        .slice(0, 8)
        .map((line, i) => (
          <Text key={i}>{c.red(line)}</Text>
        ))}
      <Text> </Text>
      <Text>{canGoBack ? `Press ${c.bold('Enter')} or ${c.bold('Esc')} to go back and try again, ${c.bold('q')} to quit.` : `Press ${c.bold('Enter')} or ${c.bold('q')} to quit.`}</Text>
    </Box>
  );
}
