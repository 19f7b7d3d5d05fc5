/** The wizard's reducer: pure transitions between steps, and the effects each step asks for. */
import { describe, expect, it } from 'vitest';
import type { LoadedModel } from '../src/core/model.js';
import type { LayerPlan, Plan } from '../src/core/planner.js';
import { TARGETS } from '../src/core/targets.js';
import type { DecisionSpec } from '../src/mappings/types.js';
import {
  INPUT_SHAPE_KEY,
  TARGET_KEY,
  initialState,
  isTyping,
  moveCursor,
  questionView,
  questionsOf,
  reducer,
  type Action,
  type WizardState,
} from '../src/tui/state.js';

const ZEROPAD: DecisionSpec = {
  id: 'zeropad',
  question: 'ZeroPadding2D pads top 1, bottom 1, left 1, right 1. How should Caffe do it?',
  options: [
    { id: 'fold', label: 'Fold into the next Conv2D padding', exact: true, detail: 'no extra layer' },
    { id: 'keep', label: 'Keep as an exact pad layer', exact: true },
    { id: 'drop', label: 'Drop it', exact: false, error: 'shapes shrink' },
  ],
  default: 'fold',
  diagram: 'rows    Keras: P..P   Caffe pad_h=1: P..P',
};
const HANDLER: DecisionSpec = {
  id: 'handler',
  question: "Lambda 'scale' has no Caffe equivalent. What should the converter do?",
  options: [
    { id: 'stop', label: 'Stop', exact: true },
    { id: 'cut', label: 'Cut the net before this layer', exact: true },
  ],
  default: 'stop',
};

function layer(name: string, className: string, extra: Partial<LayerPlan> = {}): LayerPlan {
  return {
    layer: { name, kerasName: name, className, config: {}, inputs: [], outputs: [name], weights: { group: name }, scope: [] },
    inputShapes: [],
    outputShapes: [[8, 8, 3]],
    status: 'exact',
    caffeLayers: [],
    outputs: [],
    decisions: [],
    ...extra,
  };
}

/** A plan as the planner would return it for the given answers (the reducer only reads it). */
function fakePlan(decisions: Record<string, string> = {}, opts: { lambda?: boolean; target?: keyof typeof TARGETS } = {}): Plan {
  const layers: LayerPlan[] = [layer('input_1', 'InputLayer')];
  const zp = decisions['zp:zeropad'] ?? 'fold';
  layers.push(layer('zp', 'ZeroPadding2D', { status: zp === 'drop' ? 'inexact' : 'decision', decisions: [{ key: 'zp:zeropad', spec: ZEROPAD, chosen: zp }] }));
  for (let i = 0; i < 18; i++) layers.push(layer(`conv_${i}`, 'Conv2D'));
  let convertible = true;
  if (opts.lambda) {
    const h = decisions['scale:handler'] ?? 'stop';
    layers.push(layer('scale', 'Lambda', { status: h === 'stop' ? 'unsupported' : 'cut', reason: h === 'stop' ? 'runs Python code' : 'cut', decisions: [{ key: 'scale:handler', spec: HANDLER, chosen: h }] }));
    convertible = h !== 'stop';
  }
  const decided: Record<string, string> = {};
  for (const l of layers) for (const d of l.decisions) decided[d.key] = d.chosen;
  return {
    modelName: 'm',
    target: TARGETS[opts.target ?? 'caffe-1.0'],
    layers,
    inputs: [],
    outputs: convertible ? [{ name: 'conv_17', tensor: 'conv_17', blob: 'conv_17', kerasShape: [8, 8, 3], caffeShape: [1, 3, 8, 8], layout: { kind: 'nchw' } }] : [],
    tensorBlobs: new Map(),
    decisions: decided,
    problems: [],
    convertible,
  };
}

function fakeModel(shape: (number | null)[] = [8, 8, 3]): LoadedModel {
  return {
    file: { close() {} } as unknown as LoadedModel['file'],
    graph: {} as LoadedModel['graph'],
    summary: {
      path: '/models/m.h5',
      kerasVersion: '2.2.4',
      backend: 'tensorflow',
      format: 'keras2',
      layerCount: 21,
      parameterCount: 1234,
      weightBytes: 4936,
      inputs: [{ name: 'input_1', shape }],
      outputs: ['conv_17'],
    },
  };
}

