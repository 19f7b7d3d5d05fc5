/** `keras2caffe convert`: the headless conversion. */
import { basename, dirname, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { loadModel } from '../core/model.js';
import { buildNet, planConversion, type Plan, type PlanOptions } from '../core/planner.js';
import {
  checkOutputs,
  modelStem,
  openDecisions,
  outputPaths,
  parseInputShape,
  planFileOf,
  planOptionsOf,
  planRows,
  readPlanFile,
  STATUS_SYMBOL,
  writeOutputs,
} from '../core/session.js';
import { isTargetName, TARGETS, DEFAULT_TARGET } from '../core/targets.js';
import { list, parseArgs, str } from './args.js';
import { formatTable, humanBytes } from './format.js';
import { oneLine } from './main.js';

export const CONVERT_HELP = `Usage: keras2caffe convert MODEL.h5 [options]

Writes DIR/<model>.prototxt and DIR/<model>.caffemodel.

Options:
  --out DIR             output folder (default: the current folder)
  --target NAME         ${Object.keys(TARGETS).join(' | ')} (default: ${DEFAULT_TARGET})
  --input-shape H,W     concrete size for inputs with unknown (None) height/width
  --yes                 accept the proposed choice for every open decision
  --decide LAYER:ID=OPTION
                        make one decision (repeatable), e.g. --decide zero_padding2d_1:zeropad=keep
  --plan PLAN.json      replay the decisions (and target) of a saved plan
  --save-plan FILE      also write the plan (decisions) to FILE
  --verify              run the numerical check after writing (exit 3 when over tolerance)
  --input X.npy|IMG     input for --verify (NHWC .npy, or an image); default: seeded random
  --tolerance T         relative tolerance for --verify (default 1e-4)
  --strict              NaN/Inf weights are an error instead of a warning
  --force               overwrite existing output files
  --json                print a machine-readable report instead of the table
  -h, --help            this help

Exit codes: 0 ok, 2 a problem with the input (nothing written), 3 verification over tolerance, 1 a bug.
`;

const SPEC = {
  out: { value: true },
  target: { value: true },
  'input-shape': { value: true },
  yes: { short: 'y' },
  decide: { value: true, repeat: true },
  plan: { value: true },
  'save-plan': { value: true },
  verify: {},
  input: { value: true },
  tolerance: { value: true },
  strict: {},
  force: { short: 'f' },
  json: {},
  help: { short: 'h' },
} as const;

export interface ConvertReport {
  ok: boolean;
  model: unknown;
  target: string;
  layers: unknown[];
  decisions: Record<string, string>;
  problems: string[];
  files?: { prototxt: string; caffemodel: string; plan?: string; caffemodelBytes: number };
  verification?: unknown;
  warnings: string[];
}

function parseDecide(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.lastIndexOf('=');
    if (eq <= 0 || !v.slice(0, eq).includes(':')) throw new UserError(`--decide '${v}' must look like LAYER:DECISION=OPTION, e.g. conv2d_1:padding=pad-layer`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** How to choose another option for an unsupported layer that has a decision (e.g. a Lambda's handler). */
function decideHint(l: Plan['layers'][number]): string {
  const hints = l.decisions
    .map((d) => ({ key: d.key, others: d.spec.options.map((o) => o.id).filter((id) => id !== d.chosen) }))
    .filter((h) => h.others.length > 0)
    .map((h) => `--decide ${/^[\w:./-]+$/.test(h.key) ? h.key : JSON.stringify(h.key)}=${h.others.join('|')}`);
  return hints.length ? ` (to choose: ${hints.join(' and ')})` : '';
}

/** 1234567 → "1,234,567", as toLocaleString('en-US') prints it, without its ~20 ms ICU start-up. */
function groupThousands(n: number): string {
  return Number.isSafeInteger(n) ? String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : n.toLocaleString('en-US');
}

/** One line naming every layer that blocks the conversion. */
export function blockingSummary(plan: Plan): string {
  const bad = plan.layers.filter((l) => l.status === 'unsupported' && !/^depends on unsupported layer/.test(l.reason ?? ''));
  const parts = bad.map((l) => `'${l.layer.name}' (${l.layer.className}): ${l.reason}${decideHint(l)}`);
  const problems = plan.problems;
  return [...problems, ...parts].join('; ');
}

export async function convertCommand(argv: string[]): Promise<number> {
  const { positionals, flags } = parseArgs(argv, SPEC, 'convert');
  if (flags.help) {
    process.stdout.write(CONVERT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UserError(positionals.length === 0 ? 'convert needs a model file: keras2caffe convert MODEL.h5' : `convert takes one model file, got ${positionals.length}; see keras2caffe convert --help`);
  const modelPath = positionals[0];
  const json = !!flags.json;

  const options: PlanOptions = {};
  const planPath = str(flags, 'plan');
  const given: Record<string, string> = {};
  if (planPath) {
    const pf = readPlanFile(planPath);
    Object.assign(options, planOptionsOf(pf));
    Object.assign(given, pf.decisions);
  }
  const target = str(flags, 'target');
  if (target !== undefined) {
    if (!isTargetName(target)) throw new UserError(`unknown target '${target}'; choose one of ${Object.keys(TARGETS).join(', ')}`);
    options.target = target;
  }
  const inputShape = str(flags, 'input-shape');
  if (inputShape !== undefined) options.inputShape = parseInputShape(inputShape);
  Object.assign(given, parseDecide(list(flags, 'decide')));
  options.decisions = given;
  const tolerance = str(flags, 'tolerance');
  const tol = tolerance === undefined ? 1e-4 : Number(tolerance);
  if (!(tol > 0) || !Number.isFinite(tol)) throw new UserError(`--tolerance '${tolerance}' must be a positive number`);
  if (flags.input && !flags.verify) throw new UserError('--input is used by --verify; add --verify');

  const outDir = str(flags, 'out') ?? '.';
  const stem = modelStem(modelPath);
  const paths = outputPaths(outDir, stem);
  const savePlan = str(flags, 'save-plan');
  checkOutputs(outDir, [paths.prototxt, paths.caffemodel], !!flags.force);
  if (savePlan) checkOutputs(dirname(savePlan), [savePlan], !!flags.force);

  const model = await loadModel(modelPath);
  try {
    const plan = planConversion(model.graph, model.file, options);
    const rows = planRows(plan); // once: it is per layer, and the report needs every row
    const warnings: string[] = [];
    const report: ConvertReport = {
      ok: false,
      model: model.summary,
      target: plan.target.name,
      layers: plan.layers.map((l, i) => ({
        ...rows[i],
        caffeLayers: l.caffeLayers.map((c) => ({ name: c.name, type: c.type, bottom: c.bottom, top: c.top })),
        decisions: l.decisions.map((d) => ({ key: d.key, chosen: d.chosen, options: d.spec.options.map((o) => o.id) })),
      })),
      decisions: plan.decisions,
      problems: plan.problems,
      warnings,
    };
    const out = (s: string) => {
      if (!json) process.stdout.write(s);
    };
    const s = model.summary;
    out(`${basename(modelPath)}: Keras ${s.kerasVersion ?? '?'} (${s.backend ?? '?'} backend, ${s.format}), ${s.layerCount} layers, ${groupThousands(s.parameterCount)} parameters, target ${plan.target.name}\n`);
    out(formatTable(rows.map((r) => [r.name, r.className, r.shape, r.caffe, `${STATUS_SYMBOL[r.status]} ${r.status}${r.reason ? `: ${r.reason}` : ''}`]), process.stdout.columns ?? 100));

    const fail = (message: string): never => {
      if (json) process.stdout.write(JSON.stringify({ ...report, ok: false, error: message }, null, 2) + '\n');
      throw new UserError(message);
    };
    if (!plan.convertible) fail(`cannot convert ${basename(modelPath)}: ${blockingSummary(plan)}; nothing was written`);
    const open = openDecisions(plan, given);
    if (open.length && !flags.yes)
      fail(
        `${open.length} layer decision${open.length === 1 ? '' : 's'} to confirm (${open.map((o) => `${o.decision.key}=${o.decision.chosen}`).join(', ')}); pass --yes to accept them, --decide to choose, or --plan FILE`,
      );
    for (const l of plan.layers) if (l.status === 'inexact') warnings.push(`layer '${l.layer.name}' is not exact: ${l.reason}`);

    const net = buildNet(plan);
    const kerasLayerOf = new Map<string, string>();
    for (const l of plan.layers) for (const c of l.caffeLayers) if (!kerasLayerOf.has(c.name)) kerasLayerOf.set(c.name, l.layer.name);
    const big = s.weightBytes > 64 * 1024 * 1024 && !json && process.stderr.isTTY;
    // The plan file (--save-plan) is committed with the pair: all three appear, or none.
    const files = await writeOutputs(net, savePlan ? { ...paths, plan: resolve(savePlan) } : paths, {
      ...(savePlan ? { planFile: planFileOf(plan, modelPath, options.inputShape) } : {}),
      strictFinite: !!flags.strict,
      layerName: (caffeLayer) => kerasLayerOf.get(caffeLayer) ?? caffeLayer,
      onNonFinite: (layer, count) => warnings.push(`layer '${kerasLayerOf.get(layer) ?? layer}' has ${count} NaN/Inf weight value${count === 1 ? '' : 's'}; the converted net computes with them`),
      onProgress: big
        ? (done, total, bytes) => process.stderr.write(`\rwriting ${basename(paths.caffemodel)}: layer ${done}/${total}, ${humanBytes(bytes)}   ${done === total ? '\n' : ''}`)
        : undefined,
    });
    report.files = savePlan ? { ...files, plan: savePlan } : files;
    for (const w of warnings) if (!json) process.stderr.write(`keras2caffe: warning: ${oneLine(w)}\n`);
    out(`wrote ${files.prototxt} and ${files.caffemodel} (${humanBytes(files.caffemodelBytes)})${savePlan ? ` and ${savePlan}` : ''}\n`);
    out(`Caffe inputs: ${plan.inputs.map((p) => `${p.blob} ${JSON.stringify(p.caffeShape)}`).join(', ')}; outputs: ${plan.outputs.map((p) => `${p.blob} ${JSON.stringify(p.caffeShape)}`).join(', ')}\n`);

    let exit = 0;
    if (flags.verify) {
      const { verifyConversion, formatVerification } = await import('../verify/verify.js');
      const { readFileSync } = await import('node:fs');
      const caffemodel = readFileSync(files.caffemodel);
      const showProgress = !json && process.stderr.isTTY;
      let result;
      try {
        result = await verifyConversion({
          model,
          plan,
          prototxt: readFileSync(files.prototxt, 'utf8'),
          caffemodel: new Uint8Array(caffemodel.buffer, caffemodel.byteOffset, caffemodel.byteLength),
          input: str(flags, 'input'),
          tolerance: tol,
          onProgress: showProgress ? (msg: string) => process.stderr.write(`\r${msg}\x1b[K`) : undefined,
        });
      } catch (err) {
        // The conversion itself succeeded: say so with the reason the check could not run.
        if (err instanceof UserError) throw new UserError(`${err.message}; the converted files are written`);
        throw err;
      } finally {
        if (showProgress) process.stderr.write('\r\x1b[K');
      }
      report.verification = result;
      out(formatVerification(result));
      if (!result.passed) exit = 3;
    }
    report.ok = exit === 0;
    if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    if (exit === 3) {
      const v = report.verification as { complete: boolean; firstFailingLayer: string | null };
      const why = !v.complete
        ? 'not every output could be compared'
        : v.firstFailingLayer
          ? `layer '${v.firstFailingLayer}' is the first over the tolerance ${tol}`
          : `an output is over the tolerance ${tol}`;
      process.stderr.write(`keras2caffe: verification failed: ${why}; the files are written, check the table above\n`);
    }
    return exit;
  } finally {
    model.file.close();
  }
}
