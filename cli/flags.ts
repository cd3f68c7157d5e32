// Flag parsing shared by every subcommand: one table per command gives the
// flags, their defaults and their help, so `--help` and the parser never drift.
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { parseTimeoutMs } from '../lib/duration.ts';
import type { LogLevel } from '../lib/log.ts';

/** A command-line mistake: printed with the command's usage hint, exit status 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  readonly exitCode = 2;
}

/** One flag of a command. */
export interface FlagSpec {
  readonly name: string;
  readonly kind: 'string' | 'port' | 'boolean' | 'duration' | 'address' | 'count';
  readonly help: string;
  readonly default?: string;
  readonly required?: boolean;
  readonly metavar?: string;
  /** For strings: the only values accepted. */
  readonly choices?: readonly string[];
}

/** A subcommand's flag table and one-line summary. */
export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
}

/** Parsed flag values: strings, numbers (ports, durations in ms) and booleans. */
export type FlagValues = Record<string, string | number | boolean | undefined>;

/** Parses argv against the spec; throws UsageError naming the offending flag. */
export function parseFlags(spec: CommandSpec, argv: readonly string[]): FlagValues {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const f of spec.flags) options[f.name] = { type: f.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    // allowNegative: a boolean that defaults to true is turned off with --no-NAME.
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, allowNegative: true });
  } catch (err) {
    throw new UsageError(`${spec.name}: ${(err as Error).message.split('\n')[0]}`);
  }
  const raw = parsed.values as Record<string, string | boolean | undefined>;
  const out: FlagValues = { help: raw.help === true };
  if (out.help) return out;
  for (const f of spec.flags) {
    const v = raw[f.name] ?? f.default;
    if (v === undefined) {
      if (f.required) throw new UsageError(`${spec.name}: --${f.name} is required`);
      continue;
    }
    out[f.name] = convert(spec.name, f, v);
  }
  return out;
}

function convert(cmd: string, f: FlagSpec, v: string | boolean): string | number | boolean {
  if (f.kind === 'boolean') return v === true || v === 'true';
  const s = String(v);
  switch (f.kind) {
    case 'port': {
      const n = Number(s);
      if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new UsageError(`${cmd}: --${f.name} must be a port number 1..65535, got ${JSON.stringify(s)}`);
      return n;
    }
    case 'count': {
      const n = Number(s);
      if (!/^\d+$/.test(s) || n > 256) throw new UsageError(`${cmd}: --${f.name} must be a whole number 0..256, got ${JSON.stringify(s)}`);
      return n;
    }
    case 'duration': {
      const ms = parseTimeoutMs(s);
      if (ms === undefined) throw new UsageError(`${cmd}: --${f.name} must be a duration like 500ms, 15s or 1m, got ${JSON.stringify(s)}`);
      return ms;
    }
    case 'address':
      if (isIP(s) === 0) throw new UsageError(`${cmd}: --${f.name} must be an IP address, got ${JSON.stringify(s)}`);
      return s;
    default:
      if (s === '') throw new UsageError(`${cmd}: --${f.name} must not be empty`);
      if (f.choices !== undefined && !f.choices.includes(s)) {
        throw new UsageError(`${cmd}: --${f.name} must be ${f.choices.slice(0, -1).join(', ')} or ${f.choices.at(-1)}, got ${JSON.stringify(s)}`);
      }
      return s;
  }
}

/** The `--help` text of one command. */
export function usage(spec: CommandSpec): string {
  const lines = [`Usage: turnout ${spec.name} [flags]`, '', spec.summary, '', 'Flags:'];
  for (const f of spec.flags) {
    const meta = f.kind === 'boolean' ? '' : ` ${f.metavar ?? f.kind.toUpperCase()}`;
    const name = f.kind === 'boolean' && f.default === 'true' ? `[no-]${f.name}` : f.name;
    const dflt = f.default !== undefined ? ` (default ${f.default})` : f.required ? ' (required)' : '';
    lines.push(`  --${(name + meta).padEnd(28)} ${f.help}${dflt}`);
  }
  lines.push(`  --${'help'.padEnd(28)} Show this help`);
  return lines.join('\n') + '\n';
}

/** --log-level (its choices are checked by parseFlags). */
export function logLevel(flags: FlagValues): LogLevel {
  return flags['log-level'] as LogLevel;
}
