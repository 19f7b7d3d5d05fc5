/** The wizard's screens with ink-testing-library: keys in, frames out. */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render as inkRender, type Instance } from 'ink';
import { render } from 'ink-testing-library';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import chalk from 'chalk';
import type { LoadedModel } from '../src/core/model.js';
import type { LayerPlan, Plan } from '../src/core/planner.js';
import { TARGETS } from '../src/core/targets.js';
import type { DecisionSpec, Explanation } from '../src/mappings/types.js';
import { App } from '../src/tui/App.js';
import type { EffectDeps } from '../src/tui/effects.js';
import { describeError, normalizeVerification } from '../src/tui/effects.js';
import { packageRoot, pickerEntries } from '../src/tui/paths.js';
import { runWizard } from '../src/tui/run.js';
import { Decision } from '../src/tui/screens/Decision.js';
import { LayerDetail } from '../src/tui/screens/LayerDetail.js';
import { MapTable } from '../src/tui/screens/MapTable.js';
import { ModelPicker } from '../src/tui/screens/ModelPicker.js';
import { Write } from '../src/tui/screens/Write.js';
import { initialState, moveCursor, questionView, type QuestionView, type WizardState } from '../src/tui/state.js';
import { colorLevel, trunc, wrap } from '../src/tui/theme.js';
import { UserError } from '../src/core/errors.js';

const ENTER = '\r';
const DOWN = '\u001B[B';
const UP = '\u001B[A';
const ESC = '\u001B';
const tick = (ms = 100) => new Promise((r) => setTimeout(r, ms));
/** Waits until the rendered frame satisfies `ok` (key handling is asynchronous; slow under load). */
async function frameUntil(r: { lastFrame(): string | undefined }, ok: (frame: string) => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok(r.lastFrame() ?? '') && Date.now() < end) await tick(20);
}

/** Escape is only known to be alone after Ink's short wait for a following sequence byte. */
const ESC_WAIT = 120;

const ZEROPAD: DecisionSpec = {
  id: 'zeropad',
  question: 'ZeroPadding2D pads top 1, bottom 1, left 1, right 1. How should Caffe do it?',
  options: [
    { id: 'fold', label: 'Fold into the next Conv2D padding', exact: true, detail: 'no extra layer' },
    { id: 'keep', label: 'Keep as an exact pad layer (one-hot grouped Deconvolution)', exact: true, detail: 'one extra cheap layer' },
    { id: 'drop', label: 'Drop it', exact: false, error: 'the following layers see an unpadded tensor: shapes shrink' },
  ],
  default: 'fold',
  diagram: 'rows    Keras: P......P   Caffe pad_h=1: P......P\ncolumns Keras: P......P   Caffe pad_w=1: P......P',
};

const CONV_EXPLANATION: Explanation = {
  summary: 'Conv2D 3×3 with 64 filters → Caffe Convolution + ReLU.',
  params: [
    ['filters', 'num_output'],
    ['kernel_size', 'kernel_size'],
  ],
  weights: [
    { from: 'kernel (3,3,32,64) HWIO', to: 'blobs[0] (64,32,3,3) OIHW', transform: 'hwioToOihw' },
    { from: 'bias (64)', to: 'blobs[1] (64)', transform: 'copy' },
  ],
  notes: ['Padding top 1, bottom 1, left 1, right 1 is symmetric, so Caffe pad 1 is exact.'],
};

function layer(name: string, className: string, extra: Partial<LayerPlan> = {}): LayerPlan {
  return {
    layer: { name, kerasName: name, className, config: {}, inputs: [], outputs: [name], weights: { group: name }, scope: [] },
    inputShapes: [[8, 8, 32]],
    outputShapes: [[8, 8, 64]],
    status: 'exact',
    caffeLayers: [{ name, type: 'Convolution', bottom: ['in'], top: [name] }],
    outputs: [],
    explanation: CONV_EXPLANATION,
    decisions: [],
    ...extra,
  };
}

