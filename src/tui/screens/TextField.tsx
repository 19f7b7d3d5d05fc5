/** A one-line text field: printable keys type, Backspace erases, Ctrl+U clears, Enter submits. */
import { Text, useInput } from 'ink';
import { c, trunc } from '../theme.js';

export interface TextFieldProps {
  value: string;
  onChange(value: string): void;
  onSubmit(value: string): void;
  isActive?: boolean;
  /** Visible width; a longer value shows its end, starting with …. */
  width?: number;
}

export function TextField({ value, onChange, onSubmit, isActive = true, width = 60 }: TextFieldProps) {
  useInput(
    (input, key) => {
      if (key.return) return onSubmit(value);
      if (key.backspace || key.delete) return onChange(value.slice(0, -1));
      if (key.ctrl && input === 'u') return onChange('');
      if (key.ctrl || key.meta || key.escape || key.tab || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow) return;
      // eslint-disable-next-line no-control-regex
      const typed = input.replace(/[\u0000-\u001f\u007f]/g, '');
      if (typed) onChange(value + typed);
    },
    { isActive },
  );
  const room = Math.max(4, width - 1);
  const shown = value.length > room ? `…${value.slice(value.length - room + 1)}` : value;
  const cursor = isActive ? (c.level > 0 ? c.inverse(' ') : '_') : '';
  return (
    <Text>
      {c.cyan(trunc(shown, room))}
      {cursor}
    </Text>
  );
}
