/**
 * The wizard's state: a pure reducer over a discriminated union of steps.
 *
 *   pick → loading → summary → map → decide (one screen per question) → verify → write → done
 *                                                         any step ↘ error
 *
 * The reducer never does I/O. When a step needs work done (load a model, re-plan after a decision,
 * verify, check the output folder, write), it puts an `Effect` in the state; the effect runner
 * (effects.ts) performs it and dispatches the result with the effect's id. Results whose id is not
 * the current effect's are stale (the user went back) and are ignored.
 *
 * The wizard holds no conversion logic: the plan comes from the core planner, and the questions
 * are the plan's own decisions (plus the target profile and, for inputs of unknown size, H×W).
 */
import { dirname, resolve, basename } from 'node:path';
import type { LoadedModel, ModelSummary } from '../core/model.js';
import type { LayerDecision, LayerPlan, Plan } from '../core/planner.js';
import { parseInputShape } from '../core/session.js';
import { DEFAULT_TARGET, TARGETS, isTargetName, type TargetName } from '../core/targets.js';
import type { DecisionOption } from '../mappings/types.js';
import type { PickerEntry } from './paths.js';

// ---------------------------------------------------------------------------------------------
// Data shown by the verify and write steps (filled in by the effect runner).

export interface VerifyRow {
  name: string;
  kind: string;
  maxAbs: number | null;
  maxRel: number | null;
  /** Top-1 class agreement, as shown (e.g. `= 3`, `3≠5`). */
  top1?: string;
  passed: boolean;
  /** Why a row could not be compared or failed, if the verifier says. */
  note?: string;
}

export interface VerifyOutcome {
  passed: boolean;
  outputs: VerifyRow[];
  layers: VerifyRow[];
  tolerance: number;
  /** False when some output could not be compared at all. */
  complete: boolean;
  /** Extra one-line facts from the verifier (input used, outputs not compared, notes). */
  notes: string[];
}

