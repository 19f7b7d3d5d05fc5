/** `keras2caffe verify`: compares any Caffe deploy net with the Keras model it came from. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../core/errors.js';
import { parseArgs, str } from './args.js';

export const VERIFY_HELP = `Usage: keras2caffe verify MODEL.h5 NET.prototxt NET.caffemodel [options]

Runs the Keras model (rebuilt in-process with tfjs from the .h5 file's own config and
weights) and the Caffe net (OpenCV DNN) on the same input and compares them: every
output, and every Keras layer whose name is also a Caffe blob of the same shape.
Works for nets made by any tool; outputs are matched by name, else by order.

Options:
  --input X.npy|X.npz|IMG.png
                        the input: NHWC as Keras takes it (batch axis optional; .npz
                        for several inputs), or a PNG (RGB, values 0..255, resized
                        bilinearly); default: seeded random, uniform [-1, 1)
  --seed N              seed of the random input (default 1)
  --tolerance T         pass when max|Δ| ≤ T × max(1, max|Keras|) (default 1e-4)
  --outputs-only        compare the outputs only, not the intermediate layers
  --json                print the report as JSON
  -h, --help            this help

Exit codes: 0 within tolerance, 3 over it (or an output could not be compared),
2 a problem with the input files, 1 a bug.
`;

const SPEC = {
  input: { value: true },
  seed: { value: true },
  tolerance: { value: true },
  'outputs-only': {},
  json: {},
  help: { short: 'h' },
} as const;

function readInputFile(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new UserError(`${path}: no such file; check the path of the ${what}`);
  if (statSync(path).isDirectory()) throw new UserError(`${path} is a directory; give the ${what} file`);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new UserError(`${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0) return true;
    if (b < 9 || (b > 13 && b < 32)) bad++;
  }
  return bad > n / 10;
}

export async function verifyCommand(argv: string[]): Promise<number> {
  const { positionals, flags } = parseArgs(argv, SPEC, 'verify');
  if (flags.help) {
    process.stdout.write(VERIFY_HELP);
    return 0;
  }
  if (positionals.length !== 3)
    throw new UserError(`verify takes three files, MODEL.h5 NET.prototxt NET.caffemodel (got ${positionals.length}); see keras2caffe verify --help`);
  const [modelPath, prototxtPath, caffemodelPath] = positionals;
  const json = !!flags.json;
  const tolText = str(flags, 'tolerance');
  const tolerance = tolText === undefined ? 1e-4 : Number(tolText);
  if (!(tolerance > 0) || !Number.isFinite(tolerance)) throw new UserError(`--tolerance '${tolText}' must be a positive number`);
  const seedText = str(flags, 'seed');
  const seed = seedText === undefined ? undefined : Number(seedText);
  if (seed !== undefined && !Number.isInteger(seed)) throw new UserError(`--seed '${seedText}' must be an integer`);

  const ptxBytes = readInputFile(prototxtPath, 'prototxt');
  const caffemodel = readInputFile(caffemodelPath, 'caffemodel');
  if (caffemodel.length === 0) throw new UserError(`${caffemodelPath} is empty; give the .caffemodel that goes with ${basename(prototxtPath)}`);
  if (looksBinary(ptxBytes))
    throw new UserError(`${prototxtPath} is not a text prototxt (binary data${/\.caffemodel$/i.test(prototxtPath) ? '; the caffemodel and the prototxt are swapped?' : ''}); give NET.prototxt then NET.caffemodel`);
  if (caffemodel.length > 0 && !looksBinary(caffemodel) && /\blayers?\s*\{/.test(new TextDecoder().decode(caffemodel.subarray(0, 4096))))
    throw new UserError(`${caffemodelPath} is a text prototxt, not a caffemodel; give NET.prototxt then NET.caffemodel`);
  const input = str(flags, 'input');
  if (input !== undefined && !existsSync(input)) throw new UserError(`--input ${input}: no such file`);

  const { openKerasH5 } = await import('../h5/kerasH5.js');
  const file = await openKerasH5(modelPath);
  try {
    const { verifyPair, formatVerification } = await import('../verify/verify.js');
    const tty = !json && process.stderr.isTTY;
    const report = await verifyPair({
      model: file,
      prototxt: new TextDecoder().decode(ptxBytes),
      caffemodel,
      prototxtName: basename(prototxtPath),
      caffemodelName: basename(caffemodelPath),
      input,
      seed,
      tolerance,
      layers: !flags['outputs-only'],
      onProgress: tty ? (m: string) => process.stderr.write(`\r${m}…\x1b[K`) : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (json) process.stdout.write(JSON.stringify({ model: modelPath, prototxt: prototxtPath, caffemodel: caffemodelPath, ...report }, null, 2) + '\n');
    else process.stdout.write(formatVerification(report));
    if (!report.passed) {
      const why = !report.complete
        ? `an output could not be compared (${report.notCompared.map((n) => `'${n.name}'`).join(', ') || 'none matched'})`
        : `an output is over the tolerance ${tolerance}${report.firstFailingLayer ? `; first failing layer '${report.firstFailingLayer}'` : ''}`;
      process.stderr.write(`keras2caffe: verification failed: ${why}\n`);
      return 3;
    }
    return 0;
  } finally {
    file.close();
  }
}
