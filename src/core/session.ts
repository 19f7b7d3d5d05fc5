/**
 * The conversion steps shared by headless `convert` and the wizard: plan rows for display,
 * plan files (saved decisions), and writing the output pair atomically.
 */
import { existsSync, readFileSync, statSync, accessSync, constants as fsConstants } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { CaffeNet } from '../caffe/net.js';
import { UserError } from './errors.js';
import { isTargetName, type TargetName } from './targets.js';
import type { LayerPlan, LayerStatus, Plan, PlanOptions } from './planner.js';
import { countNonFinite, knownNonFinite } from './weightBuffers.js';

export const STATUS_SYMBOL: Record<LayerStatus, string> = {
  exact: '✓',
  decision: '?',
  inexact: '≈',
  unsupported: '✗',
  dropped: '–',
  cut: '✂',
};

export interface PlanRow {
  name: string;
  className: string;
  shape: string;
  caffe: string;
  status: LayerStatus;
  reason?: string;
}

export function shapeLabel(s: number[]): string {
  return `(${s.join(',')})`;
}

export function caffeLabel(l: LayerPlan): string {
  if (l.status === 'unsupported' || l.status === 'cut') return '—';
  if (l.caffeLayers.length === 0) return l.layer.className === 'ZeroPadding2D' && l.outputs[0]?.pendingPad ? '(folded)' : '(none)';
  const types: string[] = [];
  for (const c of l.caffeLayers) if (types[types.length - 1] !== c.type) types.push(c.type);
  return types.join(' → ');
}

export function planRows(plan: Plan): PlanRow[] {
  return plan.layers.map((l) => ({
    name: l.layer.name,
    className: l.layer.className,
    shape: l.outputShapes[0] ? shapeLabel(l.outputShapes[0]) : '?',
    caffe: caffeLabel(l),
    status: l.status,
    ...(l.reason ? { reason: l.reason } : {}),
  }));
}

/** Open decisions: layers where a choice exists and the user has not said which. */
export function openDecisions(plan: Plan, given: Record<string, string>) {
  return plan.layers.flatMap((l) => l.decisions.filter((d) => !(d.key in given)).map((d) => ({ layer: l, decision: d })));
}

/** A plan file: the decisions of one conversion, replayable with `convert --plan`. */
export interface PlanFile {
  keras2caffe: 1;
  model: string;
  target: TargetName;
  inputShape?: [number, number];
  decisions: Record<string, string>;
}

export function planFileOf(plan: Plan, modelPath: string, inputShape?: [number, number]): PlanFile {
  return { keras2caffe: 1, model: basename(modelPath), target: plan.target.name, ...(inputShape ? { inputShape } : {}), decisions: { ...plan.decisions } };
}

export function readPlanFile(path: string): PlanFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`plan file ${path} cannot be read; check the path`);
  }
  let data: any;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UserError(`plan file ${path} is not valid JSON; write it again from the wizard`);
  }
  if (!data || data.keras2caffe !== 1 || typeof data.decisions !== 'object' || data.decisions === null)
    throw new UserError(`plan file ${path} is not a keras2caffe plan (needs "keras2caffe": 1 and "decisions")`);
  if (data.target !== undefined && !isTargetName(String(data.target)))
    throw new UserError(`plan file ${path} names unknown target '${data.target}'`);
  for (const [k, v] of Object.entries(data.decisions))
    if (typeof v !== 'string' || !k.includes(':')) throw new UserError(`plan file ${path}: decision '${k}' must map 'layer:decision' to an option name`);
  const inputShape = data.inputShape;
  if (inputShape !== undefined && !(Array.isArray(inputShape) && inputShape.length === 2 && inputShape.every((n: unknown) => Number.isInteger(n) && (n as number) > 0)))
    throw new UserError(`plan file ${path}: inputShape must be [H, W]`);
  return { keras2caffe: 1, model: String(data.model ?? ''), target: data.target ?? 'caffe-1.0', ...(inputShape ? { inputShape } : {}), decisions: data.decisions };
}

export function planOptionsOf(file: PlanFile): PlanOptions {
  return { target: file.target, decisions: file.decisions, ...(file.inputShape ? { inputShape: file.inputShape } : {}) };
}

export function parseInputShape(s: string): [number, number] {
  const m = /^(\d+)\s*[,x×]\s*(\d+)$/.exec(s.trim());
  if (!m || Number(m[1]) <= 0 || Number(m[2]) <= 0) throw new UserError(`--input-shape '${s}' must be H,W (two positive integers, e.g. 224,224)`);
  return [Number(m[1]), Number(m[2])];
}

export function modelStem(modelPath: string): string {
  const b = basename(modelPath);
  const e = extname(b);
  return e ? b.slice(0, -e.length) : b;
}

export interface OutputPaths {
  prototxt: string;
  caffemodel: string;
  plan: string;
}

export function outputPaths(outDir: string, stem: string): OutputPaths {
  const dir = resolve(outDir);
  return { prototxt: join(dir, `${stem}.prototxt`), caffemodel: join(dir, `${stem}.caffemodel`), plan: join(dir, `${stem}.plan.json`) };
}

