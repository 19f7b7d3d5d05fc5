/**
 * Test access to real BVLC Caffe (the "oracle", see src/verify/caffeOracle.ts). Suites that need it
 * use `describeOracle(...)`: when the oracle is missing they are skipped, and the reason is printed
 * once per test worker.
 */
import { describe, it } from 'vitest';
import { oracleAvailable, type OracleStatus } from '../../src/verify/caffeOracle.js';

export {
  oracleAvailable,
  oracleRoot,
  oracleScriptsDir,
  repoRoot,
  runCaffeInOracle,
  type OracleRunOptions,
  type OracleStatus,
} from '../../src/verify/caffeOracle.js';

let status: OracleStatus | undefined;
let told = false;

/** oracleAvailable(), computed once. */
export function oracleStatus(): OracleStatus {
  return (status ??= oracleAvailable());
}

/** Why oracle tests are skipped here, or undefined when the oracle is usable. */
export function oracleSkipReason(): string | undefined {
  const s = oracleStatus();
  return s.ok ? undefined : s.reason;
}

function tell(reason: string): void {
  if (told) return;
  told = true;
  process.stderr.write(`[caffe-oracle] skipping real-Caffe tests: ${reason}\n`);
}

/** `describe` when real Caffe can run here, `describe.skip` (with the reason in the title) otherwise. */
export function describeOracle(name: string, fn: () => void): void {
  const reason = oracleSkipReason();
  if (reason === undefined) describe(name, fn);
  else {
    tell(reason);
    describe.skip(`${name} [skipped: ${reason}]`, fn);
  }
}

/** Like describeOracle, for a single test. */
export function itOracle(name: string, fn: () => unknown, timeout?: number): void {
  const reason = oracleSkipReason();
  if (reason === undefined) it(name, fn, timeout);
  else {
    tell(reason);
    it.skip(`${name} [skipped: ${reason}]`, fn, timeout);
  }
}
