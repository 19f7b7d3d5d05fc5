/**
 * Command-line entry. Heavy modules (h5wasm, protobufjs, Ink, tfjs, opencv.js) are imported
 * only by the command that needs them, so `--help` starts fast.
 */
import { UserError } from '../core/errors.js';
import { exitCleanly } from '../caffe/atomicWrite.js';

export const VERSION = '0.1.0';

export const MAIN_HELP = `keras2caffe ${VERSION} — exact Keras (.h5) → Caffe (deploy.prototxt + .caffemodel)

Usage:
  keras2caffe                       open the wizard and pick a model
  keras2caffe MODEL.h5              open the wizard on MODEL.h5
  keras2caffe convert MODEL.h5 ...  convert without questions (scripts, CI)
  keras2caffe verify MODEL.h5 NET.prototxt NET.caffemodel
                                    compare any Caffe net with its Keras model
  keras2caffe layers                list the supported Keras layers

Options:
  -h, --help        help (also: keras2caffe convert --help)
  -V, --version     print the version

Exit codes: 0 ok, 1 a bug in keras2caffe, 2 a problem with the input, 3 verification over tolerance.
`;

export function writeErr(line: string): void {
  process.stderr.write(`keras2caffe: ${line}\n`);
}

/**
 * A message as one line: line breaks and other control characters (which a layer name in a
 * damaged or hostile file may hold) are written as escapes, e.g. `\n`, `\x1b`.
 */
export function oneLine(message: string): string {
  return message.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** Turns any error into the exit code and a one-line message. */
export function reportError(err: unknown): number {
  if (err instanceof UserError) {
    writeErr(oneLine(err.message));
    return err.exitCode;
  }
  const e = err as { exitCode?: number; message?: string; name?: string };
  if (e && e.exitCode === 3) {
    writeErr(String(e.message ?? 'verification failed').split('\n')[0]);
    return 3;
  }
  const msg = e?.message ? String(e.message).split('\n')[0] : String(err);
  writeErr(`internal error: ${msg} (this is a bug; please report it with the model's layer list)`);
  if (process.env.KERAS2CAFFE_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return 1;
}

/** Exit codes for the signals a headless command handles: 128 + the signal number, as shells do. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Runs a headless command so that Ctrl-C (SIGINT) or SIGTERM ends it with one line on stderr and
 * exit code 130 / 143. The exit runs atomicWrite's 'exit' hook, which deletes the temp files of
 * outputs not committed yet (exitCleanly); a committed set is renamed in one synchronous run
 * (commitAll), which a signal cannot split. The handlers are removed when the command ends.
 * Node runs signal handlers on the event loop: during a long synchronous step the exit waits
 * for the step to end (h5wasm calls are bounded by their timeout, see h5/kerasH5.ts).
 */
export async function withSignalExit<T>(run: () => Promise<T>): Promise<T> {
  const installed = (Object.keys(SIGNAL_EXIT_CODES) as (keyof typeof SIGNAL_EXIT_CODES)[]).map((signal) => {
    let received = 0;
    const handler = () => {
      // A second signal exits at once (the first may wait for a temp file being created).
      if (received++ > 0) process.exit(SIGNAL_EXIT_CODES[signal]);
      writeErr(`interrupted (${signal}); unfinished output files were removed`);
      exitCleanly(SIGNAL_EXIT_CODES[signal]);
    };
    process.on(signal, handler);
    return { signal, handler };
  });
  try {
    return await run();
  } finally {
    for (const { signal, handler } of installed) process.off(signal, handler);
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === '-h' || first === '--help' || first === 'help') {
      process.stdout.write(MAIN_HELP);
      return 0;
    }
    if (first === '-V' || first === '--version') {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (first === 'convert') return await withSignalExit(async () => (await import('./convertCommand.js')).convertCommand(rest));
    if (first === 'verify') return await withSignalExit(async () => (await import('./verifyCommand.js')).verifyCommand(rest));
    if (first === 'layers') return await (await import('./layersCommand.js')).layersCommand(rest);
    if (first !== undefined && first.startsWith('-') && first !== '--') throw new UserError(`unknown option '${first}'; see keras2caffe --help`);
    return await (await import('../tui/run.js')).runWizard(argv);
  } catch (err) {
    return reportError(err);
  }
}