/** Checks the output folder and existing files before any work is done. */
export function checkOutputs(outDir: string, paths: string[], force: boolean): void {
  const dir = resolve(outDir);
  if (!existsSync(dir)) throw new UserError(`output folder ${outDir} does not exist; create it or pick another with --out`);
  if (!statSync(dir).isDirectory()) throw new UserError(`output path ${outDir} is not a folder; pick a folder with --out`);
  try {
    accessSync(dir, fsConstants.W_OK);
  } catch {
    throw new UserError(`output folder ${outDir} is not writable; pick another with --out`);
  }
  if (!force) {
    const existing = paths.filter((p) => existsSync(p));
    if (existing.length) throw new UserError(`${existing.map((p) => basename(p)).join(' and ')} already exist${existing.length === 1 ? 's' : ''} in ${outDir}; pass --force to overwrite or choose --out`);
  }
}

export interface WrittenFiles {
  prototxt: string;
  caffemodel: string;
  plan?: string;
  caffemodelBytes: number;
}

/**
 * How many values of `d` are NaN or ±Inf: the count the reader or a layout transform took while
 * the values streamed through (core/weightBuffers.ts), else one branch-free pass.
 */
export function blobNonFinite(d: Float32Array): number {
  return knownNonFinite(d) ?? countNonFinite(d);
}

/**
 * Writes prototxt and caffemodel (and optionally the plan file) atomically: every file goes to a
 * temp file first; renames happen only after all are complete, so a failure leaves none behind.
 */
export async function writeOutputs(
  net: CaffeNet,
  paths: OutputPaths,
  opts: {
    planFile?: PlanFile;
    onProgress?: (doneLayers: number, total: number, bytes: number) => void;
    /** Called once per Caffe layer whose weights hold NaN or ±Inf. */
    onNonFinite?: (layer: string, count: number) => void;
    /** NaN/Inf weights are an error (nothing is written). */
    strictFinite?: boolean;
    /** The name to show for a Caffe layer in messages (e.g. its Keras layer). */
    layerName?: (caffeLayer: string) => string;
  } = {},
): Promise<WrittenFiles> {
  const [{ writePrototxt }, { streamCaffemodel }, { openAtomic, commitAll }] = await Promise.all([
    import('../caffe/prototxt.js'),
    import('../caffe/caffemodel.js'),
    import('../caffe/atomicWrite.js'),
  ]);
  let text: string;
  try {
    text = writePrototxt(net);
  } catch (err) {
    // Every layer's parameters are checked against caffe.proto here, before any file is
    // opened. A value out of range for its Caffe field (a stride of 10^12, a dilation of -1)
    // comes from a model config holding values Keras itself would not build.
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot write the Caffe net: ${(err as Error)?.message ?? err}; the model config holds a value Caffe cannot take (damaged file?); nothing was written`);
  }
  const nonFinite: { layer: string; count: number }[] = [];
  // Scan weights for NaN/Inf while they stream (one pass, no second read of the file).
  const scanned: CaffeNet = {
    ...net,
    layers: net.layers.map((l) => {
      const blobs = l.blobs;
      if (!blobs) return l;
      return {
        ...l,
        blobs: () => {
          const b = blobs();
          let count = 0;
          for (const t of b) count += blobNonFinite(t.data);
          if (count) {
            nonFinite.push({ layer: l.name, count });
            opts.onNonFinite?.(l.name, count);
          }
          return b;
        },
      };
    }),
  };
  const planText = opts.planFile ? JSON.stringify(opts.planFile, null, 2) + '\n' : null;
  const files: Awaited<ReturnType<typeof openAtomic>>[] = [];
  try {
    files.push(await openAtomic(paths.prototxt));
    files.push(await openAtomic(paths.caffemodel));
    if (planText !== null) files.push(await openAtomic(paths.plan));
    await files[0].write(text);
    const { bytes } = await streamCaffemodel(scanned, files[1], opts.onProgress);
    if (opts.strictFinite && nonFinite.length)
      throw new UserError(
        `layer '${opts.layerName?.(nonFinite[0].layer) ?? nonFinite[0].layer}' has ${nonFinite[0].count} NaN/Inf weight value${nonFinite[0].count === 1 ? '' : 's'} (--strict); fix the model or drop --strict; nothing was written`,
      );
    if (planText !== null) await files[2].write(planText);
    await commitAll(files);
    return { prototxt: paths.prototxt, caffemodel: paths.caffemodel, ...(planText !== null ? { plan: paths.plan } : {}), caffemodelBytes: bytes };
  } catch (err) {
    for (const f of files) await f.abort();
    throw outputError(err, paths);
  }
}

const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'the folder does not exist (or was removed)',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'a folder is in the way',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  EFBIG: 'file too large for the file system',
};

/** A file-system failure while writing the outputs as a one-line UserError; other errors as they are. */
function outputError(err: unknown, paths: OutputPaths): unknown {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof UserError || !e || typeof e.code !== 'string' || !/^E[A-Z]+$/.test(e.code)) return err;
  const where = resolve(e.path ?? paths.prototxt, '..');
  return new UserError(`cannot write the output files in ${where}: ${ERRNO_TEXT[e.code] ?? e.code}; nothing was written; pick another folder with --out`);
}
