/** The headless command as a user runs it: the real executable, exit codes, files. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'keras2caffe.js');
const model = (n: string) => join(ROOT, 'fixtures', 'models', `${n}.h5`);

function run(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}


describe('keras2caffe convert', () => {
  it('--help lists the options', () => {
    const r = run(['convert', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--out DIR');
    expect(r.stdout).toContain('--target');
    expect(run(['--help']).stdout).toContain('keras2caffe convert MODEL.h5');
  });

  it('writes <stem>.prototxt and <stem>.caffemodel and a summary', () => {
    const out = mkdtempSync(join(tmpdir(), 'k2c-'));
    const r = run(['convert', model('vgg_tiny'), '--out', out, '--yes']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['vgg_tiny.caffemodel', 'vgg_tiny.prototxt']);
    expect(r.stdout).toMatch(/Conv2D .*Convolution/);
    expect(readFileSync(join(out, 'vgg_tiny.prototxt'), 'utf8')).toMatch(/^name: /);
  });

  it('never overwrites without --force, and --force does', () => {
    const out = mkdtempSync(join(tmpdir(), 'k2c-'));
    writeFileSync(join(out, 'conv2d_valid.prototxt'), 'keep me');
    const r = run(['convert', model('conv2d_valid'), '--out', out, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--force');
    expect(readFileSync(join(out, 'conv2d_valid.prototxt'), 'utf8')).toBe('keep me');
    expect(run(['convert', model('conv2d_valid'), '--out', out, '--yes', '--force']).code).toBe(0);
    expect(readFileSync(join(out, 'conv2d_valid.prototxt'), 'utf8')).toMatch(/^name: /);
  });

  it('--json prints a machine-readable report', () => {
    const out = mkdtempSync(join(tmpdir(), 'k2c-'));
    const r = run(['convert', model('dense_flatten'), '--out', out, '--yes', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.target).toBe('caffe-1.0');
    expect(report.files.prototxt).toBe(join(out, 'dense_flatten.prototxt'));
    expect(report.layers.find((l: { className: string }) => l.className === 'Dense').status).toBe('exact');
  });

  it('asks for --yes when a layer has a decision, and writes nothing', () => {
    const out = mkdtempSync(join(tmpdir(), 'k2c-'));
    const r = run(['convert', model('zeropad_fold'), '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--yes/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('user errors are one line with exit 2', () => {
    for (const args of [['convert'], ['convert', 'no/such/file.h5'], ['convert', model('conv2d_valid'), '--target', 'nope'], ['convert', model('conv2d_valid'), '--bogus'], ['--bogus']]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