function fakePlan(decisions: Record<string, string> = {}, n = 20, target: keyof typeof TARGETS = 'caffe-1.0'): Plan {
  const zp = decisions['zp:zeropad'] ?? 'fold';
  const layers: LayerPlan[] = [
    layer('input_1', 'InputLayer', { caffeLayers: [{ name: 'input_1', type: 'Input', bottom: [], top: ['input_1'] }], explanation: undefined }),
    layer('zp', 'ZeroPadding2D', { status: zp === 'drop' ? 'inexact' : 'decision', caffeLayers: [], decisions: [{ key: 'zp:zeropad', spec: ZEROPAD, chosen: zp }] }),
  ];
  for (let i = 0; layers.length < n; i++) layers.push(layer(`conv_${i}`, 'Conv2D'));
  const decided: Record<string, string> = {};
  for (const l of layers) for (const d of l.decisions) decided[d.key] = d.chosen;
  return {
    modelName: 'm',
    target: TARGETS[target],
    layers,
    inputs: [],
    outputs: [{ name: 'conv_9', tensor: 'conv_9', blob: 'conv_9', kerasShape: [8, 8, 64], caffeShape: [1, 64, 8, 8], layout: { kind: 'nchw' } }],
    tensorBlobs: new Map(),
    decisions: decided,
    problems: [],
    convertible: true,
  };
}

function fakeModel(): LoadedModel {
  return {
    file: { close: vi.fn() } as unknown as LoadedModel['file'],
    graph: {} as LoadedModel['graph'],
    summary: {
      path: '/models/m.h5',
      kerasVersion: '2.2.4',
      backend: 'tensorflow',
      format: 'keras2',
      layerCount: 20,
      parameterCount: 1234,
      weightBytes: 4936,
      inputs: [{ name: 'input_1', shape: [8, 8, 32] }],
      outputs: ['conv_9'],
    },
  };
}

function fakeDeps(over: Partial<EffectDeps> = {}) {
  const writes: { paths: unknown; planFile: unknown }[] = [];
  const deps: EffectDeps = {
    loadModel: async () => fakeModel(),
    planConversion: (_g, _f, options) => fakePlan(options.decisions, 20, options.target),
    buildNet: () => ({ name: 'm', layers: [] }),
    writeOutputs: (async (_net: unknown, paths: { prototxt: string; caffemodel: string; plan: string }, opts: { planFile?: unknown } = {}) => {
      writes.push({ paths, planFile: opts.planFile });
      if (paths.prototxt.startsWith(tmpdir())) {
        writeFileSync(paths.prototxt, 'name: "m"\n');
        writeFileSync(paths.caffemodel, new Uint8Array([1, 2, 3]));
      }
      return { prototxt: paths.prototxt, caffemodel: paths.caffemodel, plan: paths.plan, caffemodelBytes: 2048 };
    }) as EffectDeps['writeOutputs'],
    importVerifier: async () => null,
    tmpdir,
    ...over,
  };
  return { deps, writes };
}

