// Control-plane processes for end-to-end tests: each one runs in its own process
// group (spawned detached) so a stop kills it and anything it forked, with its
// output in a log file that a failing test can show. Every group still alive when
// this Node process exits is killed, so a crashed test run leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

/** A process group the harness started; `stop()` is idempotent and bounded. */
export interface GroupProc {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) when the leader exits. */
  readonly exited: Promise<number | string>;
  /** True until the leader exits. */
  running(): boolean;
  /** The last `maxBytes` of its log, for failure messages. */
  tail(maxBytes?: number): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the leader is gone. */
  stop(graceMs?: number): Promise<void>;
}

// Live groups by pid, killed synchronously on exit: 'exit' handlers cannot await.
const live = new Map<number, string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
  });
  // Without these, SIGINT/SIGTERM end Node without running 'exit' handlers.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
      process.kill(process.pid, sig);
    });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Pids of every group the harness started that has not exited yet (leftover checks). */
export function liveGroups(): Array<{ pid: number; name: string }> {
  return [...live].map(([pid, name]) => ({ pid, name }));
}

/**
 * Starts `bin args` detached in its own process group, stdout and stderr appended
 * to `logFile`. Throws if it cannot be spawned at all.
 */
export function startGroup(name: string, bin: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): GroupProc {
  hookExit();
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${name} (${bin})`);
  live.set(pid, name);
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      live.delete(pid);
      // The leader is gone; finish off anything it left in its group.
      killGroup(pid, 'SIGKILL');
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      done = true;
      live.delete(pid);
      resolve(`spawn error: ${err.message}`);
    });
  });
  child.unref();
  const tail = (maxBytes = 4000): string => {
    try {
      const text = readFileSync(logFile, 'utf8');
      return text.slice(-maxBytes);
    } catch {
      return '';
    }
  };
  return {
    name, pid, logFile, exited, tail,
    running: () => !done,
    async stop(graceMs = 5_000) {
      if (done) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
