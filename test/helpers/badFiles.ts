/**
 * Bad input files for the robustness tests, made at test time in a temp folder from the
 * committed fixtures (fixtures/models/*.h5, written by real Keras): a Keras file is read into a
 * plain structure (root attributes, parsed model_config, weight groups and datasets), changed,
 * and written back as a new HDF5 file with h5wasm. Raw-byte variants (truncations, a PNG, ...)
 * are written directly.
 *
 * KERAS2CAFFE_FIXTURES=DIR reads the fixtures from DIR instead (e.g. while fixtures/models is
 * being regenerated).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './parity.js';

type H5 = typeof import('h5wasm/node');
let h5: Promise<H5> | null = null;

async function h5wasm(): Promise<H5> {
  if (!h5) {
    h5 = (async () => {
      const mod = await import('h5wasm/node');
      await mod.ready;
      return mod;
    })();
  }
  return h5;
}

export function fixturesDir(): string {
  return process.env.KERAS2CAFFE_FIXTURES ?? FIXTURES;
}

/** A fixture model file by name (without .h5); throws a clear error when the fixtures are missing. */
export function fixture(name: string): string {
  const p = join(fixturesDir(), `${name}.h5`);
  if (!existsSync(p)) throw new Error(`fixture ${p} is missing: regenerate fixtures/models (fixtures/make_fixtures.py) or set KERAS2CAFFE_FIXTURES`);
  return p;
}

/** All fixture .h5 files, sorted by name. */
export function fixtureFiles(): string[] {
  const dir = fixturesDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.h5'))
    .sort()
    .map((f) => join(dir, f));
}

export interface WeightGroup {
  /** weight_names, in order (e.g. `conv2d_1/kernel:0`). */
  weightNames: string[];
  /** Dataset by weight name (relative to the group). */
  datasets: Map<string, { shape: number[]; data: Float32Array }>;
}

/** A Keras .h5 file as plain data. */
export interface KerasDump {
  /** Root attributes other than model_config (keras_version, backend, ...). */
  rootAttrs: Record<string, string>;
  /** The parsed model_config; `rawConfig` overrides it when set. */
  config: any;
  rawConfig?: string;
  /** Omit model_config entirely (with `weightsOnly`: a save_weights file). */
  noConfig?: boolean;
  /** Write the weight groups at the root with root `layer_names`, as save_weights does. */
  weightsOnly?: boolean;
  layerNames: string[];
  groups: Map<string, WeightGroup>;
  /** Datasets to write with a huge declared shape and no storage (chunked, never written). */
  hugeDatasets?: { group: string; name: string; shape: number[] }[];
}

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.length === 1) return str(v[0]);
  return String(v);
}

function strList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return []; // h5py writes an empty list as an empty float64 array
}

export async function readKeras(path: string): Promise<KerasDump> {
  const { File, Dataset } = await h5wasm();
  const f = new File(path, 'r');
  try {
    const rootAttrs: Record<string, string> = {};
    for (const [k, a] of Object.entries(f.attrs)) if (k !== 'model_config') rootAttrs[k] = str(a.value);
    const config = JSON.parse(str(f.attrs.model_config.value));
    const mw = f.get('model_weights') as InstanceType<H5['Group']>;
    const layerNames = strList(mw.attrs.layer_names?.value);
    const groups = new Map<string, WeightGroup>();
    for (const name of layerNames) {
      const g = mw.get(name) as InstanceType<H5['Group']>;
      const weightNames = strList(g.attrs.weight_names?.value);
      const datasets = new Map<string, { shape: number[]; data: Float32Array }>();
      for (const w of weightNames) {
        const ds = g.get(w);
        if (!(ds instanceof Dataset)) throw new Error(`${path}: ${name}/${w} is not a dataset`);
        datasets.set(w, { shape: (ds.shape ?? []).map(Number), data: Float32Array.from(ds.value as ArrayLike<number>) });
      }
      groups.set(name, { weightNames, datasets });
    }
    return { rootAttrs, config, layerNames, groups };
  } finally {
    f.close();
  }
}

