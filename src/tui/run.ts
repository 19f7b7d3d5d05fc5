/**
 * `keras2caffe [MODEL.h5] [--out DIR]`: the interactive wizard. Without a terminal it says to use
 * `convert` and exits 2 instead of waiting for keys that cannot come.
 */
import { UserError } from '../core/errors.js';
import { demoModelPath, pickerEntries } from './paths.js';

export const WIZARD_HELP = `Usage: keras2caffe [MODEL.h5] [--out DIR]

Opens the interactive wizard: load, map, decide, verify, write.
Without MODEL it lists the .h5/.keras files here and the bundled demo.

Options:
  --out DIR    proposed output folder (default: next to the model)
  -h, --help   this help

Scripts and CI: keras2caffe convert MODEL.h5 --yes
`;

export interface WizardArgs {
  modelPath: string | null;
  outDir: string | null;
  help: boolean;
}

export function parseWizardArgs(argv: string[]): WizardArgs {
  const out: WizardArgs = { modelPath: null, outDir: null, help: false };
  let positionalOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!positionalOnly && a === '--') positionalOnly = true;
    else if (!positionalOnly && (a === '-h' || a === '--help')) out.help = true;
    else if (!positionalOnly && (a === '--out' || a.startsWith('--out='))) {
      const v = a === '--out' ? argv[++i] : a.slice('--out='.length);
      if (v === undefined || v === '') throw new UserError('--out needs a folder, e.g. --out build/');
      out.outDir = v;
    } else if (!positionalOnly && a.startsWith('-') && a !== '-') throw new UserError(`unknown option '${a}' for the wizard; see keras2caffe --help`);
    else if (out.modelPath === null) out.modelPath = a;
    else throw new UserError(`the wizard opens one model, got '${out.modelPath}' and '${a}'; see keras2caffe --help`);
  }
  return out;
}

export interface RunOptions {
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  stderr?: NodeJS.WriteStream;
  cwd?: string;
}

export async function runWizard(argv: string[], opts: RunOptions = {}): Promise<number> {
  const args = parseWizardArgs(argv);
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  const stderr = opts.stderr ?? process.stderr;
  if (args.help) {
    stdout.write(WIZARD_HELP);
    return 0;
  }
  if (!stdout.isTTY || !stdin.isTTY) {
    stderr.write(`keras2caffe: the wizard needs an interactive terminal; run \`keras2caffe convert ${args.modelPath ?? 'MODEL'} --yes\` instead\n`);
    return 2;
  }
  const cwd = opts.cwd ?? process.cwd();
  // Ink draws only the final frame when it believes it runs in CI (the is-in-ci package reads CI
  // and CONTINUOUS_INTEGRATION once, when Ink is first imported). The wizard runs only on an
  // interactive terminal, so a terminal wins over a CI variable that a shell exported.
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  const [{ render }, { createElement }, { App }, { initialState }] = await Promise.all([import('ink'), import('react'), import('./App.js'), import('./state.js')]);
  const initial = initialState({ cwd, entries: pickerEntries(cwd, demoModelPath()), modelPath: args.modelPath, outDir: args.outDir });
  let code = 0;
  const app = render(createElement(App, { initial, onExit: (c: number) => (code = c) }), { stdout, stdin, stderr, exitOnCtrlC: false });
  await app.waitUntilExit();
  return code;
}