export interface WrittenPaths {
  dir: string;
  prototxt: string;
  caffemodel: string;
  plan: string;
  caffemodelBytes: number;
  /** E.g. NaN/Inf weights found while writing. */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Steps, effects, actions.

export type VerifyPhase = 'running' | 'done' | 'unavailable' | 'failed' | 'blocked';
export type WritePhase = 'folder' | 'checking' | 'confirm' | 'writing';

export type Step =
  | { kind: 'pick'; typing: boolean; typed: string }
  | { kind: 'loading'; path: string }
  | { kind: 'summary' }
  /** cursor −1 is the "Continue" row above the table. */
  | { kind: 'map'; cursor: number; offset: number; detail: boolean }
  /** `text`: the typed H,W for the input-size question. */
  | { kind: 'decide'; key: string; planning: boolean; text: string; error?: string }
  | { kind: 'verify'; phase: VerifyPhase; progress: string; outcome?: VerifyOutcome; message?: string }
  | { kind: 'write'; phase: WritePhase; dir: string; existing: string[]; progress: string }
  | { kind: 'done'; files: WrittenPaths }
  | { kind: 'error'; message: string; exitCode: number; back: Step | null };

export type StepKind = Step['kind'];

export type Effect =
  | { id: number; kind: 'load'; path: string }
  | { id: number; kind: 'plan' }
  | { id: number; kind: 'verify' }
  | { id: number; kind: 'check-folder'; dir: string }
  | { id: number; kind: 'write'; dir: string };

export interface LogEntry {
  id: number;
  mark: 'ok' | 'warn' | 'back' | 'info';
  text: string;
}

export interface WizardState {
  step: Step;
  cwd: string;
  entries: PickerEntry[];
  /** `--out DIR` given on the command line: the proposed output folder. */
  outDir: string | null;
  modelPath: string | null;
  model: LoadedModel | null;
  summary: ModelSummary | null;
  plan: Plan | null;
  target: TargetName;
  /** The user's answers to layer decisions, by `layer:decision` key. */
  decisions: Record<string, string>;
  inputShape: [number, number] | null;
  /** Question keys answered in this session, in order (Esc pops them). */
  answered: string[];
  /** The last verify step, restored when going back from the write step. */
  lastVerify: Step | null;
  /** Finished steps, printed above the current one (Ink <Static>). */
  history: LogEntry[];
  overlay: 'help' | 'quit' | null;
  effect: Effect | null;
  nextId: number;
  /** Set when the wizard should end, with this exit code. */
  exitCode: number | null;
  written: boolean;
}

export type Action =
  | { type: 'pick'; path: string }
  | { type: 'picker-typing'; typing: boolean }
  | { type: 'picker-text'; text: string }
  | { type: 'loaded'; id: number; model: LoadedModel; plan: Plan }
  | { type: 'planned'; id: number; plan: Plan }
  | { type: 'failed'; id: number; message: string; exitCode: number }
  | { type: 'next' }
  | { type: 'back' }
  | { type: 'map-move'; delta: number; height: number }
  | { type: 'map-open' }
  | { type: 'answer'; key: string; value: string }
  | { type: 'shape-text'; text: string }
  | { type: 'verify-progress'; id: number; message: string }
  | { type: 'verified'; id: number; outcome: VerifyOutcome }
  | { type: 'verify-unavailable'; id: number; message: string }
  | { type: 'verify-failed'; id: number; message: string }
  | { type: 'folder-text'; text: string }
  | { type: 'folder-submit' }
  | { type: 'folder-checked'; id: number; existing: string[] }
  | { type: 'overwrite'; yes: boolean }
  | { type: 'write-progress'; id: number; message: string }
  | { type: 'written'; id: number; files: WrittenPaths }
  | { type: 'help'; open: boolean }
  | { type: 'quit' }
  | { type: 'quit-confirm'; yes: boolean }
  | { type: 'exit'; code: number };

export interface InitOptions {
  cwd: string;
  entries: PickerEntry[];
  modelPath?: string | null;
  outDir?: string | null;
}

export function initialState(o: InitOptions): WizardState {
  const base: WizardState = {
    step: { kind: 'pick', typing: false, typed: '' },
    cwd: o.cwd,
    entries: o.entries,
    outDir: o.outDir ?? null,
    modelPath: null,
    model: null,
    summary: null,
    plan: null,
    target: DEFAULT_TARGET,
    decisions: {},
    inputShape: null,
    answered: [],
    lastVerify: null,
    history: [],
    overlay: null,
    effect: null,
    nextId: 1,
    exitCode: null,
    written: false,
  };
  return o.modelPath ? startLoad(base, o.modelPath) : base;
}

// ---------------------------------------------------------------------------------------------
// Questions: derived from the plan, never stored.

export const INPUT_SHAPE_KEY = '@input-shape';
export const TARGET_KEY = '@target';
export const DEFAULT_INPUT_SHAPE = '224,224';

export type Question =
  | { kind: 'input-shape'; key: typeof INPUT_SHAPE_KEY; inputs: string[] }
  | { kind: 'target'; key: typeof TARGET_KEY }
  | { kind: 'layer'; key: string; layer: LayerPlan; decision: LayerDecision };

/** Image inputs whose height or width is unknown (None) in the model: `--input-shape` fills them. */
export function unknownSizeInputs(summary: ModelSummary | null): string[] {
  if (!summary) return [];
  return summary.inputs.filter((i) => i.shape.length === 3 && i.shape[2] !== null && (i.shape[0] === null || i.shape[1] === null)).map((i) => i.name);
}

export function questionsOf(s: Pick<WizardState, 'summary' | 'plan'>): Question[] {
  const qs: Question[] = [];
  const unknown = unknownSizeInputs(s.summary);
  if (unknown.length) qs.push({ kind: 'input-shape', key: INPUT_SHAPE_KEY, inputs: unknown });
  qs.push({ kind: 'target', key: TARGET_KEY });
  for (const layer of s.plan?.layers ?? []) for (const decision of layer.decisions) qs.push({ kind: 'layer', key: decision.key, layer, decision });
  return qs;
}

export function questionByKey(s: Pick<WizardState, 'summary' | 'plan'>, key: string): Question | undefined {
  return questionsOf(s).find((q) => q.key === key);
}

/** What a question screen shows: the question, its options, and which one is proposed. */
export interface QuestionView {
  title: string;
  question: string;
  options: DecisionOption[];
  /** The option the plan proposes (its default, or the current answer). */
  chosen: string;
  planDefault: string;
  diagram?: string;
  /** Whether options differ in exactness (layer decisions); false for the target profile. */
  exactness: boolean;
}

export function questionView(s: Pick<WizardState, 'target' | 'plan'>, q: Question): QuestionView {
  if (q.kind === 'target') {
    const options = Object.values(TARGETS).map((t) => ({ id: t.name, label: t.name, exact: true, detail: t.description }));
    return {
      title: 'Target profile',
      question: 'Which Caffe runtime will load the converted net? Only layers and parameters it can load are emitted.',
      options,
      chosen: s.target,
      planDefault: DEFAULT_TARGET,
      exactness: false,
    };
  }
  if (q.kind === 'input-shape') {
    return {
      title: 'Input size',
      question: `Input ${q.inputs.map((n) => `'${n}'`).join(', ')} has unknown height/width in the model. Caffe needs fixed sizes: type H,W.`,
      options: [],
      chosen: '',
      planDefault: DEFAULT_INPUT_SHAPE,
      exactness: false,
    };
  }
  const spec = q.decision.spec;
  return {
    title: `${q.layer.layer.name} (${q.layer.layer.className})`,
    question: spec.question,
    options: spec.options,
    chosen: q.decision.chosen,
    planDefault: spec.proposed ?? spec.default,
    ...(spec.diagram ? { diagram: spec.diagram } : {}),
    exactness: true,
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers.

export function isDirty(s: WizardState): boolean {
  return s.model !== null && !s.written;
}

/** True when the step has a text field, so letters (q, ?, j, k) are typed, not commands. */
export function isTyping(s: WizardState): boolean {
  const st = s.step;
  if (st.kind === 'pick') return st.typing;
  if (st.kind === 'write') return st.phase === 'folder';
  if (st.kind === 'decide') return st.key === INPUT_SHAPE_KEY && !st.planning;
  return false;
}

export function defaultOutDir(s: Pick<WizardState, 'outDir' | 'modelPath' | 'cwd'>): string {
  if (s.outDir) return resolve(s.cwd, s.outDir);
  return s.modelPath ? dirname(resolve(s.cwd, s.modelPath)) : s.cwd;
}

/** Why the plan cannot be written, one line (plan problems and the layers that block it). */
export function blockingText(plan: Plan): string {
  const parts = [...plan.problems];
  for (const l of plan.layers)
    if (l.status === 'unsupported' && !/^depends on unsupported layer/.test(l.reason ?? '')) parts.push(`'${l.layer.name}' (${l.layer.className}): ${l.reason ?? 'unsupported'}`);
  if (plan.outputs.length === 0) parts.push('the net has no outputs left');
  return parts.join('; ') || 'the plan is not convertible';
}

export function statusCounts(plan: Plan): Record<LayerPlan['status'], number> {
  const n = { exact: 0, decision: 0, inexact: 0, unsupported: 0, dropped: 0, cut: 0 };
  for (const l of plan.layers) n[l.status]++;
  return n;
}

function shapeStr(shape: (number | null)[]): string {
  return `(${shape.map((d) => (d === null || d === 0 ? '?' : d)).join(',')})`;
}

export function summaryLine(summary: ModelSummary): string {
  return `Model   ${basename(summary.path)}: Keras ${summary.kerasVersion ?? '?'} (${summary.backend ?? '?'}), ${summary.layerCount} layers, ${summary.parameterCount.toLocaleString('en-US')} params, ${summary.inputs.map((i) => shapeStr(i.shape)).join(', ')}`;
}

export function mapLine(plan: Plan): string {
  const n = statusCounts(plan);
  const parts = [`${n.exact} exact`];
  if (n.decision) parts.push(`${n.decision} with a decision`);
  if (n.inexact) parts.push(`${n.inexact} not exact`);
  if (n.dropped) parts.push(`${n.dropped} dropped`);
  if (n.cut) parts.push(`${n.cut} cut`);
  if (n.unsupported) parts.push(`${n.unsupported} unsupported`);
  return `Map     ${plan.layers.length} layers: ${parts.join(', ')}`;
}

function answerLine(q: Question, value: string): string {
  if (q.kind === 'target') return `Decide  target = ${value}`;
  if (q.kind === 'input-shape') return `Decide  input size = ${value.replace(/\s+/g, '')}`;
  const o = q.decision.spec.options.find((x) => x.id === value);
  return `Decide  ${q.layer.layer.name} = ${value} (${o?.exact ? 'exact' : 'not exact'}): ${o?.label ?? ''}`;
}

function log(s: WizardState, mark: LogEntry['mark'], text: string): WizardState {
  return { ...s, history: [...s.history, { id: s.history.length + 1, mark, text }] };
}

type EffectRequest = Effect extends unknown ? (Effect extends infer E ? (E extends Effect ? Omit<E, 'id'> : never) : never) : never;

function withEffect(s: WizardState, effect: EffectRequest): WizardState {
  return { ...s, effect: { ...effect, id: s.nextId } as Effect, nextId: s.nextId + 1 };
}

function isCurrent(s: WizardState, id: number): boolean {
  return s.effect !== null && s.effect.id === id;
}

function startLoad(s: WizardState, path: string): WizardState {
  return withEffect(
    {
      ...s,
      step: { kind: 'loading', path },
      modelPath: path,
      model: null,
      summary: null,
      plan: null,
      target: DEFAULT_TARGET,
      decisions: {},
      inputShape: null,
      answered: [],
      lastVerify: null,
      written: false,
    },
    { kind: 'load', path },
  );
}

function shapeTextOf(s: WizardState): string {
  return s.inputShape ? `${s.inputShape[0]},${s.inputShape[1]}` : DEFAULT_INPUT_SHAPE;
}

function decideStep(s: WizardState, key: string): WizardState {
  return { ...s, effect: null, step: { kind: 'decide', key, planning: false, text: shapeTextOf(s) } };
}

/** The first question not answered yet, or the verify step when all are. */
function advance(s: WizardState): WizardState {
  const next = questionsOf(s).find((q) => !s.answered.includes(q.key));
  return next ? decideStep(s, next.key) : enterVerify(s);
}

/** Esc from a question or from verify: reopen the last answered question, else the map. */
function reopenLast(s: WizardState): WizardState {
  const answered = [...s.answered];
  while (answered.length) {
    const key = answered.pop()!;
    if (questionByKey(s, key)) return log(decideStep({ ...s, answered }, key), 'back', `Back    to ${questionLabel(s, key)}`);
  }
  return { ...s, answered, effect: null, step: mapStep() };
}

function questionLabel(s: WizardState, key: string): string {
  if (key === TARGET_KEY) return 'the target profile';
  if (key === INPUT_SHAPE_KEY) return 'the input size';
  return key.split(':')[0];
}

function mapStep(): Step {
  return { kind: 'map', cursor: -1, offset: 0, detail: false };
}

function enterVerify(s: WizardState): WizardState {
  const plan = s.plan!;
  if (!plan.convertible) return { ...s, effect: null, step: { kind: 'verify', phase: 'blocked', progress: '', message: blockingText(plan) } };
  return withEffect({ ...s, step: { kind: 'verify', phase: 'running', progress: 'starting' } }, { kind: 'verify' });
}

function writeStep(s: WizardState, dir?: string): Step {
  return { kind: 'write', phase: 'folder', dir: dir ?? defaultOutDir(s), existing: [], progress: '' };
}

function verifyLine(st: Extract<Step, { kind: 'verify' }>): LogEntry {
  if (st.phase === 'done' && st.outcome) {
    const rows = st.outcome.outputs.length ? st.outcome.outputs : st.outcome.layers;
    const worst = rows.reduce((m, r) => Math.max(m, r.maxAbs ?? 0), 0);
    return {
      id: 0,
      mark: st.outcome.passed ? 'ok' : 'warn',
      text: `Verify  ${st.outcome.passed ? 'passed' : st.outcome.complete ? 'OVER TOLERANCE' : 'NOT VERIFIED'}: max abs error ${worst === 0 ? '0' : worst.toExponential(1)} on ${st.outcome.outputs.length} output${st.outcome.outputs.length === 1 ? '' : 's'} (tolerance ${st.outcome.tolerance})`,
    };
  }
  if (st.phase === 'unavailable') return { id: 0, mark: 'info', text: 'Verify  skipped: the numerical check is not available' };
  return { id: 0, mark: 'warn', text: `Verify  did not run: ${st.message ?? 'error'}` };
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, n));
}

/** The map table's new cursor and scroll offset after moving by `delta` rows. */
export function moveCursor(cursor: number, offset: number, delta: number, count: number, height: number): { cursor: number; offset: number } {
  const h = Math.max(1, height);
  const next = clamp(Number.isFinite(delta) ? cursor + delta : delta > 0 ? count - 1 : 0, -1, count - 1);
  let off = clamp(offset, 0, Math.max(0, count - h));
  if (next >= 0) {
    if (next < off) off = next;
    if (next >= off + h) off = next - h + 1;
  }
  return { cursor: next, offset: off };
}

// ---------------------------------------------------------------------------------------------
// The reducer.

export function reducer(s: WizardState, a: Action): WizardState {
  const st = s.step;
  switch (a.type) {
    case 'pick':
      return a.path.trim() ? startLoad({ ...s, overlay: null }, a.path.trim()) : s;
    case 'picker-typing':
      return st.kind === 'pick' ? { ...s, step: { ...st, typing: a.typing } } : s;
    case 'picker-text':
      return st.kind === 'pick' ? { ...s, step: { ...st, typed: a.text } } : s;

    case 'loaded':
      if (!isCurrent(s, a.id)) return s;
      return { ...s, effect: null, model: a.model, summary: a.model.summary, plan: a.plan, target: a.plan.target.name, step: { kind: 'summary' } };
    case 'planned':
      if (!isCurrent(s, a.id)) return s;
      return advance({ ...s, effect: null, plan: a.plan, target: a.plan.target.name });
    case 'failed': {
      if (!isCurrent(s, a.id)) return s;
      const kind = s.effect!.kind;
      let back: Step | null = null;
      if (kind === 'load') back = { kind: 'pick', typing: false, typed: '' };
      else if (kind === 'check-folder' || kind === 'write') back = st.kind === 'write' ? { ...st, phase: 'folder', progress: '' } : writeStep(s);
      else if (kind === 'plan') back = st.kind === 'decide' ? { ...st, planning: false } : mapStep();
      const next: WizardState = { ...s, effect: null, step: { kind: 'error', message: a.message, exitCode: a.exitCode, back } };
      // A failed re-plan leaves the answer unapplied: forget it so Esc/Enter returns to the question.
      if (kind === 'plan' && st.kind === 'decide') return { ...next, answered: s.answered.filter((k) => k !== st.key) };
      if (kind === 'load') return { ...next, model: null, summary: null, plan: null, modelPath: null };
      return next;
    }

    case 'next':
      switch (st.kind) {
        case 'summary':
          return log({ ...s, step: mapStep() }, 'ok', summaryLine(s.summary!));
        case 'map':
          return advance(log(s, 'ok', mapLine(s.plan!)));
        case 'verify':
          if (st.phase === 'running') return s;
          if (st.phase === 'blocked') return reopenLast(s);
          {
            const entry = verifyLine(st);
            return log({ ...s, lastVerify: st, step: writeStep(s) }, entry.mark, entry.text);
          }
        case 'done':
          return { ...s, exitCode: 0 };
        case 'error':
          return st.back ? { ...s, step: st.back } : { ...s, exitCode: st.exitCode };
        default:
          return s;
      }

    case 'back':
      if (s.overlay) return { ...s, overlay: null };
      switch (st.kind) {
        case 'pick':
          return st.typing ? { ...s, step: { ...st, typing: false } } : s;
        case 'loading':
          return { ...s, effect: null, modelPath: null, step: { kind: 'pick', typing: false, typed: '' } };
        case 'summary':
          return { ...s, model: null, summary: null, plan: null, modelPath: null, step: { kind: 'pick', typing: false, typed: '' } };
        case 'map':
          return st.detail ? { ...s, step: { ...st, detail: false } } : { ...s, step: { kind: 'summary' } };
        case 'decide':
          return st.planning ? s : reopenLast(s);
        case 'verify':
          return reopenLast({ ...s, effect: null });
        case 'write':
          if (st.phase === 'confirm') return { ...s, step: { ...st, phase: 'folder' } };
          if (st.phase !== 'folder') return s;
          return s.lastVerify && s.lastVerify.kind === 'verify' && s.lastVerify.phase !== 'running'
            ? { ...s, step: s.lastVerify }
            : enterVerify(s);
        case 'done':
          return { ...s, step: writeStep(s, st.files.dir) };
        case 'error':
          return st.back ? { ...s, step: st.back } : s;
      }
      return s;

    case 'map-move': {
      if (st.kind !== 'map' || st.detail || !s.plan) return s;
      const m = moveCursor(st.cursor, st.offset, a.delta, s.plan.layers.length, a.height);
      return { ...s, step: { ...st, ...m } };
    }
    case 'map-open':
      if (st.kind !== 'map') return s;
      if (st.cursor < 0) return reducer(s, { type: 'next' });
      return { ...s, step: { ...st, detail: true } };

    case 'shape-text':
      return st.kind === 'decide' ? { ...s, step: { ...st, text: a.text, error: undefined } } : s;
    case 'answer': {
      if (st.kind !== 'decide' || st.planning || st.key !== a.key) return s;
      const q = questionByKey(s, a.key);
      if (!q) return s;
      let next: WizardState = s;
      let shown = a.value;
      if (q.kind === 'input-shape') {
        let shape: [number, number];
        try {
          shape = parseInputShape(a.value);
        } catch {
          return { ...s, step: { ...st, text: a.value, error: `'${a.value.trim()}' is not H,W: type two positive integers, e.g. 224,224` } };
        }
        next = { ...s, inputShape: shape };
        shown = shape.join(',');
      } else if (q.kind === 'target') {
        if (!isTargetName(a.value)) return s;
        next = { ...s, target: a.value };
      } else {
        if (!q.decision.spec.options.some((o) => o.id === a.value)) return s;
        next = { ...s, decisions: { ...s.decisions, [a.key]: a.value } };
      }
      next = log({ ...next, answered: [...s.answered.filter((k) => k !== a.key), a.key] }, 'ok', answerLine(q, shown));
      return withEffect({ ...next, step: { ...st, planning: true, error: undefined } }, { kind: 'plan' });
    }

    case 'verify-progress':
      return isCurrent(s, a.id) && st.kind === 'verify' ? { ...s, step: { ...st, progress: a.message } } : s;
    case 'verified':
      return isCurrent(s, a.id) && st.kind === 'verify' ? { ...s, effect: null, step: { ...st, phase: 'done', outcome: a.outcome } } : s;
    case 'verify-unavailable':
      return isCurrent(s, a.id) && st.kind === 'verify' ? { ...s, effect: null, step: { ...st, phase: 'unavailable', message: a.message } } : s;
    case 'verify-failed':
      return isCurrent(s, a.id) && st.kind === 'verify' ? { ...s, effect: null, step: { ...st, phase: 'failed', message: a.message } } : s;

    case 'folder-text':
      return st.kind === 'write' && st.phase === 'folder' ? { ...s, step: { ...st, dir: a.text } } : s;
    case 'folder-submit': {
      if (st.kind !== 'write' || st.phase !== 'folder') return s;
      const dir = resolve(s.cwd, st.dir.trim() || defaultOutDir(s));
      return withEffect({ ...s, step: { ...st, dir, phase: 'checking' } }, { kind: 'check-folder', dir });
    }
    case 'folder-checked':
      if (!isCurrent(s, a.id) || st.kind !== 'write') return s;
      if (a.existing.length) return { ...s, effect: null, step: { ...st, phase: 'confirm', existing: a.existing } };
      return withEffect({ ...s, step: { ...st, phase: 'writing', existing: [], progress: '' } }, { kind: 'write', dir: st.dir });
    case 'overwrite':
      if (st.kind !== 'write' || st.phase !== 'confirm') return s;
      if (!a.yes) return { ...s, step: { ...st, phase: 'folder' } };
      return withEffect({ ...s, step: { ...st, phase: 'writing', progress: '' } }, { kind: 'write', dir: st.dir });
    case 'write-progress':
      return isCurrent(s, a.id) && st.kind === 'write' ? { ...s, step: { ...st, progress: a.message } } : s;
    case 'written':
      if (!isCurrent(s, a.id)) return s;
      return log(
        { ...s, effect: null, written: true, step: { kind: 'done', files: a.files } },
        'ok',
        `Write   ${basename(a.files.prototxt)}, ${basename(a.files.caffemodel)}, ${basename(a.files.plan)} in ${a.files.dir}`,
      );

    case 'help':
      return { ...s, overlay: a.open ? 'help' : null };
    case 'quit':
      if (st.kind === 'done') return { ...s, exitCode: 0 };
      if (isDirty(s)) return { ...s, overlay: 'quit' };
      return { ...s, exitCode: st.kind === 'error' ? st.exitCode : 0 };
    case 'quit-confirm':
      if (!a.yes) return { ...s, overlay: null };
      return { ...s, overlay: null, exitCode: st.kind === 'error' ? st.exitCode : 0 };
    case 'exit':
      return { ...s, exitCode: a.code };
  }
  return s;
}

/** The step's place in the five-step journey, for the header. */
export function stepNumber(kind: StepKind): { n: number; name: string } {
  switch (kind) {
    case 'pick':
      return { n: 0, name: 'Pick a model' };
    case 'loading':
    case 'summary':
      return { n: 1, name: 'Load' };
    case 'map':
      return { n: 2, name: 'Map' };
    case 'decide':
      return { n: 3, name: 'Decide' };
    case 'verify':
      return { n: 4, name: 'Verify' };
    case 'write':
    case 'done':
      return { n: 5, name: 'Write' };
    case 'error':
      return { n: -1, name: 'Error' };
  }
}
