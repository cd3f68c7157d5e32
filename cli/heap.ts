// The V8 heap settings of a serving proxy process. Node sizes its heap for
// throughput on big machines: a young generation that grows to 64 MiB per
// semi-space (134 MB in all), and an old generation allowed to grow to up to
// four times the live heap before a full collection. A proxy at 10k routes
// held ~55 MB of live objects (~45 since the second RSS pass), yet measured
// 370–400 MB of RSS after 200 snapshot changes: empty semi-spaces and garbage
// (each apply then left a copy of the 10k-entry hosts map in large-object space,
// freed only by a full GC; an overlay since the third RSS pass, see
// proxy/stream/overlay.ts). 8 MiB semi-spaces and an old generation of at
// most twice the live heap brought that to ~185 MB; 2 MiB semi-spaces or 1.5× cost
// measurably more GC time per request under keep-alive load, a growth of 25–50 %
// more CPU per change, --memory-saver-mode likely more GC per request
// (docs/performance.md, 2026-11-26, and "Proxy RSS at 10k, second pass").
//
// Node reads these flags only at start-up (v8.setFlagsFromString has no effect
// on a heap already sized), so `turnout proxy` starts again in the same
// process with them (process.execve: same PID, same stdio, nothing else kept)
// before it opens anything, and forks its workers with them. --heap-flags
// sets them ("" keeps Node's defaults); flags given to node directly or in
// NODE_OPTIONS win and skip the restart.
import { UsageError, type FlagValues } from './flags.ts';

/** The proxy's default V8 flags; the measurements behind them are in docs/performance.md. */
export const DEFAULT_HEAP_FLAGS = '--max-semi-space-size=8 --heap-growing-percent=100';

/** Replaces the default where --heap-flags is not given (a chart's env, the bench's A/B runs). */
export const HEAP_FLAGS_ENV = 'TURNOUT_HEAP_FLAGS';

/** The heap flags of a serving process: --heap-flags, else $TURNOUT_HEAP_FLAGS, else the default. */
export function heapFlagsOf(flags: FlagValues): string[] {
  const given = flags['heap-flags'];
  return parseHeapFlags(typeof given === 'string' ? given : process.env[HEAP_FLAGS_ENV] ?? DEFAULT_HEAP_FLAGS);
}

/** Marks a process already started again with its heap flags (the value: those flags). */
const APPLIED_ENV = 'TURNOUT_HEAP_FLAGS_APPLIED';

/** The --heap-flags value as a list of node flags; UsageError for anything but "--name[=value]" words. */
export function parseHeapFlags(value: string): string[] {
  const flags = value.split(/\s+/).filter((f) => f !== '');
  for (const f of flags) {
    if (!/^--[a-z][a-z0-9-_]*(=[\w.-]+)?$/i.test(f)) throw new UsageError(`--heap-flags: ${JSON.stringify(f)} is not a --name or --name=value flag`);
  }
  return flags;
}

/** The name part of a flag, with underscores as dashes (V8 accepts both). */
function flagName(flag: string): string {
  return flag.slice(2).split('=')[0]!.replaceAll('_', '-');
}

/**
 * Whether this process must start again to get `flags`: not when it already
 * has them, nor when node was given any flag of the same name itself (on its
 * command line or in NODE_OPTIONS: the operator's choice), nor without flags.
 */
export function needsRestart(flags: readonly string[], execArgv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (flags.length === 0 || env[APPLIED_ENV] !== undefined) return false;
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter((f) => f.startsWith('--')).map(flagName));
  return !flags.some((f) => given.has(flagName(f)));
}

/**
 * Replaces this process by the same command with `flags` in front (see the
 * top of the file); returns only when no restart is needed or possible.
 */
export function restartWithHeapFlags(flags: readonly string[]): void {
  if (!needsRestart(flags, process.execArgv, process.env) || typeof process.execve !== 'function') return;
  try {
    process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [APPLIED_ENV]: flags.join(' ') });
  } catch (err) {
    // Serving with Node's defaults beats not serving: say so and go on.
    process.stderr.write(`turnout: could not restart with --heap-flags ${JSON.stringify(flags.join(' '))} (${(err as Error).message}); running with Node's heap defaults\n`);
  }
}
