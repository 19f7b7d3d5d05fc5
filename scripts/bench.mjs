#!/usr/bin/env node
/**
 * `npm run bench`: how fast `keras2caffe convert` is, next to the cost of just copying the file.
 *
 * For a ResNet50-size and a VGG16-size Keras model (built once with real Keras by
 * scripts/bench-models.py, cached in .cache/bench/, never committed), in one run:
 *   - keras2caffe: wall time and peak RSS of `keras2caffe convert MODEL --out DIR --yes --force`
 *     (a spawned process, like a user runs it);
 *   - the floor: a spawned node process that reads the .h5 once and writes as many bytes to a
 *     temp file in the same folder, fsyncs, renames it into place and fsyncs the folder (what
 *     keras2caffe's atomic writes do);
 *   - keras2caffe / floor, from the medians of --runs runs (default 5), floor and tool alternating;
 *   - where the reference environment is set up (../shared/oracle), the minimal Keras + pycaffe
 *     conversion of the same file (load_model, caffe.Net on our prototxt, copy the params,
 *     net.save), timed inside the environment from interpreter start (scripts/bench-models.py);
 *   - start-up: `keras2caffe --help` and `convert` of a small model;
 *   - verification: `convert --verify` of MobileNetV2 at 224×224 (tfjs and OpenCV DNN loaded,
 *     both nets run, every layer compared), next to the same `convert` without --verify.
 *
 * Peak RSS is the kernel's ru_maxrss of each node process, written at exit by a preloaded
 * module (`node --require`), the same way for keras2caffe and the floor.
 * Before every timed run the model file is evicted from the OS page cache (see --cache below),
 * so every run reads it from the disk; the tool and the floor alike.
 *
 * Options: --runs N (default 5), --vgg-runs N (default: --runs), --oracle-runs N (default 3),
 *          --only resnet50,vgg16,verify, --no-oracle, --cache file|all|warm (default file; --warm = warm),
 *          --json FILE (default .cache/bench/results.json), --cli PATH (another build's bin/keras2caffe.js)
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, '.cache', 'bench');
const OUT = join(CACHE, 'out');
/** --cli PATH benchmarks another build of the tool (e.g. a checkout of an older version). */
const cliArg = process.argv.indexOf('--cli');
const CLI = cliArg > 0 && process.argv[cliArg + 1] ? resolve(process.argv[cliArg + 1]) : join(ROOT, 'bin', 'keras2caffe.js');
const ORACLE = resolve(ROOT, '..', 'shared', 'oracle', 'run');

// ---------------------------------------------------------------------------------------------
// Floor mode (a child process): node scripts/bench.mjs --floor SRC DST