export async function writeKeras(path: string, d: KerasDump): Promise<string> {
  const { File } = await h5wasm();
  // The latest file format stores attributes over 64 KB (deeply nested configs) densely.
  const f = new File(path, 'w', { libver: ['v108', 'latest'] } as never);
  try {
    for (const [k, v] of Object.entries(d.rootAttrs)) f.create_attribute(k, v);
    if (!d.noConfig) f.create_attribute('model_config', d.rawConfig ?? JSON.stringify(d.config));
    const mw = d.weightsOnly ? f : f.create_group('model_weights');
    if (d.weightsOnly) f.create_attribute('layer_names', d.layerNames);
    else {
      mw.create_attribute('layer_names', d.layerNames);
      if (d.rootAttrs.backend) mw.create_attribute('backend', d.rootAttrs.backend);
      if (d.rootAttrs.keras_version) mw.create_attribute('keras_version', d.rootAttrs.keras_version);
    }
    for (const name of d.layerNames) {
      const grp = d.groups.get(name) ?? { weightNames: [], datasets: new Map() };
      const g = mw.create_group(name);
      if (grp.weightNames.length) g.create_attribute('weight_names', grp.weightNames);
      else g.create_attribute('weight_names', new Float64Array(0), [0]);
      for (const [w, ds] of grp.datasets) {
        const parts = w.split('/');
        let parent = g;
        for (const p of parts.slice(0, -1)) parent = (parent.get(p) as typeof g | null) ?? parent.create_group(p);
        parent.create_dataset({ name: parts[parts.length - 1], data: ds.data, shape: ds.shape, dtype: '<f' });
      }
      for (const h of d.hugeDatasets ?? []) {
        if (h.group !== name) continue;
        const parts = h.name.split('/');
        let parent = g;
        for (const p of parts.slice(0, -1)) parent = (parent.get(p) as typeof g | null) ?? parent.create_group(p);
        const ones = h.shape.map(() => 1);
        const ds = parent.create_dataset({ name: parts[parts.length - 1], data: new Float32Array(1), shape: ones, maxshape: h.shape.map(() => null), chunks: ones, dtype: '<f' });
        ds.resize(h.shape);
      }
    }
  } finally {
    f.close();
  }
  return path;
}

/** A deep copy of a dump (configs and weight arrays). */
export function cloneDump(d: KerasDump): KerasDump {
  return {
    ...d,
    rootAttrs: { ...d.rootAttrs },
    config: structuredClone(d.config),
    layerNames: [...d.layerNames],
    groups: new Map([...d.groups].map(([k, g]) => [k, { weightNames: [...g.weightNames], datasets: new Map([...g.datasets].map(([n, ds]) => [n, { shape: [...ds.shape], data: ds.data.slice() }])) }])),
    hugeDatasets: d.hugeDatasets?.map((h) => ({ ...h, shape: [...h.shape] })),
  };
}

/** The layer list of a Functional/Model config (or a Sequential's). */
export function configLayers(config: any): any[] {
  return Array.isArray(config.config) ? config.config : config.config.layers;
}

/** Renames layer `from` to `to` everywhere: config, inbound nodes, outputs, weight groups and names. */
export function renameLayer(d: KerasDump, from: string, to: string): void {
  const walk = (v: any): any => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v === from ? to : v;
  };
  d.config = walk(d.config);
  d.layerNames = d.layerNames.map((n) => (n === from ? to : n));
  // Weight names are `<layer>/<weight>:0`, also inside the group of a nested model.
  const rename = (w: string) => w.split('/').map((p, i, all) => (p === from && i < all.length - 1 ? to : p)).join('/');
  d.groups = new Map(
    [...d.groups].map(([name, g]) => [
      name === from ? to : name,
      { weightNames: g.weightNames.map(rename), datasets: new Map([...g.datasets].map(([n, ds]) => [rename(n), ds])) },
    ]),
  );
}

