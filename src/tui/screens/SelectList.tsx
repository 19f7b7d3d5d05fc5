/** ink-select-input with the wizard's look: a › marker (visible without colour) and no Ink colours. */
import { Text } from 'ink';
import SelectInput from 'ink-select-input';
import { c } from '../theme.js';

export interface ListItem {
  key: string;
  label: string;
  value: string;
}

function Indicator({ isSelected = false }: { isSelected?: boolean }) {
  return <Text>{isSelected ? c.cyan('› ') : '  '}</Text>;
}

function Item({ isSelected = false, label }: { isSelected?: boolean; label: string }) {
  return <Text>{isSelected ? c.bold(label) : label}</Text>;
}

export interface SelectListProps {
  items: ListItem[];
  initialIndex?: number;
  isActive?: boolean;
  limit?: number;
  onSelect(value: string): void;
  onHighlight?(value: string): void;
}

export function SelectList({ items, initialIndex = 0, isActive = true, limit, onSelect, onHighlight }: SelectListProps) {
  return (
    <SelectInput
      items={items}
      initialIndex={initialIndex}
      isFocused={isActive}
      limit={limit}
      indicatorComponent={Indicator}
      itemComponent={Item}
      onSelect={(item) => onSelect(item.value)}
      onHighlight={(item) => onHighlight?.(item.value)}
    />
  );
}