if (process.argv[2] === '--floor') {
  const [src, dst] = process.argv.slice(3);
  const tmp = join(dirname(dst), `.${Date.now()}-${process.pid}.floor.tmp`);
  const inFd = openSync(src, 'r');
  const outFd = openSync(tmp, 'wx');
  const buf = Buffer.allocUnsafe(8 << 20);
  for (let pos = 0; ; ) {
    const n = readSync(inFd, buf, 0, buf.length, pos);
    if (n <= 0) break;
    for (let off = 0; off < n; ) off += writeSync(outFd, buf, off, n - off);
    pos += n;
  }
  fsyncSync(outFd);
  closeSync(outFd);
  closeSync(inFd);
  renameSync(tmp, dst);
  const dirFd = openSync(dirname(dst), 'r');
  fsyncSync(dirFd);
  closeSync(dirFd);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Options

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const flag = (name) => args.includes(`--${name}`);
const RUNS = Math.max(1, Number(opt('runs', 5)));
const VGG_RUNS = Math.max(1, Number(opt('vgg-runs', RUNS)));
const ORACLE_RUNS = Math.max(1, Number(opt('oracle-runs', 3)));
const ONLY = opt('only', 'resnet50,vgg16,verify').split(',');
const JSON_OUT = resolve(opt('json', join(CACHE, 'results.json')));

const MODELS = [
  { id: 'resnet50', file: join(CACHE, 'resnet50.h5'), label: 'ResNet50-size', runs: RUNS },
  { id: 'vgg16', file: join(CACHE, 'vgg16.h5'), label: 'VGG16-size', runs: VGG_RUNS },
].filter((m) => ONLY.includes(m.id));
const VERIFY_MODEL = ONLY.includes('verify') ? { id: 'mobilenetv2', file: join(CACHE, 'mobilenetv2.h5'), label: 'MobileNetV2 224×224' } : null;

// ---------------------------------------------------------------------------------------------
// Helpers

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => `${Math.round(x)} ms`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(0)} MB`;

/**
 * Page cache before each timed run, --cache MODE:
 *   file (default)  only the model file is evicted (GNU dd iflag=nocache, i.e.
 *                   posix_fadvise DONTNEED): its bytes come from the disk, the programs
 *                   (node, keras2caffe, Python) stay cached as for any second use;
 *   all             the whole page cache is dropped (/proc/sys/vm/drop_caches, root only);
 *   warm            nothing is evicted.
 * A mode that does not work here falls back to the next one (file → all → warm).
 */
function evictFile(path) {
  const r = spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  return r.status === 0;
}
function fileCached(path) {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}
function dropAll() {
  try {
    spawnSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}
function pickCacheMode() {
  let mode = opt('cache', flag('warm') ? 'warm' : 'file');
  if (mode === 'file') {
    const probe = MODELS[0]?.file;
    if (probe && existsSync(probe)) {
      readFileSync(probe, { flag: 'r' }).subarray(0, 1);
      const ok = evictFile(probe) && (fileCached(probe) ?? 0) === 0;
      if (!ok) mode = 'all';
    }
  }
  if (mode === 'all' && !dropAll()) mode = 'warm';
  return mode;
}
const CACHE_MODE = pickCacheMode();
const CACHE_TEXT = {
  file: 'cold model file: the .h5 is evicted from the page cache before every timed run (dd iflag=nocache); programs stay cached',
  all: 'cold: the whole page cache is dropped before every timed run (echo 3 > /proc/sys/vm/drop_caches)',
  warm: 'warm: nothing is evicted between runs (the floor and keras2caffe alike)',
}[CACHE_MODE];
function prepareRun(file) {
  if (CACHE_MODE === 'file') evictFile(file);
  else if (CACHE_MODE === 'all') dropAll();
}

/** Preloaded into measured node processes: writes ru_maxrss (bytes) to $K2C_BENCH_RSS at exit. */
const RSS_HOOK = join(CACHE, 'rss-hook.cjs');
function writeRssHook() {
  writeFileSync(
    RSS_HOOK,
    "process.on('exit', () => { require('node:fs').writeFileSync(process.env.K2C_BENCH_RSS, String(process.resourceUsage().maxRSS * 1024)); });\n",
  );
}

/** Runs a command; resolves with wall ms, exit code, output and (node processes) peak RSS bytes. */
function timed(cmd, argv, { rss = false, cwd = ROOT } = {}) {
  return new Promise((resolvePromise, reject) => {
    const rssFile = join(CACHE, `rss-${process.pid}-${Date.now()}.txt`);
    const env = { ...process.env };
    let finalArgv = argv;
    if (rss) {
      env.K2C_BENCH_RSS = rssFile;
      finalArgv = ['--require', RSS_HOOK, ...argv];
    }
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, finalArgv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      let peak = null;
      if (rss && existsSync(rssFile)) {
        peak = Number(readFileSync(rssFile, 'utf8'));
        rmSync(rssFile, { force: true });
      }
      resolvePromise({ wall, code, stdout, stderr, rss: peak });
    });
  });
}

async function mustRun(cmd, argv, o) {
  const r = await timed(cmd, argv, o);
  if (r.code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.code}:\n${r.stderr || r.stdout}`);
  return r;
}

function oracleReady() {
  const root = process.env.ORACLE_ROOT ?? join(process.env.HOME ?? '', '.cache', 'caffe-oracle');
  return existsSync(ORACLE) && existsSync(join(root, '.ready'));
}

function ensureModels() {
  const missing = [...MODELS, ...(VERIFY_MODEL ? [VERIFY_MODEL] : [])].filter((m) => !existsSync(m.file));
  if (!missing.length) return true;
  if (!oracleReady()) {
    console.error(`missing ${missing.map((m) => relative(ROOT, m.file)).join(', ')}; build them with real Keras:\n  ../shared/oracle/setup.sh && ../shared/oracle/run python3 scripts/bench-models.py`);
    return false;
  }
  console.log('building the benchmark models with Keras (once)...');
  const r = spawnSync(ORACLE, ['python3', 'scripts/bench-models.py'], { cwd: ROOT, stdio: 'inherit' });
  return r.status === 0 && missing.every((m) => existsSync(m.file));
}

