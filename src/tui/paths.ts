/** Where the wizard finds models: the current folder and the bundled demo. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root. This file runs as src/tui/paths.ts (tests) or dist/tui/paths.js (the
 * installed CLI); both are two folders below the root.
 */
export function packageRoot(from: string = import.meta.url): string {
  return fileURLToPath(new URL('../../', from));
}

/** The bundled demo model, or null when this copy of the package does not ship it. */
export function demoModelPath(root: string = packageRoot()): string | null {
  const p = join(root, 'fixtures', 'demo.h5');
  return existsSync(p) ? p : null;
}

export interface PickerEntry {
  /** What the list shows. */
  label: string;
  /** The path to load; null for "type a path". */
  path: string | null;
  kind: 'file' | 'demo' | 'type';
}

/** .h5/.keras files in `cwd`, sorted by name. */
export function listModelFiles(cwd: string): string[] {
  let names: string[];
  try {
    names = readdirSync(cwd);
  } catch {
    return [];
  }
  return names
    .filter((n) => /\.(h5|hdf5|keras)$/i.test(n))
    .filter((n) => {
      try {
        return statSync(join(cwd, n)).isFile();
      } catch {
        return false;
      }
    })
    .sort((a, b) => a.localeCompare(b));
}

export function pickerEntries(cwd: string, demo: string | null): PickerEntry[] {
  const entries: PickerEntry[] = listModelFiles(cwd).map((n) => ({ label: n, path: join(cwd, n), kind: 'file' as const }));
  if (demo && !entries.some((e) => e.path !== null && resolve(e.path) === resolve(demo))) {
    const rel = relative(cwd, demo);
    const shown = !rel.startsWith('..') && !isAbsolute(rel) ? rel : demo;
    entries.push({ label: `${shown}  (bundled demo)`, path: demo, kind: 'demo' });
  }
  entries.push({ label: 'Type a path…', path: null, kind: 'type' });
  return entries;
}
