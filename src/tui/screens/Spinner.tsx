import { Text } from 'ink';
import { useEffect, useState } from 'react';
import { c } from '../theme.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function Spinner({ label }: { label: string }) {
  const [i, setI] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setI((x) => (x + 1) % FRAMES.length), 120);
    return () => clearInterval(t);
  }, []);
  return (
    <Text>
      {c.cyan(FRAMES[i])} {label}
    </Text>
  );
}