async function waitFor(frame: () => string | undefined, re: RegExp, ms = 3000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const f = frame() ?? '';
    if (re.test(f)) return f;
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}; last frame:\n${f}`);
    await tick(15);
  }
}

/** Ink on a fake 80×24 terminal (ink-testing-library's is 100 columns and has no rows). */
class Term extends EventEmitter {
  columns = 80;
  rows = 24;
  isTTY = true;
  frames: string[] = [];
  write = (f: string) => {
    this.frames.push(f);
    return true;
  };
  last = () => this.frames.at(-1) ?? '';
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function renderApp(initial: WizardState, deps: EffectDeps, onExit?: (c: number) => void) {
  const r = render(<App initial={initial} deps={deps} onExit={onExit} />);
  cleanups.push(() => r.unmount());
  return r;
}

describe('MapTable', () => {
  function Harness({ plan, height, onOpen, onContinue }: { plan: Plan; height: number; onOpen(i: number): void; onContinue(): void }) {
    const [pos, setPos] = useState({ cursor: -1, offset: 0 });
    return (
      <MapTable
        plan={plan}
        cursor={pos.cursor}
        offset={pos.offset}
        height={height}
        width={80}
        isActive
        questions={2}
        onMove={(d) => setPos((p) => moveCursor(p.cursor, p.offset, d, plan.layers.length, height))}
        onOpen={() => onOpen(pos.cursor)}
        onContinue={onContinue}
      />
    );
  }

  it('scrolls with arrows and j/k, keeping the cursor row visible', async () => {
    const opened: number[] = [];
    const r = render(<Harness plan={fakePlan({}, 20)} height={5} onOpen={(i) => opened.push(i)} onContinue={() => {}} />);
    cleanups.push(() => r.unmount());
    await tick();
    let f = r.lastFrame()!;
    expect(f).toContain('› Continue → 2 questions to answer');
    expect(f).toMatch(/Keras layer +class +output +Caffe +st/);
    expect(f).toContain('rows 1–5 of 20 ↓');
    expect(f).toMatch(/zp +ZeroPadding2D +\(8,8,64\) +\(none\) +\?/);
    expect(f).not.toContain('conv_3 ');
    for (const k of [DOWN, 'j', DOWN, 'j', DOWN, DOWN, 'j']) {
      r.stdin.write(k);
      await tick();
    }
    f = r.lastFrame()!;
    expect(f).toMatch(/› conv_4 +Conv2D/);
    expect(f).toContain('↑ rows 3–7 of 20 ↓');
    expect(f).not.toMatch(/ input_1 /);
    expect(f).toContain('conv_4: exact  (Enter: how it maps)');
    r.stdin.write('k');
    await tick();
    expect(r.lastFrame()).toMatch(/› conv_3 +Conv2D/);
    r.stdin.write('G');
    await tick();
    f = r.lastFrame()!;
    expect(f).toMatch(/› conv_17 +Conv2D/);
    expect(f).toContain('rows 16–20 of 20');
    r.stdin.write(ENTER);
    await tick();
    expect(opened).toEqual([19]);
    r.stdin.write('g');
    await tick();
    expect(r.lastFrame()).toMatch(/› input_1 +InputLayer/);
  });

  it('truncates long names with …', async () => {
    const plan = fakePlan({}, 3);
    plan.layers[2] = layer('a_really_long_layer_name_from_a_nested_model_block', 'SomeVeryLongCustomLayerClass');
    const r = render(<MapTable plan={plan} cursor={-1} offset={0} height={5} width={80} isActive questions={0} onMove={() => {}} onOpen={() => {}} onContinue={() => {}} />);
    cleanups.push(() => r.unmount());
    await tick();
    const f = r.lastFrame()!;
    expect(f).toMatch(/ a_really_long_\w*… /);
    expect(f).toContain('SomeVeryLongCus…');
    for (const line of f.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });
});

describe('LayerDetail', () => {
  it('shows the parameter mapping, the weight layout transform with shapes, and notes', async () => {
    const r = render(<LayerDetail layer={layer('conv2d_1', 'Conv2D')} width={80} height={30} isActive onClose={() => {}} />);
    cleanups.push(() => r.unmount());
    await tick();
    const f = r.lastFrame()!;
    expect(f).toContain('conv2d_1 · Conv2D');
    expect(f).toContain('✓ exact');
    expect(f).toMatch(/filters +→ num_output/);
    expect(f).toContain('kernel (3,3,32,64) HWIO → blobs[0] (64,32,3,3) OIHW');
    expect(f).toContain('transform: hwioToOihw');
    expect(f).toContain('• Padding top 1, bottom 1, left 1, right 1 is symmetric');
  });

  it('scrolls a long explanation', async () => {
    const long = layer('conv2d_1', 'Conv2D', { explanation: { ...CONV_EXPLANATION, notes: Array.from({ length: 20 }, (_, i) => `note number ${i}`) } });
    const r = render(<LayerDetail layer={long} width={80} height={8} isActive onClose={() => {}} />);
    cleanups.push(() => r.unmount());
    await tick();
    expect(r.lastFrame()).toMatch(/lines 1–8 of \d+/);
    expect(r.lastFrame()).not.toContain('note number 19');
    for (let i = 0; i < 40; i++) r.stdin.write('j');
    await tick();
    expect(r.lastFrame()).toContain('note number 19');
  });
});

describe('Decision', () => {
  const view: QuestionView = {
    title: 'zp (ZeroPadding2D)',
    question: ZEROPAD.question,
    options: ZEROPAD.options,
    chosen: 'fold',
    planDefault: 'fold',
    diagram: ZEROPAD.diagram,
    exactness: true,
  };

  it('pre-selects the proposal, shows the diagram, and says what each option costs', async () => {
    const answers: string[] = [];
    const r = render(<Decision view={view} kind="layer" index={2} total={3} planning={false} width={80} isActive onAnswer={(v) => answers.push(v)} />);
    cleanups.push(() => r.unmount());
    await tick();
    let f = r.lastFrame()!;
    expect(f).toContain('Question 2 of 3 · zp (ZeroPadding2D)');
    expect(f).toContain('rows    Keras: P......P   Caffe pad_h=1: P......P');
    expect(f).toMatch(/› Fold into the next Conv2D padding +exact/);
    expect(f).toMatch(/ Drop it +NOT exact/);
    expect(f).toContain('Fold into the next Conv2D padding (proposed). Exact: no extra layer');
    r.stdin.write(DOWN);
    await tick();
    r.stdin.write(DOWN);
    await tick();
    f = r.lastFrame()!;
    expect(f).toMatch(/› Drop it/);
    expect(f).toContain('Drop it. Not exact: the following layers see an unpadded tensor: shapes shrink');
    r.stdin.write(UP);
    await tick();
    r.stdin.write(ENTER);
    await tick();
    expect(answers).toEqual(['keep']);
  });

  it('Enter alone accepts the proposal', async () => {
    const answers: string[] = [];
    const r = render(<Decision view={{ ...view, chosen: 'keep' }} kind="layer" index={1} total={1} planning={false} width={80} isActive onAnswer={(v) => answers.push(v)} />);
    cleanups.push(() => r.unmount());
    await tick();
    expect(r.lastFrame()).toMatch(/› Keep as an exact pad layer/);
    r.stdin.write(ENTER);
    await tick();
    expect(answers).toEqual(['keep']);
  });

  it('the target profile is a question too, with every profile', async () => {
    const s = initialState({ cwd: '/', entries: [] });
    const v = questionView({ ...s, plan: fakePlan() }, { kind: 'target', key: '@target' });
    const answers: string[] = [];
    const r = render(<Decision view={v} kind="target" index={1} total={2} planning={false} width={80} isActive onAnswer={(x) => answers.push(x)} />);
    cleanups.push(() => r.unmount());
    await tick();
    const f = r.lastFrame()!;
    expect(f).toMatch(/› caffe-1\.0 +BVLC Caffe 1\.0/);
    expect(f).toMatch(/ opencv +OpenCV DNN/);
    r.stdin.write('j');
    await frameUntil(r, (f) => /› bvlc/.test(f));
    r.stdin.write(ENTER);
    await tick();
    expect(answers).toEqual(['bvlc']);
  });
});

describe('Write', () => {
  const base = { kind: 'write' as const, dir: '/out', existing: ['m.prototxt', 'm.caffemodel'], progress: '' };

  it('asks before overwriting: y overwrites, n and Enter do not', async () => {
    const calls: boolean[] = [];
    const r = render(<Write step={{ ...base, phase: 'confirm' }} stem="m" width={80} isActive onText={() => {}} onSubmit={() => {}} onOverwrite={(y) => calls.push(y)} />);
    cleanups.push(() => r.unmount());
    await tick();
    expect(r.lastFrame()).toContain('m.prototxt, m.caffemodel already exist in this folder.');
    expect(r.lastFrame()).toContain('Overwrite? y overwrites');
    r.stdin.write('n');
    await tick();
    r.stdin.write(ENTER);
    await tick();
    r.stdin.write('y');
    await tick();
    expect(calls).toEqual([false, false, true]);
  });

  it('the folder field takes typing, Backspace and Enter', async () => {
    const texts: string[] = [];
    let submitted = 0;
    const r = render(<Write step={{ ...base, phase: 'folder', existing: [] }} stem="m" width={80} isActive onText={(t) => texts.push(t)} onSubmit={() => submitted++} onOverwrite={() => {}} />);
    cleanups.push(() => r.unmount());
    await tick();
    expect(r.lastFrame()).toContain('› /out');
    expect(r.lastFrame()).toContain('writes m.prototxt, m.caffemodel, m.plan.json (all three or none)');
    r.stdin.write('q');
    await tick();
    r.stdin.write('\u007f');
    await tick();
    r.stdin.write(ENTER);
    await tick();
    expect(texts).toEqual(['/outq', '/ou']);
    expect(submitted).toBe(1);
  });
});

describe('ModelPicker', () => {
  it('lists the models, the demo and "Type a path…"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2c-pick-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'b.h5'), '');
    writeFileSync(join(dir, 'a.keras'), '');
    writeFileSync(join(dir, 'notes.txt'), '');
    mkdirSync(join(dir, 'dir.h5'));
    const entries = pickerEntries(dir, '/pkg/fixtures/demo.h5');
    expect(entries.map((e) => e.kind)).toEqual(['file', 'file', 'demo', 'type']);
    const picked: string[] = [];
    const typing: boolean[] = [];
    const r = render(
      <ModelPicker cwd={dir} entries={entries} typing={false} typed="" width={80} height={20} isActive onPick={(p) => picked.push(p)} onTyping={(t) => typing.push(t)} onText={() => {}} />,
    );
    cleanups.push(() => r.unmount());
    await tick();
    const f = r.lastFrame()!;
    expect(f).toContain('2 model files in');
    expect(f).toMatch(/› a\.keras/);
    expect(f).toContain('/pkg/fixtures/demo.h5  (bundled demo)');
    expect(f).toContain('Type a path…');
    r.stdin.write(ENTER);
    await tick();
    expect(picked).toEqual([join(dir, 'a.keras')]);
    for (const k of [DOWN, DOWN, DOWN, ENTER]) {
      r.stdin.write(k);
      await tick();
    }
    expect(typing).toEqual([true]);
  });

  it('finds the package root (and so the bundled demo) from the module URL', () => {
    expect(existsSync(join(packageRoot(), 'package.json'))).toBe(true);
    expect(packageRoot('file:///opt/k2c/dist/tui/paths.js')).toBe('/opt/k2c/');
  });
});

describe('the App', () => {
  it('Enter at every step accepts the proposals and writes the files', async () => {
    const { deps, writes } = fakeDeps({
      importVerifier: async () => ({
        verifyConversion: async (o) => {
          o.onProgress?.('comparing');
          return {
            passed: true,
            outputs: [{ name: 'conv_9', kind: 'output', maxAbs: 2.4e-7, maxRel: 1.1e-6, top1: { keras: 1, caffe: 1, agree: true }, passed: true }],
            layers: [{ name: 'conv_0', kind: 'layer', maxAbs: 1e-7, maxRel: 3e-7, passed: true }],
          };
        },
      }),
    });
    const dir = mkdtempSync(join(tmpdir(), 'k2c-app-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const codes: number[] = [];
    const r = renderApp(initialState({ cwd: dir, entries: [], modelPath: 'm.h5' }), deps, (c) => codes.push(c));
    const frame = () => r.lastFrame();
    await waitFor(frame, /Press Enter to see how each layer maps/);
    expect(frame()).toContain('Parameters  1,234');
    const steps: RegExp[] = [/› Continue → 2 questions/, /Question 1 of 2 · Target profile/, /Question 2 of 2 · zp \(ZeroPadding2D\)/, /Caffe matches Keras within the tolerance/, /Output folder/, /✓ Written\./];
    for (const re of steps) {
      r.stdin.write(ENTER);
      await waitFor(frame, re);
      await tick();
    }
    const f = frame()!;
    expect(f).toContain(`prototxt    ${dir}/m.prototxt`);
    expect(f).toContain(`caffemodel  ${dir}/m.caffemodel (2.0 KB)`);
    expect(f).toContain(`plan        ${dir}/m.plan.json`);
    expect(f).toContain('keras2caffe convert m.h5 --plan m.plan.json --yes --out . --force');
    // Finished steps stay above (Ink <Static>).
    expect(f).toMatch(/✓ Model +m\.h5/);
    expect(f).toMatch(/✓ Decide +zp = fold \(exact\): Fold into the next Conv2D padding/);
    expect(f).toMatch(/✓ Verify +passed: max abs error 2\.4e-7/);
    expect(writes).toHaveLength(2); // the verify step's temp copy, then the real files
    expect(writes[1].planFile).toEqual({ keras2caffe: 1, model: 'm.h5', target: 'caffe-1.0', decisions: { 'zp:zeropad': 'fold' } });
    r.stdin.write(ENTER);
    await tick(50);
    expect(codes).toEqual([0]);
  });

  it('shows the verify table per output and per layer', async () => {
    const outcome = normalizeVerification(
      {
        passed: false,
        complete: true,
        tolerance: 1e-4,
        input: { kind: 'random', description: 'seeded random N(0,1), seed 1' },
        rows: [
          { name: 'conv_0', kind: 'layer', maxAbs: 0, maxRel: 0, passed: true },
          { name: 'prob', kind: 'output', maxAbs: 0.5, maxRel: 0.9, top1: { keras: 3, caffe: 5, agree: false }, passed: false },
        ],
        notes: [],
      },
      1e-4,
    );
    expect(outcome.layers[0].kind).toBe('layer');
    const s0 = initialState({ cwd: '/', entries: [] });
    const s: WizardState = { ...s0, modelPath: 'm.h5', model: fakeModel(), summary: fakeModel().summary, plan: fakePlan(), step: { kind: 'verify', phase: 'done', progress: '', outcome } };
    const r = renderApp(s, fakeDeps().deps);
    await tick();
    const f = r.lastFrame()!;
    expect(f).toContain('✗ Over the tolerance 0.0001');
    expect(f).toMatch(/output +prob +5\.0e-1 +9\.0e-1 +3≠5 ✗/);
    expect(f).toContain('input: seeded random N(0,1), seed 1');
    expect(f).toMatch(/layer +conv_0 +0 +0 +✓/);
  });

  it('says plainly when verification is not available', async () => {
    const r = renderApp(initialState({ cwd: '/work', entries: [], modelPath: '/models/m.h5' }), fakeDeps().deps);
    const frame = () => r.lastFrame();
    await waitFor(frame, /Press Enter to see/);
    for (const re of [/Continue/, /Target profile/, /zp \(ZeroPadding2D\)/, /Not verified\./]) {
      r.stdin.write(ENTER);
      await waitFor(frame, re);
      await tick();
    }
    expect(frame()).toContain('The numerical check is not available in this version of keras2caffe');
  });

  it('Enter on a layer opens its explanation, Esc goes back; ? and q open overlays', async () => {
    const r = renderApp(initialState({ cwd: '/work', entries: [], modelPath: '/models/m.h5' }), fakeDeps().deps);
    const frame = () => r.lastFrame();
    await waitFor(frame, /Press Enter to see/);
    r.stdin.write(ENTER);
    await waitFor(frame, /› Continue/);
    await tick();
    for (const k of [DOWN, DOWN, DOWN, ENTER]) {
      r.stdin.write(k);
      await tick();
    }
    await waitFor(frame, /kernel \(3,3,32,64\) HWIO → blobs\[0\] \(64,32,3,3\) OIHW/);
    r.stdin.write(ESC);
    await tick(ESC_WAIT);
    await waitFor(frame, /› conv_0 +Conv2D/);
    r.stdin.write('?');
    await waitFor(frame, /Keys/);
    expect(frame()).toContain('Esc         back one step');
    r.stdin.write('x');
    await waitFor(frame, /› conv_0/);
    r.stdin.write('q');
    await waitFor(frame, /Quit without writing\?/);
    r.stdin.write('n');
    await waitFor(frame, /› conv_0/);
    r.stdin.write(ESC);
    await tick(ESC_WAIT);
    await waitFor(frame, /Press Enter to see how each layer maps/);
  });

  it('errors show the one-line cause, never a stack', async () => {
    const { deps } = fakeDeps({
      loadModel: async () => {
        throw new UserError('m.h5 is not an HDF5 file; give a Keras .h5 model saved with model.save()\n    at secret (x.ts:1)');
      },
    });
    const r = renderApp(initialState({ cwd: '/work', entries: [], modelPath: 'm.h5' }), deps);
    const f = await waitFor(() => r.lastFrame(), /✗/);
    expect(f).toContain('✗ m.h5 is not an HDF5 file; give a Keras .h5 model saved with model.save()');
    expect(f).not.toContain('at secret');
    expect(describeError(new TypeError('x is undefined'))).toEqual({ message: expect.stringMatching(/^internal error: x is undefined \(this is a bug/), exitCode: 1 });
  });

  it('fits 80×24: every line within 80 columns, the live area under 24 rows', async () => {
    const term = new Term();
    const stdin = Object.assign(new EventEmitter(), { isTTY: true, setRawMode() {}, setEncoding() {}, resume() {}, pause() {}, ref() {}, unref() {}, read: () => null });
    const s0 = initialState({ cwd: '/', entries: [] });
    const plan = fakePlan({}, 60);
    plan.layers[5] = layer('a_really_long_layer_name_from_a_nested_model_block', 'SomeVeryLongCustomLayerClass');
    const s: WizardState = { ...s0, modelPath: 'a_model_with_a_rather_long_file_name_indeed.h5', model: fakeModel(), summary: fakeModel().summary, plan, step: { kind: 'map', cursor: -1, offset: 0, detail: false } };
    let app: Instance | null = inkRender(<App initial={s} deps={fakeDeps().deps} />, { stdout: term as never, stdin: stdin as never, debug: true, exitOnCtrlC: false, patchConsole: false });
    cleanups.push(() => app?.unmount());
    await tick(80);
    const lines = term.last().replace(/\n$/, '').split('\n');
    expect(lines.length).toBeLessThan(24);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    expect(term.last()).toContain('rows 1–15 of 60 ↓');
    app.unmount();
    app = null;
  });
});

describe('terminal handling', () => {
  it('NO_COLOR turns colours off', () => {
    expect(colorLevel({ NO_COLOR: '1' })).toBe(0);
    expect(colorLevel({ NO_COLOR: '' })).toBe(chalk.level);
    expect(colorLevel({})).toBe(chalk.level);
  });

  it('without a terminal, says to use convert and exits 2 at once', async () => {
    let err = '';
    const fake = (isTTY: boolean) => ({ isTTY, write: (s: string) => ((err += s), true) }) as unknown as NodeJS.WriteStream;
    const code = await runWizard(['fixtures/demo.h5'], { stdout: fake(false), stderr: fake(false), stdin: { isTTY: true } as NodeJS.ReadStream });
    expect(code).toBe(2);
    expect(err).toBe('keras2caffe: the wizard needs an interactive terminal; run `keras2caffe convert fixtures/demo.h5 --yes` instead\n');
  });

  it('rejects unknown options with a one-line error', async () => {
    await expect(runWizard(['m.h5', '--bogus'])).rejects.toThrow("unknown option '--bogus' for the wizard");
  });

  it('text helpers truncate with … and wrap', () => {
    expect(trunc('abcdef', 4)).toBe('abc…');
    expect(trunc('abc', 4)).toBe('abc');
    expect(wrap('one two three four five six', 10)).toEqual(['one two', 'three four', 'five six']);
    expect(wrap('aaaaaaaaaaaaaaaaaaaa', 8)).toEqual(['aaaaaaaa', 'aaaaaaaa', 'aaaa']);
  });
});