/** Builds every bad input of the robustness tests in `dir`; name → path. */
export async function makeBadFiles(dir: string): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  const base = fixture('conv2d_valid');
  const baseBytes = readFileSync(base);
  const out: Record<string, string> = {};
  const file = (name: string, bytes: Uint8Array | string) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  // --- not a model ---------------------------------------------------------------------------
  out.missing = join(dir, 'does-not-exist.h5');
  out.directory = join(dir, 'a-folder.h5');
  mkdirSync(out.directory, { recursive: true });
  out.empty = file('empty.h5', new Uint8Array(0));
  out.truncated = file('truncated.h5', baseBytes.subarray(0, Math.floor(baseBytes.length / 2)));
  out.truncatedHeader = file('truncated-header.h5', baseBytes.subarray(0, 40));
  out.png = file('picture.png', Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex'));
  out.pngAsH5 = file('picture.h5', readFileSync(out.png));
  out.text = file('notes.h5', 'this is not a model\n');
  out.keras = file('model.keras', Buffer.from('504b030414000000', 'hex'));

  // --- Keras files that cannot be converted ---------------------------------------------------
  const dump = await readKeras(base);
  const layers = (d: KerasDump) => configLayers(d.config);
  const conv1 = (d: KerasDump) => layers(d).find((l: any) => l.class_name === 'Conv2D');

  const weightsOnly = cloneDump(dump);
  weightsOnly.noConfig = true;
  weightsOnly.weightsOnly = true;
  out.weightsOnly = await writeKeras(join(dir, 'weights-only.h5'), weightsOnly);

  const keras1 = cloneDump(dump);
  keras1.rootAttrs.keras_version = '1.2.2';
  for (const l of layers(keras1))
    if (l.class_name === 'Conv2D') {
      l.class_name = 'Convolution2D';
      l.config.nb_filter = l.config.filters;
      l.config.border_mode = l.config.padding;
      delete l.config.filters;
      delete l.config.padding;
    }
  out.keras1 = await writeKeras(join(dir, 'keras1.h5'), keras1);

  const channelsFirst = cloneDump(dump);
  conv1(channelsFirst).config.data_format = 'channels_first';
  out.channelsFirst = await writeKeras(join(dir, 'channels-first.h5'), channelsFirst);

  // A Lambda between the two convolutions (Lambda layers have no weights).
  const lambda = cloneDump(dump);
  {
    const ls = layers(lambda);
    const i = ls.findIndex((l: any) => l.class_name === 'Conv2D');
    const c1 = ls[i];
    const next = ls.find((l: any, j: number) => j > i && JSON.stringify(l.inbound_nodes).includes(`"${c1.name}"`));
    ls.splice(i + 1, 0, {
      name: 'lambda_1',
      class_name: 'Lambda',
      config: { name: 'lambda_1', trainable: true, dtype: 'float32', function: ['4wEAAAAAAAAAAQAAAAIAAABDAAAAcwgAAAB8AGQBFABTACkCTmcAAAAAAAAAQKkAKQHaAXhyAQAAAHIBAAAA+gc8c3RkaW4+2gg8bGFtYmRhPgEAAADzAAAAAA==', null, null], function_type: 'lambda', module: '__main__', output_shape: null, output_shape_type: 'raw', output_shape_module: null, arguments: {} },
      inbound_nodes: [[[c1.name, 0, 0, {}]]],
    });
    next.inbound_nodes = JSON.parse(JSON.stringify(next.inbound_nodes).replaceAll(`"${c1.name}"`, '"lambda_1"'));
    lambda.layerNames.splice(lambda.layerNames.indexOf(c1.name) + 1, 0, 'lambda_1');
  }
  out.lambda = await writeKeras(join(dir, 'lambda.h5'), lambda);

  // --- inconsistent files ---------------------------------------------------------------------
  const shapeMismatch = cloneDump(dump);
  {
    const c = conv1(shapeMismatch);
    const g = shapeMismatch.groups.get(c.name)!;
    const [k] = g.weightNames;
    const ds = g.datasets.get(k)!;
    // A 2×2 kernel where the config says 3×3 (same channel counts).
    const shape = [2, 2, ds.shape[2], ds.shape[3]];
    g.datasets.set(k, { shape, data: ds.data.slice(0, shape.reduce((a, b) => a * b, 1)) });
  }
  out.shapeMismatch = await writeKeras(join(dir, 'shape-mismatch.h5'), shapeMismatch);

  const noWeights = cloneDump(dump);
  {
    const g = noWeights.groups.get(conv1(noWeights).name)!;
    g.weightNames = [];
    g.datasets.clear();
  }
  out.missingWeights = await writeKeras(join(dir, 'missing-weights.h5'), noWeights);

  const danglingWeight = cloneDump(dump);
  {
    const g = danglingWeight.groups.get(conv1(danglingWeight).name)!;
    g.datasets.clear(); // weight_names still lists the kernel
  }
  out.missingDataset = await writeKeras(join(dir, 'missing-dataset.h5'), danglingWeight);

  const badJson = cloneDump(dump);
  badJson.rawConfig = JSON.stringify(dump.config).slice(0, 200);
  out.invalidJson = await writeKeras(join(dir, 'invalid-json.h5'), badJson);

  const notObject = cloneDump(dump);
  notObject.rawConfig = '[1, 2, 3]';
  out.configNotObject = await writeKeras(join(dir, 'config-array.h5'), notObject);

  const unknownLayer = cloneDump(dump);
  conv1(unknownLayer).class_name = 'FancyConv';
  out.unknownLayer = await writeKeras(join(dir, 'unknown-layer.h5'), unknownLayer);

  // An unknown class on a layer whose name holds a newline and an escape character: the error
  // must still be one line.
  const newlineName = cloneDump(unknownLayer);
  renameLayer(newlineName, layers(newlineName).find((l: any) => l.class_name === 'FancyConv').name, 'bad\nname\x1b[31m');
  out.newlineName = await writeKeras(join(dir, 'newline-name.h5'), newlineName);

  const cycle = cloneDump(dump);
  {
    const convs = layers(cycle).filter((l: any) => l.class_name === 'Conv2D');
    convs[0].inbound_nodes = [[[convs[1].name, 0, 0, {}]]];
  }
  out.cycle = await writeKeras(join(dir, 'cycle.h5'), cycle);

  const dangling = cloneDump(dump);
  conv1(dangling).inbound_nodes = [[['ghost_layer', 0, 0, {}]]];
  out.danglingInbound = await writeKeras(join(dir, 'dangling-inbound.h5'), dangling);

  const danglingNode = cloneDump(dump);
  {
    const convs = layers(danglingNode).filter((l: any) => l.class_name === 'Conv2D');
    convs[1].inbound_nodes = [[[convs[0].name, 3, 0, {}]]];
  }
  out.danglingNode = await writeKeras(join(dir, 'dangling-node.h5'), danglingNode);

  // --- hostile sizes --------------------------------------------------------------------------
  const huge = cloneDump(dump);
  {
    const c = conv1(huge);
    const g = huge.groups.get(c.name)!;
    const [k] = g.weightNames;
    g.datasets.delete(k);
    huge.hugeDatasets = [{ group: c.name, name: k, shape: [1024, 1024, 1024, 1024] }]; // 2^40 values
  }
  out.huge = await writeKeras(join(dir, 'huge-dataset.h5'), huge);

  const big = cloneDump(dump);
  {
    const c = conv1(big);
    const g = big.groups.get(c.name)!;
    const [k] = g.weightNames;
    const s = g.datasets.get(k)!.shape;
    g.datasets.delete(k);
    big.hugeDatasets = [{ group: c.name, name: k, shape: [s[0], s[1], s[2], s[3] * 1_000_000] }]; // 432 MB declared, not stored
  }
  out.unstoredBig = await writeKeras(join(dir, 'unstored-big-dataset.h5'), big);

  // 1000 Sequential models, each holding the next; the innermost holds the convolutions.
  const nested = cloneDump(dump);
  {
    const ls = layers(nested);
    const shape = ls.find((l: any) => l.class_name === 'InputLayer').config.batch_input_shape;
    const convs = ls.filter((l: any) => l.class_name !== 'InputLayer').map((l: any) => ({ class_name: l.class_name, config: l.config }));
    let inner: any = { class_name: 'Sequential', config: { name: 'seq_999', layers: convs, build_input_shape: shape } };
    for (let i = 998; i >= 0; i--) inner = { class_name: 'Sequential', config: { name: `seq_${i}`, layers: [inner], build_input_shape: shape } };
    nested.config = inner;
  }
  out.deepModels = await writeKeras(join(dir, 'nested-1000-models.h5'), nested);
  {
    // 100 levels: under the JSON depth limit, over the nesting limit of the graph builder.
    let inner = nested.config;
    for (let i = 0; i < 900; i++) inner = inner.config.layers[0];
    const shallower = cloneDump(dump);
    shallower.config = inner;
    out.nestedModels = await writeKeras(join(dir, 'nested-100-models.h5'), shallower);
  }

  const deepJson = cloneDump(dump);
  {
    let v: any = 1;
    for (let i = 0; i < 100_000; i++) v = [v];
    conv1(deepJson).config.kernel_regularizer = v;
    // JSON.stringify recurses (it overflows at ~10,000 levels): write the text by hand.
    const text = JSON.stringify(deepJson.config, (k, x) => (k === 'kernel_regularizer' && Array.isArray(x) ? '@DEEP@' : x));
    deepJson.rawConfig = text.replace('"@DEEP@"', '['.repeat(100_000) + '1' + ']'.repeat(100_000));
  }
  out.deepJson = await writeKeras(join(dir, 'nested-json.h5'), deepJson);

  // --- NaN / Inf weights ----------------------------------------------------------------------
  const nan = cloneDump(dump);
  {
    const g = nan.groups.get(conv1(nan).name)!;
    const ds = g.datasets.get(g.weightNames[0])!;
    ds.data[0] = NaN;
    ds.data[1] = Infinity;
    ds.data[2] = -Infinity;
  }
  out.nanWeights = await writeKeras(join(dir, 'nan-weights.h5'), nan);

  // --- a .caffemodel given as input: made by the caller (needs a conversion) ------------------
  return out;
}

