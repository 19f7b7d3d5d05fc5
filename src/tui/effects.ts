/**
 * Side-effect runners: each performs one `Effect` from the state with the core API and dispatches
 * the result (tagged with the effect's id). Nothing here decides how a layer converts: loading,
 * planning, building, writing and verifying are all the core's.
 */
import { accessSync, constants as fsConstants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { CaffeNet } from '../caffe/net.js';
import { UserError } from '../core/errors.js';
import type { LoadedModel } from '../core/model.js';
import type { Plan, PlanOptions } from '../core/planner.js';
import type { KerasGraph } from '../keras/modelGraph.js';
import type { KerasH5 } from '../h5/kerasH5.js';
import { modelStem, outputPaths, planFileOf, type writeOutputs as WriteOutputs } from '../core/session.js';
import type { Action, Effect, VerifyOutcome, VerifyRow, WizardState } from './state.js';
import { formatBytes } from './theme.js';

/** What `src/verify/verify.ts` is expected to export (it is optional in this build). */
export interface VerifierModule {
  verifyConversion(opts: {
    model: LoadedModel;
    plan: Plan;
    prototxt: string;
    caffemodel: Uint8Array;
    input?: string;
    tolerance: number;
    onProgress?: (message: string) => void;
  }): Promise<unknown>;
}

export interface EffectDeps {
  loadModel(path: string): Promise<LoadedModel>;
  planConversion(graph: KerasGraph, file: KerasH5 | null, options: PlanOptions): Plan;
  buildNet(plan: Plan): CaffeNet;
  writeOutputs: typeof WriteOutputs;
  /** The verifier module, or null when this build has none. */
  importVerifier(): Promise<VerifierModule | null>;
  tmpdir(): string;
}

export const VERIFY_TOLERANCE = 1e-4;

/** The real core, loaded on first use. */
export async function defaultDeps(): Promise<EffectDeps> {
  const [model, planner, session] = await Promise.all([import('../core/model.js'), import('../core/planner.js'), import('../core/session.js')]);
  return {
    loadModel: model.loadModel,
    planConversion: planner.planConversion,
    buildNet: planner.buildNet,
    writeOutputs: session.writeOutputs,
    importVerifier: importVerifierModule,
    tmpdir,
  };
}

/** Imports src/verify/verify.ts when it exists; null when it is not part of this build. */
export async function importVerifierModule(): Promise<VerifierModule | null> {
  // A computed specifier: the module is optional, so the compiler must not require it.
  const specifier = ['..', 'verify', 'verify.js'].join('/');
  try {
    const mod = (await import(specifier)) as Partial<VerifierModule>;
    return typeof mod.verifyConversion === 'function' ? (mod as VerifierModule) : null;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if ((e?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module|Failed to load url|Does the file exist/i.test(e?.message ?? '')) && /verify/.test(e?.message ?? '')) return null;
    throw err;
  }
}

/** One line for the error screen, and the exit code the wizard ends with. Never a stack trace. */
export function describeError(err: unknown): { message: string; exitCode: number } {
  if (err instanceof UserError) return { message: err.message.split('\n')[0], exitCode: err.exitCode };
  const e = err as { message?: string; exitCode?: number };
  const msg = e?.message ? String(e.message).split('\n')[0] : String(err);
  return { message: `internal error: ${msg} (this is a bug in keras2caffe; please report it with the model's layer list)`, exitCode: 1 };
}

export function planOptionsOf(s: Pick<WizardState, 'target' | 'decisions' | 'inputShape'>): PlanOptions {
  return { target: s.target, decisions: { ...s.decisions }, interactive: true, ...(s.inputShape ? { inputShape: s.inputShape } : {}) };
}

function num(x: unknown): number | null {
  return typeof x === 'number' && !Number.isNaN(x) ? x : null;
}

function top1Text(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'boolean') return t ? 'same' : 'DIFF';
  if (typeof t === 'number') return String(t);
  const o = t as { agree?: boolean; keras?: number; caffe?: number };
  if (typeof o.agree === 'boolean') return o.agree ? `= ${o.keras ?? '?'}` : `${o.keras ?? '?'}≠${o.caffe ?? '?'}`;
  return undefined;
}

function row(r: any, kind: string): VerifyRow {
  const top1 = top1Text(r?.top1);
  return {
    name: String(r?.name ?? r?.blob ?? r?.layer ?? '?'),
    kind: String(r?.kind ?? kind),
    maxAbs: num(r?.maxAbs),
    maxRel: num(r?.maxRel),
    ...(top1 !== undefined ? { top1 } : {}),
    passed: r?.passed !== false,
    ...(typeof r?.note === 'string' ? { note: r.note } : {}),
  };
}

/** The verifier's report (src/verify/verify.ts VerificationReport) as the Verify screen shows it. */
export function normalizeVerification(result: unknown, tolerance: number): VerifyOutcome {
  const r = (result ?? {}) as any;
  const rows: any[] = Array.isArray(r.rows) ? r.rows : [];
  const outputs = Array.isArray(r.outputs) ? r.outputs.map((x: any) => row(x, 'output')) : rows.filter((x) => x?.kind === 'output').map((x) => row(x, 'output'));
  const layers = Array.isArray(r.layers) ? r.layers.map((x: any) => row(x, 'layer')) : rows.filter((x) => x?.kind !== 'output').map((x) => row(x, 'layer'));
  const notes: string[] = [];
  if (typeof r.input?.description === 'string') notes.push(`input: ${r.input.description}`);
  if (Array.isArray(r.notCompared)) for (const n of r.notCompared) if (n?.name) notes.push(`not compared: output '${n.name}': ${n.reason ?? ''}`);
  if (Array.isArray(r.unbuilt)) for (const n of r.unbuilt) if (typeof n === 'string') notes.push(n);
  if (Array.isArray(r.notes)) for (const n of r.notes) if (typeof n === 'string') notes.push(n);
  const passed = typeof r.passed === 'boolean' ? r.passed : [...outputs, ...layers].every((x) => x.passed);
  return { passed, outputs, layers, tolerance: num(r.tolerance) ?? tolerance, complete: r.complete !== false, notes };
}