function run(s: WizardState, ...actions: Action[]): WizardState {
  return actions.reduce(reducer, s);
}

function loaded(opts: { lambda?: boolean; shape?: (number | null)[] } = {}): WizardState {
  const s = initialState({ cwd: '/work', entries: [], modelPath: '/models/m.h5' });
  return reducer(s, { type: 'loaded', id: s.effect!.id, model: fakeModel(opts.shape), plan: fakePlan({}, opts) });
}

/** Completes a pending plan effect the way the effect runner would. */
function replan(s: WizardState, opts: { lambda?: boolean } = {}): WizardState {
  expect(s.effect?.kind).toBe('plan');
  return reducer(s, { type: 'planned', id: s.effect!.id, plan: fakePlan(s.decisions, { ...opts, target: s.target }) });
}

describe('wizard state', () => {
  it('starts in the picker without a model and loading with one', () => {
    const pick = initialState({ cwd: '/work', entries: [] });
    expect(pick.step).toEqual({ kind: 'pick', typing: false, typed: '' });
    expect(pick.effect).toBeNull();
    const load = initialState({ cwd: '/work', entries: [], modelPath: 'm.h5' });
    expect(load.step).toEqual({ kind: 'loading', path: 'm.h5' });
    expect(load.effect).toMatchObject({ kind: 'load', path: 'm.h5' });
  });

  it('shows the summary when the load effect answers, and ignores stale answers', () => {
    const s = initialState({ cwd: '/work', entries: [], modelPath: '/models/m.h5' });
    const stale = reducer(s, { type: 'loaded', id: s.effect!.id + 7, model: fakeModel(), plan: fakePlan() });
    expect(stale).toBe(s);
    const ok = loaded();
    expect(ok.step.kind).toBe('summary');
    expect(ok.effect).toBeNull();
    expect(ok.target).toBe('caffe-1.0');
  });

  it('a failed load shows the error screen; Enter goes back to the picker', () => {
    const s = initialState({ cwd: '/work', entries: [], modelPath: 'nope.h5' });
    const err = reducer(s, { type: 'failed', id: s.effect!.id, message: 'nope.h5: no such file; check the path', exitCode: 2 });
    expect(err.step).toMatchObject({ kind: 'error', message: 'nope.h5: no such file; check the path', exitCode: 2 });
    expect(reducer(err, { type: 'next' }).step.kind).toBe('pick');
    expect(reducer(err, { type: 'back' }).step.kind).toBe('pick');
  });

  it('moves from the summary to the map, logging the finished step', () => {
    const s = run(loaded(), { type: 'next' });
    expect(s.step).toEqual({ kind: 'map', cursor: -1, offset: 0, detail: false });
    expect(s.history).toHaveLength(1);
    expect(s.history[0].text).toBe('Model   m.h5: Keras 2.2.4 (tensorflow), 21 layers, 1,234 params, (8,8,3)');
  });

  it('scrolls the map so the cursor stays visible', () => {
    expect(moveCursor(-1, 0, 1, 20, 5)).toEqual({ cursor: 0, offset: 0 });
    expect(moveCursor(4, 0, 1, 20, 5)).toEqual({ cursor: 5, offset: 1 });
    expect(moveCursor(5, 1, -1, 20, 5)).toEqual({ cursor: 4, offset: 1 });
    expect(moveCursor(1, 1, -1, 20, 5)).toEqual({ cursor: 0, offset: 0 });
    expect(moveCursor(0, 0, -1, 20, 5)).toEqual({ cursor: -1, offset: 0 });
    expect(moveCursor(0, 0, Infinity, 20, 5)).toEqual({ cursor: 19, offset: 15 });
    expect(moveCursor(19, 15, -Infinity, 20, 5)).toEqual({ cursor: 0, offset: 0 });
    expect(moveCursor(3, 0, 100, 20, 5)).toEqual({ cursor: 19, offset: 15 });
    let s = run(loaded(), { type: 'next' });
    for (let i = 0; i < 8; i++) s = reducer(s, { type: 'map-move', delta: 1, height: 5 });
    expect(s.step).toMatchObject({ kind: 'map', cursor: 7, offset: 3 });
  });

  it('opens a layer explanation with Enter and closes it with Esc', () => {
    let s = run(loaded(), { type: 'next' }, { type: 'map-move', delta: 2, height: 5 }, { type: 'map-open' });
    expect(s.step).toMatchObject({ kind: 'map', cursor: 1, detail: true });
    s = reducer(s, { type: 'back' });
    expect(s.step).toMatchObject({ kind: 'map', cursor: 1, detail: false });
    expect(reducer(s, { type: 'back' }).step.kind).toBe('summary');
  });

  it('asks the target, then each open decision in plan order; Enter on Continue starts them', () => {
    const s = run(loaded(), { type: 'next' }, { type: 'map-open' });
    expect(s.step).toMatchObject({ kind: 'decide', key: TARGET_KEY, planning: false });
    expect(questionsOf(s).map((q) => q.key)).toEqual([TARGET_KEY, 'zp:zeropad']);
    const view = questionView(s, questionsOf(s)[0]);
    expect(view.options.map((o) => o.id)).toEqual(Object.keys(TARGETS));
    expect(view.chosen).toBe('caffe-1.0');
    const zp = questionView(s, questionsOf(s)[1]);
    expect(zp).toMatchObject({ chosen: 'fold', planDefault: 'fold', diagram: ZEROPAD.diagram, exactness: true });
  });

  it('the fast path: accepting every proposal ends with the write effect and files written', () => {
    let s = run(loaded(), { type: 'next' }, { type: 'next' });
    s = replan(reducer(s, { type: 'answer', key: TARGET_KEY, value: 'caffe-1.0' }));
    expect(s.step).toMatchObject({ kind: 'decide', key: 'zp:zeropad' });
    s = replan(reducer(s, { type: 'answer', key: 'zp:zeropad', value: 'fold' }));
    expect(s.step).toMatchObject({ kind: 'verify', phase: 'running' });
    expect(s.effect?.kind).toBe('verify');
    s = reducer(s, { type: 'verify-unavailable', id: s.effect!.id, message: 'not available' });
    expect(s.step).toMatchObject({ kind: 'verify', phase: 'unavailable' });
    s = reducer(s, { type: 'next' });
    expect(s.step).toMatchObject({ kind: 'write', phase: 'folder', dir: '/models' });
    s = reducer(s, { type: 'folder-submit' });
    expect(s.effect).toMatchObject({ kind: 'check-folder', dir: '/models' });
    s = reducer(s, { type: 'folder-checked', id: s.effect!.id, existing: [] });
    expect(s.step).toMatchObject({ kind: 'write', phase: 'writing' });
    expect(s.effect).toMatchObject({ kind: 'write', dir: '/models' });
    const files = { dir: '/models', prototxt: '/models/m.prototxt', caffemodel: '/models/m.caffemodel', plan: '/models/m.plan.json', caffemodelBytes: 10, warnings: [] };
    s = reducer(s, { type: 'written', id: s.effect!.id, files });
    expect(s.step).toEqual({ kind: 'done', files });
    expect(s.written).toBe(true);
    expect(s.history.map((h) => h.text.split(/\s+/)[0])).toEqual(['Model', 'Map', 'Decide', 'Decide', 'Verify', 'Write']);
    expect(s.decisions).toEqual({ 'zp:zeropad': 'fold' });
    expect(reducer(s, { type: 'next' }).exitCode).toBe(0);
    expect(reducer(s, { type: 'quit' }).exitCode).toBe(0);
  });

  it('records a non-default answer and re-plans with it', () => {
    let s = run(loaded(), { type: 'next' }, { type: 'next' });
    s = replan(reducer(s, { type: 'answer', key: TARGET_KEY, value: 'opencv' }));
    expect(s.target).toBe('opencv');
    s = reducer(s, { type: 'answer', key: 'zp:zeropad', value: 'drop' });
    expect(s.decisions).toEqual({ 'zp:zeropad': 'drop' });
    expect(s.step).toMatchObject({ kind: 'decide', planning: true });
    expect(s.history.at(-1)!.text).toBe('Decide  zp = drop (not exact): Drop it');
    // An unknown option id is not an answer.
    const bad = run(loaded(), { type: 'next' }, { type: 'next' }, { type: 'answer', key: TARGET_KEY, value: 'tensorrt' });
    expect(bad.step).toMatchObject({ kind: 'decide', planning: false });
  });

  it('Esc goes back one question, then to the map; the earlier answer stays pre-selected', () => {
    let s = run(loaded(), { type: 'next' }, { type: 'next' });
    s = replan(reducer(s, { type: 'answer', key: TARGET_KEY, value: 'bvlc' }));
    expect(s.step).toMatchObject({ kind: 'decide', key: 'zp:zeropad' });
    s = reducer(s, { type: 'back' });
    expect(s.step).toMatchObject({ kind: 'decide', key: TARGET_KEY });
    expect(s.answered).toEqual([]);
    expect(questionView(s, questionsOf(s)[0]).chosen).toBe('bvlc');
    s = reducer(s, { type: 'back' });
    expect(s.step.kind).toBe('map');
  });

  it('an unconvertible plan blocks at Verify; Enter reopens the last question', () => {
    let s = run(loaded({ lambda: true }), { type: 'next' }, { type: 'next' });
    expect(questionsOf(s).map((q) => q.key)).toEqual([TARGET_KEY, 'zp:zeropad', 'scale:handler']);
    s = replan(reducer(s, { type: 'answer', key: TARGET_KEY, value: 'caffe-1.0' }), { lambda: true });
    s = replan(reducer(s, { type: 'answer', key: 'zp:zeropad', value: 'fold' }), { lambda: true });
    expect(questionView(s, questionsOf(s)[2]).chosen).toBe('stop');
    s = replan(reducer(s, { type: 'answer', key: 'scale:handler', value: 'stop' }), { lambda: true });
    expect(s.step).toMatchObject({ kind: 'verify', phase: 'blocked' });
    expect((s.step as { message: string }).message).toMatch(/'scale' \(Lambda\): runs Python code/);
    expect(s.effect).toBeNull();
    s = reducer(s, { type: 'next' });
    expect(s.step).toMatchObject({ kind: 'decide', key: 'scale:handler' });
    s = replan(reducer(s, { type: 'answer', key: 'scale:handler', value: 'cut' }), { lambda: true });
    expect(s.step).toMatchObject({ kind: 'verify', phase: 'running' });
  });

  it('asks for H,W first when an input has unknown height/width, and validates it', () => {
    let s = run(loaded({ shape: [null, null, 3] }), { type: 'next' }, { type: 'next' });
    expect(s.step).toMatchObject({ kind: 'decide', key: INPUT_SHAPE_KEY, text: '224,224' });
    expect(isTyping(s)).toBe(true);
    s = reducer(s, { type: 'answer', key: INPUT_SHAPE_KEY, value: '12 by 7' });
    expect(s.step).toMatchObject({ kind: 'decide', key: INPUT_SHAPE_KEY, planning: false, error: "'12 by 7' is not H,W: type two positive integers, e.g. 224,224" });
    s = reducer(s, { type: 'answer', key: INPUT_SHAPE_KEY, value: '96x128' });
    expect(s.inputShape).toEqual([96, 128]);
    expect(s.history.at(-1)!.text).toBe('Decide  input size = 96,128');
    expect(s.effect?.kind).toBe('plan');
    s = replan(s);
    expect(s.step).toMatchObject({ kind: 'decide', key: TARGET_KEY });
    expect(isTyping(s)).toBe(false);
  });

  it('asks before overwriting, and n goes back to the folder', () => {
    let s = run(loaded(), { type: 'next' }, { type: 'next' });
    s = replan(reducer(s, { type: 'answer', key: TARGET_KEY, value: 'caffe-1.0' }));
    s = replan(reducer(s, { type: 'answer', key: 'zp:zeropad', value: 'fold' }));
    s = run(s, { type: 'verify-unavailable', id: s.effect!.id, message: 'x' }, { type: 'next' }, { type: 'folder-text', text: 'out' }, { type: 'folder-submit' });
    expect(s.effect).toMatchObject({ kind: 'check-folder', dir: '/work/out' });
    s = reducer(s, { type: 'folder-checked', id: s.effect!.id, existing: ['m.prototxt', 'm.caffemodel'] });
    expect(s.step).toMatchObject({ kind: 'write', phase: 'confirm', existing: ['m.prototxt', 'm.caffemodel'] });
    const no = reducer(s, { type: 'overwrite', yes: false });
    expect(no.step).toMatchObject({ kind: 'write', phase: 'folder', dir: '/work/out' });
    expect(reducer(s, { type: 'back' }).step).toMatchObject({ kind: 'write', phase: 'folder' });
    const yes = reducer(s, { type: 'overwrite', yes: true });
    expect(yes.effect).toMatchObject({ kind: 'write', dir: '/work/out' });
    // A folder that cannot be used: the error screen, and back to the folder field.
    const err = reducer(no, { type: 'folder-submit' });
    const failed = reducer(err, { type: 'failed', id: err.effect!.id, message: 'folder /work/out is not writable; type another folder', exitCode: 2 });
    expect(failed.step).toMatchObject({ kind: 'error', back: { kind: 'write', phase: 'folder', dir: '/work/out' } });
  });

  it('proposes --out as the folder when given', () => {
    const s = initialState({ cwd: '/work', entries: [], modelPath: 'm.h5', outDir: 'build' });
    const l = reducer(s, { type: 'loaded', id: s.effect!.id, model: fakeModel(), plan: fakePlan() });
    let t = run(l, { type: 'next' }, { type: 'next' });
    t = replan(reducer(t, { type: 'answer', key: TARGET_KEY, value: 'caffe-1.0' }));
    t = replan(reducer(t, { type: 'answer', key: 'zp:zeropad', value: 'fold' }));
    t = run(t, { type: 'verify-failed', id: t.effect!.id, message: 'boom' }, { type: 'next' });
    expect(t.step).toMatchObject({ kind: 'write', dir: '/work/build' });
  });

  it('q asks first when nothing is written; ? opens the help; Esc closes overlays', () => {
    const s = run(loaded(), { type: 'next' });
    const q = reducer(s, { type: 'quit' });
    expect(q.overlay).toBe('quit');
    expect(q.exitCode).toBeNull();
    expect(reducer(q, { type: 'quit-confirm', yes: false }).overlay).toBeNull();
    expect(reducer(q, { type: 'back' }).overlay).toBeNull();
    expect(reducer(q, { type: 'quit-confirm', yes: true }).exitCode).toBe(0);
    expect(reducer(initialState({ cwd: '/', entries: [] }), { type: 'quit' }).exitCode).toBe(0);
    expect(reducer(s, { type: 'help', open: true }).overlay).toBe('help');
  });

  it('typing in the picker and the folder field is text, not commands', () => {
    let s = initialState({ cwd: '/work', entries: [] });
    expect(isTyping(s)).toBe(false);
    s = run(s, { type: 'picker-typing', typing: true }, { type: 'picker-text', text: 'models/q.h5' });
    expect(isTyping(s)).toBe(true);
    expect(s.step).toEqual({ kind: 'pick', typing: true, typed: 'models/q.h5' });
    expect(reducer(s, { type: 'back' }).step).toMatchObject({ typing: false });
    s = reducer(s, { type: 'pick', path: 'models/q.h5' });
    expect(s.effect).toMatchObject({ kind: 'load', path: 'models/q.h5' });
    // Esc while loading cancels: the late answer is ignored.
    const cancelled = reducer(s, { type: 'back' });
    expect(cancelled.step.kind).toBe('pick');
    expect(reducer(cancelled, { type: 'loaded', id: s.effect!.id, model: fakeModel(), plan: fakePlan() })).toBe(cancelled);
  });

  it('keeps the verification outcome when going back from Write', () => {
    let s = run(loaded(), { type: 'next' }, { type: 'next' });
    s = replan(reducer(s, { type: 'answer', key: TARGET_KEY, value: 'caffe-1.0' }));
    s = replan(reducer(s, { type: 'answer', key: 'zp:zeropad', value: 'fold' }));
    const outcome = { passed: true, outputs: [{ name: 'conv_17', kind: 'output', maxAbs: 1e-7, maxRel: 2e-7, passed: true }], layers: [], tolerance: 1e-4, complete: true, notes: [] };
    s = run(s, { type: 'verify-progress', id: s.effect!.id, message: 'running' });
    expect(s.step).toMatchObject({ phase: 'running', progress: 'running' });
    s = run(s, { type: 'verified', id: s.effect!.id, outcome }, { type: 'next' });
    expect(s.history.at(-1)!.text).toBe('Verify  passed: max abs error 1.0e-7 on 1 output (tolerance 0.0001)');
    s = reducer(s, { type: 'back' });
    expect(s.step).toMatchObject({ kind: 'verify', phase: 'done', outcome });
    expect(s.effect).toBeNull();
  });
});