/** The conv2d_valid fixture with its layers renamed to awkward but legal names. */
export async function makeAwkwardNames(dir: string, names: string[]): Promise<string> {
  const d = await readKeras(fixture('conv2d_valid'));
  const current = configLayers(d.config).map((l: any) => l.name as string);
  current.forEach((n, i) => renameLayer(d, n, names[i % names.length]));
  return writeKeras(join(dir, 'awkward-names.h5'), d);
}

/** Copies a file (for mutation), returning the new path. */
export function copyTo(src: string, dst: string): string {
  copyFileSync(src, dst);
  return dst;
}

export function sizeOf(p: string): number {
  return statSync(p).size;
}

export interface MainRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the CLI's own entry (src/cli/main.ts `main`, what bin/keras2caffe.js calls) in this
 * process, with stdout and stderr captured, and `env` set for the duration.
 */
export async function runMain(args: string[], env: Record<string, string | undefined> = {}): Promise<MainRun> {
  const { main } = await import('../../src/cli/main.js');
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  process.stdout.write = ((chunk: unknown) => {
    stdout += String(chunk);
    return true;
  }) as typeof out;
  process.stderr.write = ((chunk: unknown) => {
    stderr += String(chunk);
    return true;
  }) as typeof err;
  const t0 = performance.now();
  let code: number;
  try {
    code = await main(args);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return { code, stdout, stderr, ms: performance.now() - t0 };
}

/**
 * A large-ish valid Keras file, to interrupt conversions mid-write: Input(width) followed by
 * `depth` Dense(width) layers (depth × width² float32 weights, e.g. 8 × 2048² = 134 MB).
 */
export async function makeDenseChain(path: string, width: number, depth: number): Promise<string> {
  const layers: any[] = [{ name: 'input_1', class_name: 'InputLayer', config: { batch_input_shape: [null, width], dtype: 'float32', sparse: false, name: 'input_1' }, inbound_nodes: [] }];
  const groups = new Map<string, WeightGroup>([['input_1', { weightNames: [], datasets: new Map() }]]);
  let prev = 'input_1';
  for (let i = 1; i <= depth; i++) {
    const name = `dense_${i}`;
    layers.push({ name, class_name: 'Dense', config: { name, trainable: true, dtype: 'float32', units: width, activation: 'linear', use_bias: true }, inbound_nodes: [[[prev, 0, 0, {}]]] });
    const kernel = new Float32Array(width * width);
    for (let k = 0; k < kernel.length; k++) kernel[k] = ((k * 2654435761) % 1000) / 1e6 - 5e-4;
    groups.set(name, {
      weightNames: [`${name}/kernel:0`, `${name}/bias:0`],
      datasets: new Map([
        [`${name}/kernel:0`, { shape: [width, width], data: kernel }],
        [`${name}/bias:0`, { shape: [width], data: new Float32Array(width).fill(0.01) }],
      ]),
    });
    prev = name;
  }
  const config = { class_name: 'Model', config: { name: 'dense_chain', layers, input_layers: [['input_1', 0, 0]], output_layers: [[prev, 0, 0]] } };
  return writeKeras(path, { rootAttrs: { keras_version: '2.3.1', backend: 'tensorflow' }, config, layerNames: [...groups.keys()], groups });
}