/** Parameter bytes (float32) of a model, from keras2caffe's own reader. */
async function weightBytes(file) {
  const { loadModel } = await import(join(ROOT, 'dist', 'core', 'model.js'));
  const m = await loadModel(file);
  try {
    return m.summary.weightBytes;
  } finally {
    m.file.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements

async function benchModel(m) {
  const outDir = join(OUT, m.id);
  mkdirSync(outDir, { recursive: true });
  const size = statSync(m.file).size;
  const wbytes = await weightBytes(m.file);
  const rel = relative(ROOT, m.file);
  const floorDst = join(outDir, 'floor.bin');
  // One untimed conversion: warms the dist/ and node_modules code in the page cache like any
  // second use, and writes the prototxt the Keras+pycaffe path needs.
  await mustRun(process.execPath, [CLI, 'convert', m.file, '--out', outDir, '--yes', '--force']);
  const tool = [];
  const floor = [];
  for (let i = 0; i < m.runs; i++) {
    prepareRun(m.file);
    floor.push(await mustRun(process.execPath, [fileURLToPath(import.meta.url), '--floor', m.file, floorDst], { rss: true }));
    prepareRun(m.file);
    tool.push(await mustRun(process.execPath, [CLI, 'convert', m.file, '--out', outDir, '--yes', '--force'], { rss: true }));
    process.stdout.write(`  ${m.label} run ${i + 1}/${m.runs}: keras2caffe ${ms(tool[i].wall)} (${mb(tool[i].rss)}), floor ${ms(floor[i].wall)}\n`);
  }
  rmSync(floorDst, { force: true });
  const caffemodelBytes = statSync(join(outDir, `${m.id}.caffemodel`)).size;
  const res = {
    model: m.id,
    label: m.label,
    h5Bytes: size,
    weightBytes: wbytes,
    caffemodelBytes,
    runs: m.runs,
    cache: CACHE_MODE,
    tool: { wallMs: tool.map((r) => r.wall), rssBytes: tool.map((r) => r.rss) },
    floor: { wallMs: floor.map((r) => r.wall), rssBytes: floor.map((r) => r.rss) },
  };
  res.toolMs = median(res.tool.wallMs);
  res.floorMs = median(res.floor.wallMs);
  res.ratio = res.toolMs / res.floorMs;
  res.pairedRatio = median(tool.map((t, i) => t.wall / floor[i].wall));
  res.peakRssBytes = median(res.tool.rssBytes);
  res.rssLimitBytes = 1.5 * wbytes + 150e6;

  if (!flag('no-oracle') && oracleReady()) {
    const proto = relative(ROOT, join(outDir, `${m.id}.prototxt`));
    const out = relative(ROOT, join(outDir, `${m.id}.pycaffe.caffemodel`));
    const runs = [];
    for (let i = 0; i < ORACLE_RUNS; i++) {
      prepareRun(m.file);
      const r = await mustRun(ORACLE, ['python3', 'scripts/bench-models.py', 'keras-caffe', rel, proto, out]);
      const line = r.stdout.trim().split('\n').pop();
      const inside = JSON.parse(line);
      runs.push({ ...inside, outerMs: r.wall });
      process.stdout.write(`  ${m.label} Keras+pycaffe run ${i + 1}/${ORACLE_RUNS}: ${ms(inside.total * 1000)} inside (${ms(r.wall)} with the environment's start-up)\n`);
    }
    rmSync(join(ROOT, out), { force: true });
    res.kerasPycaffe = {
      runs: ORACLE_RUNS,
      totalMs: median(runs.map((r) => r.total * 1000)),
      outerMs: median(runs.map((r) => r.outerMs)),
      phasesMs: Object.fromEntries(['imports', 'load_model', 'caffe_net', 'copy', 'save'].map((k) => [k, median(runs.map((r) => r[k] * 1000))])),
    };
    res.kerasPycaffe.ratio = res.kerasPycaffe.totalMs / res.floorMs;
  }
  return res;
}

/** `convert --verify` against plain `convert` of the same model, medians of --runs (at least 3). */
async function benchVerify(m) {
  const outDir = join(OUT, 'verify');
  mkdirSync(outDir, { recursive: true });
  const base = [CLI, 'convert', m.file, '--out', outDir, '--yes', '--force'];
  await mustRun(process.execPath, [...base, '--verify']);
  const n = Math.max(RUNS, 3);
  const plain = [];
  const verified = [];
  let report = null;
  for (let i = 0; i < n; i++) {
    plain.push((await mustRun(process.execPath, base)).wall);
    const r = await mustRun(process.execPath, [...base, '--verify', '--json'], { rss: true });
    verified.push(r);
    report = JSON.parse(r.stdout);
    process.stdout.write(`  ${m.label} run ${i + 1}/${n}: convert ${ms(plain[i])}, convert --verify ${ms(r.wall)} (${mb(r.rss)})\n`);
  }
  const v = report.verification;
  return {
    model: m.id,
    label: m.label,
    runs: n,
    convertMs: median(plain),
    verifyMs: median(verified.map((r) => r.wall)),
    peakRssBytes: median(verified.map((r) => r.rss)),
    blobsCompared: v.rows.length,
    passed: v.passed,
    maxAbsError: Math.max(...v.rows.map((r) => r.maxAbs ?? 0)),
  };
}

async function benchStartup() {
  const outDir = join(OUT, 'startup');
  mkdirSync(outDir, { recursive: true });
  // The first small model that converts with --yes (the fixtures change as the tool grows).
  let small = null;
  for (const name of ['models/conv2d_valid.h5', 'models/dense_mlp.h5', 'models/vgg_tiny.h5', 'demo.h5']) {
    const p = join(ROOT, 'fixtures', name);
    if (existsSync(p) && (await timed(process.execPath, [CLI, 'convert', p, '--out', outDir, '--yes', '--force'])).code === 0) {
      small = p;
      break;
    }
  }
  const n = Math.max(RUNS, 5);
  const node0 = [];
  const help = [];
  const conv = [];
  await mustRun(process.execPath, [CLI, '--help']);
  for (let i = 0; i < n; i++) {
    node0.push((await mustRun(process.execPath, ['-e', '0'])).wall);
    help.push((await mustRun(process.execPath, [CLI, '--help'])).wall);
    if (small) conv.push((await mustRun(process.execPath, [CLI, 'convert', small, '--out', outDir, '--yes', '--force'])).wall);
  }
  return {
    runs: n,
    nodeMs: median(node0),
    helpMs: median(help),
    ...(small ? { smallModel: relative(ROOT, small), smallBytes: statSync(small).size, convertMs: median(conv) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(join(dirname(dirname(CLI)), 'dist', 'cli', 'main.js'))) throw new Error('not built: run `npm run build` (npm run bench builds first)');
  mkdirSync(OUT, { recursive: true });
  writeRssHook();
  const cpu = cpus();
  const machine = `${cpu.length} × ${cpu[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}, ${process.platform}`;
  console.log(`keras2caffe benchmark — ${machine}${CLI !== join(ROOT, 'bin', 'keras2caffe.js') ? ` — tool: ${relative(ROOT, CLI)}` : ''}`);
  console.log(`page cache: ${CACHE_TEXT}`);
  const results = { date: new Date().toISOString(), machine, cache: CACHE_MODE, cacheText: CACHE_TEXT, models: [], startup: null };
  if (MODELS.length && ensureModels()) for (const m of MODELS) results.models.push(await benchModel(m));
  if (VERIFY_MODEL && existsSync(VERIFY_MODEL.file)) results.verify = await benchVerify(VERIFY_MODEL);
  results.startup = await benchStartup();
  mkdirSync(dirname(JSON_OUT), { recursive: true });
  writeFileSync(JSON_OUT, JSON.stringify(results, null, 2) + '\n');

  console.log('');
  const rows = [['model', 'h5', 'weights', 'runs', 'keras2caffe', 'floor', 'ratio', 'peak RSS', 'RSS limit', 'Keras+pycaffe', 'ratio']];
  for (const r of results.models)
    rows.push([
      r.label,
      mb(r.h5Bytes),
      mb(r.weightBytes),
      String(r.runs),
      ms(r.toolMs),
      ms(r.floorMs),
      `${r.ratio.toFixed(2)}×`,
      mb(r.peakRssBytes),
      mb(r.rssLimitBytes),
      r.kerasPycaffe ? `${ms(r.kerasPycaffe.totalMs)} (${r.kerasPycaffe.runs} runs)` : '—',
      r.kerasPycaffe ? `${r.kerasPycaffe.ratio.toFixed(1)}×` : '—',
    ]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
  const s = results.startup;
  console.log(`\nstart-up (median of ${s.runs}): node -e 0 ${ms(s.nodeMs)}, keras2caffe --help ${ms(s.helpMs)}${s.convertMs !== undefined ? `, convert ${s.smallModel} ${ms(s.convertMs)}` : ''}`);

  if (results.verify) {
    const v = results.verify;
    console.log(`verification (median of ${v.runs}): ${v.label}: convert ${ms(v.convertMs)}, convert --verify ${ms(v.verifyMs)}, peak RSS ${mb(v.peakRssBytes)}, ${v.blobsCompared} blobs compared, ${v.passed ? 'passed' : 'FAILED'} (max abs error ${v.maxAbsError.toExponential(1)})`);
  }

  console.log('\ntargets:');
  const check = (ok, text) => console.log(`  ${ok ? 'ok  ' : 'MISS'} ${text}`);
  for (const r of results.models) {
    if (r.model === 'resnet50') check(r.ratio <= 2, `${r.label}: keras2caffe ≤ 2× the floor (${r.ratio.toFixed(2)}×)`);
    check(r.peakRssBytes <= r.rssLimitBytes, `${r.label}: peak RSS ≤ 1.5 × weights + 150 MB (${mb(r.peakRssBytes)} ≤ ${mb(r.rssLimitBytes)})`);
  }
  check(s.helpMs <= 300, `--help ≤ 300 ms (${ms(s.helpMs)})`);
  if (s.convertMs !== undefined) check(s.convertMs <= 300, `small convert ≤ 300 ms (${ms(s.convertMs)})`);
  console.log(`\nresults: ${relative(ROOT, JSON_OUT)}`);
}

main().catch((err) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
