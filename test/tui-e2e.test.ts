/**
 * End to end: the real executable in a real pseudo-terminal (tmux, 80×24). Pressing Enter at
 * every step must end with the three files written, and `convert --plan <written plan> --yes`
 * must produce byte-identical prototxt and caffemodel. It runs with CI=true, as CI machines do: Ink
 * draws only the final frame when it believes it is in CI, and the wizard must still draw.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/core/model.js';
import { planConversion } from '../src/core/planner.js';

const ROOT = resolve(import.meta.dirname, '..');
const DEMO = join(ROOT, 'fixtures', 'demo.h5');

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const TMUX = hasTmux();
if (!TMUX) console.log('tui-e2e: skipping the pseudo-terminal test: tmux is not installed (apt-get install -y tmux)');

/** A small Keras 2.2.4 model with a ZeroPadding2D to fold and an asymmetric 'same' conv (used until fixtures/demo.h5 exists). */
async function writeTestModel(path: string): Promise<void> {
  const h5 = (await import('h5wasm/node')) as any;
  await h5.ready;
  const layers: any[] = [];
  const weights: Record<string, Record<string, number[]>> = {};
  const add = (name: string, cls: string, config: object, input: string | null, w?: Record<string, number[]>) => {
    layers.push({ name, class_name: cls, config: { name, ...config }, inbound_nodes: input ? [[[input, 0, 0, {}]]] : [] });
    if (w) weights[name] = w;
  };
  add('input_1', 'InputLayer', { batch_input_shape: [null, 16, 16, 3], dtype: 'float32' }, null);
  add('zero_padding2d_1', 'ZeroPadding2D', { padding: [[1, 1], [1, 1]], data_format: 'channels_last' }, 'input_1');
  add('conv2d_1', 'Conv2D', { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', use_bias: true, dilation_rate: [1, 1], data_format: 'channels_last' }, 'zero_padding2d_1', { kernel: [3, 3, 3, 4], bias: [4] });
  add('average_pooling2d_1', 'AveragePooling2D', { pool_size: [2, 2], strides: [2, 2], padding: 'same', data_format: 'channels_last' }, 'conv2d_1');
  add('flatten_1', 'Flatten', { data_format: 'channels_last' }, 'average_pooling2d_1');
  add('dense_1', 'Dense', { units: 5, activation: 'softmax', use_bias: true }, 'flatten_1', { kernel: [100, 5], bias: [5] });
  const config = { class_name: 'Model', config: { name: 'tui_e2e', layers, input_layers: [['input_1', 0, 0]], output_layers: [['dense_1', 0, 0]] } };
  const f = new h5.File(path, 'w');
  f.create_attribute('keras_version', '2.2.4');
  f.create_attribute('backend', 'tensorflow');
  f.create_attribute('model_config', JSON.stringify(config));
  f.create_group('model_weights');
  const mw = f.get('model_weights');
  mw.create_attribute('layer_names', layers.map((l) => l.name));
  let seed = 7;
  for (const l of layers) {
    mw.create_group(l.name);
    const w = weights[l.name];
    if (!w) continue;
    const g = mw.get(l.name);
    g.create_attribute('weight_names', Object.keys(w).map((k) => `${l.name}/${k}:0`));
    g.create_group(l.name);
    for (const [k, shape] of Object.entries(w)) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = (((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5) * 0.5;
      g.get(l.name).create_dataset({ name: `${k}:0`, data, shape, dtype: '<f' });
    }
  }
  f.close();
}

let work = '';
/** The executable of a private build (the shared dist/ may be rebuilt by others mid-test). */
let BIN = '';
let model = '';
let stem = '';
let label = '';
let sock = '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'k2c-tui-e2e-'));
  if (existsSync(DEMO)) {
    // A private copy: the fixtures may be regenerated while the test runs.
    model = join(work, 'demo.h5');
    copyFileSync(DEMO, model);
    stem = 'demo';
    label = 'fixtures/demo.h5';
  } else {
    console.log('tui-e2e: fixtures/demo.h5 is not there yet; using a generated test model');
    model = join(work, 'tui_e2e.h5');
    stem = 'tui_e2e';
    label = 'the generated test model';
    await writeTestModel(model);
  }
  // The real bin/keras2caffe.js in a private copy of the package layout (bin/, dist/, proto/,
  // node_modules/), built from the current sources; the shared dist/ is left alone.
  const pkg = join(work, 'pkg');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  copyFileSync(join(ROOT, 'bin', 'keras2caffe.js'), join(pkg, 'bin', 'keras2caffe.js'));
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'proto'), join(pkg, 'proto'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json'), '--outDir', join(pkg, 'dist')], { cwd: ROOT, stdio: 'pipe' });
  if (!existsSync(join(pkg, 'dist', 'tui', 'run.js'))) throw new Error('the build did not produce dist/tui/run.js');
  BIN = join(pkg, 'bin', 'keras2caffe.js');
}, 180_000);

afterAll(() => {
  if (sock) {
    const socketPath = spawnSync('tmux', ['-L', sock, 'display-message', '-p', '#{socket_path}'], { encoding: 'utf8' }).stdout.trim();
    spawnSync('tmux', ['-L', sock, 'kill-server'], { stdio: 'pipe' });
    if (socketPath) rmSync(socketPath, { force: true });
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('keras2caffe wizard end to end', () => {
  it('without a terminal prints one line about convert and exits 2', () => {
    const r = spawnSync(process.execPath, [BIN, model], { cwd: work, input: '', encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`keras2caffe: the wizard needs an interactive terminal; run \`keras2caffe convert ${model} --yes\` instead\n`);
  });

  it.skipIf(!TMUX)('Enter at every step writes the files, and convert --plan replays them byte for byte', async () => {
    // The wizard's proposals (planned as a person is asked) must make the demo convertible.
    const m = await loadModel(model);
    try {
      const plan = planConversion(m.graph, m.file, { interactive: true });
      expect(plan.convertible).toBe(true);
      // The demo asks one question of each kind: a ZeroPadding2D to fold, an asymmetric 'same'
      // padding, average pooling over padded cells, and a layer Caffe has no equivalent for.
      if (stem === 'demo') expect(plan.layers.flatMap((l) => l.decisions.map((d) => d.spec.id)).sort()).toEqual(['average', 'handler', 'padding', 'zeropad']);
    } finally {
      m.file.close();
    }

    const out = join(work, 'out');
    const replay = join(work, 'replay');
    mkdirSync(out);
    mkdirSync(replay);
    const exitFile = join(work, 'exit-code');
    sock = `k2c-e2e-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'wizard', '-x', '80', '-y', '24', `cd ${q(work)} && CI=true node ${q(BIN)} ${q(model)} --out ${q(out)}; echo $? > ${q(exitFile)}; sleep 60`);
    const screen = () => tmux('capture-pane', '-p', '-t', 'wizard');
    const frames: string[] = [];

    let lastSig = '';
    let lastPress = 0;
    const deadline = Date.now() + 90_000;
    while (!existsSync(exitFile)) {
      if (Date.now() > deadline) throw new Error(`the wizard did not finish; screen:\n${screen()}`);
      await new Promise((r) => setTimeout(r, 150));
      const s = screen();
      if (/Press Enter or Esc to go back|Nothing can be verified or written yet/.test(s)) throw new Error(`the Enter path hit an error or an unconvertible plan:\n${s}`);
      let sig = '';
      const key = 'Enter';
      const question = /Question \d+ of \d+ · (\S+)/.exec(s);
      if (/Press Enter to see how each layer maps/.test(s)) sig = 'summary';
      else if (/› Continue →/.test(s)) sig = 'map';
      else if (question) {
        sig = `question ${question[1]}`;
      } else if (/Press Enter to (write the files anyway|choose where to write)/.test(s)) sig = 'verify';
      else if (/Output folder/.test(s) && !/checking|writing/.test(s)) sig = 'write';
      else if (/Press Enter to exit/.test(s)) sig = 'done';
      if (!sig) continue;
      // Press once per new screen; again only if the same screen is still there after 8 s (a lost key).
      if (sig === lastSig && Date.now() - lastPress < 8000) continue;
      await new Promise((r) => setTimeout(r, 250));
      frames.push(s);
      tmux('send-keys', '-t', 'wizard', key);
      lastSig = sig;
      lastPress = Date.now();
    }
    const final = screen();
    expect(readFileSync(exitFile, 'utf8').trim(), `exit code; last screen:\n${final}`).toBe('0');
    expect(frames.map((f) => /\[(\w+)\]/.exec(f)?.[1])).toEqual(expect.arrayContaining(['Load', 'Map', 'Decide', 'Verify', 'Write']));
    // Every frame fits the 80×24 window.
    for (const f of [...frames, final]) for (const line of f.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(final).toContain('✓ Written.');

    const files = { prototxt: join(out, `${stem}.prototxt`), caffemodel: join(out, `${stem}.caffemodel`), plan: join(out, `${stem}.plan.json`) };
    for (const p of Object.values(files)) expect(existsSync(p), p).toBe(true);
    const plan = JSON.parse(readFileSync(files.plan, 'utf8'));
    expect(plan).toMatchObject({ keras2caffe: 1, model: `${stem}.h5`, target: 'caffe-1.0' });
    expect(Object.keys(plan.decisions).length).toBeGreaterThan(0);

    const r = spawnSync(process.execPath, [BIN, 'convert', model, '--plan', files.plan, '--yes', '--out', replay], { cwd: work, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(replay, `${stem}.prototxt`)).equals(readFileSync(files.prototxt))).toBe(true);
    expect(readFileSync(join(replay, `${stem}.caffemodel`)).equals(readFileSync(files.caffemodel))).toBe(true);
  }, 150_000);
});