type Dispatch = (a: Action) => void;

/**
 * Performs `effect` for the state it was issued in. `isCurrent(id)` tells whether the wizard
 * still waits for this effect (the user may have gone back); stale results are dropped.
 */
export async function runEffect(effect: Effect, s: WizardState, dispatch: Dispatch, deps: EffectDeps, isCurrent: (id: number) => boolean = () => true): Promise<void> {
  const id = effect.id;
  const fail = (err: unknown) => dispatch({ type: 'failed', id, ...describeError(err) });
  const modelPath = s.modelPath ? resolve(s.cwd, s.modelPath) : '';
  switch (effect.kind) {
    case 'load': {
      let model: LoadedModel | null = null;
      try {
        model = await deps.loadModel(resolve(s.cwd, effect.path));
        const plan = deps.planConversion(model.graph, model.file, planOptionsOf({ target: s.target, decisions: {}, inputShape: null }));
        if (!isCurrent(id)) {
          model.file.close();
          return;
        }
        dispatch({ type: 'loaded', id, model, plan });
      } catch (err) {
        model?.file.close();
        fail(err);
      }
      return;
    }
    case 'plan': {
      await Promise.resolve();
      try {
        const m = s.model!;
        dispatch({ type: 'planned', id, plan: deps.planConversion(m.graph, m.file, planOptionsOf(s)) });
      } catch (err) {
        fail(err);
      }
      return;
    }
    case 'verify': {
      const progress = (message: string) => {
        if (isCurrent(id)) dispatch({ type: 'verify-progress', id, message });
      };
      let verifier: VerifierModule | null;
      try {
        verifier = await deps.importVerifier();
      } catch (err) {
        dispatch({ type: 'verify-failed', id, message: `the verifier could not be loaded: ${describeError(err).message}` });
        return;
      }
      if (!verifier) {
        dispatch({ type: 'verify-unavailable', id, message: 'The numerical check is not available in this version of keras2caffe, so this conversion was not verified.' });
        return;
      }
      let tmp: string | null = null;
      try {
        // Verify exactly the bytes the write step will write: the same core writer, to a temp folder.
        tmp = mkdtempSync(join(deps.tmpdir(), 'keras2caffe-verify-'));
        const paths = outputPaths(tmp, modelStem(modelPath));
        progress('building the Caffe net');
        await deps.writeOutputs(deps.buildNet(s.plan!), paths, { onProgress: (done, total) => progress(`encoding weights: layer ${done}/${total}`) });
        const prototxt = readFileSync(paths.prototxt, 'utf8');
        const caffemodel = new Uint8Array(readFileSync(paths.caffemodel));
        progress('running Keras and Caffe on the same input');
        const result = await verifier.verifyConversion({ model: s.model!, plan: s.plan!, prototxt, caffemodel, tolerance: VERIFY_TOLERANCE, onProgress: progress });
        if (isCurrent(id)) dispatch({ type: 'verified', id, outcome: normalizeVerification(result, VERIFY_TOLERANCE) });
      } catch (err) {
        const { message } = describeError(err);
        const raw = (err as Error)?.message ?? '';
        if (/not available/i.test(raw)) dispatch({ type: 'verify-unavailable', id, message: raw.split('\n')[0] });
        else dispatch({ type: 'verify-failed', id, message });
      } finally {
        if (tmp) rmSync(tmp, { recursive: true, force: true });
      }
      return;
    }
    case 'check-folder': {
      await Promise.resolve();
      try {
        const dir = effect.dir;
        if (!existsSync(dir)) throw new UserError(`folder ${dir} does not exist; create it or type another folder`);
        if (!statSync(dir).isDirectory()) throw new UserError(`${dir} is not a folder; type the folder to write into`);
        try {
          accessSync(dir, fsConstants.W_OK);
        } catch {
          throw new UserError(`folder ${dir} is not writable; type another folder`);
        }
        const p = outputPaths(dir, modelStem(modelPath));
        dispatch({ type: 'folder-checked', id, existing: [p.prototxt, p.caffemodel, p.plan].filter((x) => existsSync(x)).map((x) => basename(x)) });
      } catch (err) {
        fail(err);
      }
      return;
    }
    case 'write': {
      try {
        const plan = s.plan!;
        const paths = outputPaths(effect.dir, modelStem(modelPath));
        const warnings: string[] = [];
        const files = await deps.writeOutputs(deps.buildNet(plan), paths, {
          planFile: planFileOf(plan, modelPath, s.inputShape ?? undefined),
          onProgress: (done, total, bytes) => dispatch({ type: 'write-progress', id, message: `layer ${done}/${total}, ${formatBytes(bytes)}` }),
          onNonFinite: (layer, count) => warnings.push(`layer '${layer}' has ${count} NaN/Inf weight value${count === 1 ? '' : 's'}`),
        });
        dispatch({
          type: 'written',
          id,
          files: { dir: resolve(effect.dir), prototxt: files.prototxt, caffemodel: files.caffemodel, plan: files.plan ?? paths.plan, caffemodelBytes: files.caffemodelBytes, warnings },
        });
      } catch (err) {
        fail(err);
      }
      return;
    }
  }
}
