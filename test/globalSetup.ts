/** Builds dist/ once before the suite: the CLI tests run the real executable (bin/keras2caffe.js). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  // `npm test` has just built (and type-checked) dist/.
  if (process.env.KERAS2CAFFE_BUILT === '1' && existsSync(join(root, 'dist', 'cli', 'main.js'))) return;
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  // Type errors are reported by `npm test`'s own `tsc --noEmit` step; tsc still emits dist/.
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error(`tsc build failed:\n${r.stdout}${r.stderr}`);
}
