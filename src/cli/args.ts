/** A small, strict argument parser (no dependency: start-up time matters). */
import { UserError } from '../core/errors.js';

export interface FlagSpec {
  /** Takes a value (`--out DIR`); otherwise a boolean switch. */
  value?: boolean;
  /** May be given more than once (values collected in order). */
  repeat?: boolean;
  short?: string;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | boolean | string[]>;
}

export function parseArgs(argv: string[], spec: Record<string, FlagSpec>, command: string): ParsedArgs {
  const positionals: string[] = [];
  const flags: ParsedArgs['flags'] = {};
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const n = byShort.get(arg.slice(1));
      if (!n) throw new UserError(`unknown option '${arg}' for '${command}'; see keras2caffe ${command} --help`);
      name = n;
    }
    const s = spec[name];
    if (!s) throw new UserError(`unknown option '--${name}' for '${command}'; see keras2caffe ${command} --help`);
    if (s.value) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UserError(`option '--${name}' needs a value; see keras2caffe ${command} --help`);
      if (s.repeat) flags[name] = [...((flags[name] as string[]) ?? []), v];
      else flags[name] = v;
    } else {
      if (inline !== undefined) throw new UserError(`option '--${name}' takes no value`);
      flags[name] = true;
    }
  }
  return { positionals, flags };
}

export function str(flags: ParsedArgs['flags'], name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function list(flags: ParsedArgs['flags'], name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : [];
}
