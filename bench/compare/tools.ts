// The external programs the comparison needs, all Debian packages: checked
// before anything starts, installed only when asked (`--install`, as root).
import { spawnSync } from 'node:child_process';

/** Program → Debian package providing it. h2load is checked though no scenario uses it yet. */
export const tools: Record<string, string> = { nginx: 'nginx-light', haproxy: 'haproxy', wrk: 'wrk', h2load: 'nghttp2-client' };

function has(cmd: string): boolean {
  return spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Names of the programs not found on PATH (also /usr/sbin, where nginx and haproxy live). */
export function missingTools(): string[] {
  return Object.keys(tools).filter((t) => !has(t));
}

/** The apt command that installs `missing`. */
export function aptCommand(missing: string[]): string {
  return `apt-get install -y ${missing.map((t) => tools[t] ?? t).join(' ')}`;
}

/** Installs the missing packages with apt-get (root only); throws if that fails. */
export function install(missing: string[]): void {
  if (process.getuid?.() !== 0) throw new Error(`--install needs root; run: sudo ${aptCommand(missing)}`);
  for (const cmd of [['apt-get', 'update'], ['apt-get', 'install', '-y', ...missing.map((t) => tools[t] ?? t)]]) {
    const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'inherit', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed`);
  }
}

/** Version strings for the results file. */
export function versions(): Record<string, string> {
  const line = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown';
  };
  return {
    nginx: line('nginx', ['-v']),
    haproxy: line('haproxy', ['-v']).replace(/ - https.*/, ''),
    wrk: line('wrk', ['-v']).replace(/ Copyright.*/, ''),
    node: process.version,
  };
}
