// The bench in its own network namespace. Kernel TCP counters (nstat: listen
// drops, aborts, resets) are kept per network namespace, so a run inside a
// fresh one counts the bench's own sockets and nothing else on the machine.
// Needs root (or CAP_SYS_ADMIN) and util-linux `unshare`; without them the
// bench runs in the host's namespace and says the counters are system-wide.
// The namespace starts with loopback down and default sysctls: loopback is
// brought up and the host's net.ipv4.tcp_migrate_req copied (it decides
// whether a closing SO_REUSEPORT listener hands its queued connections on,
// which changes HAProxy's and Turnout's reload figures).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const ENV = 'TURNOUT_BENCH_NETNS';

/** Where this run's sockets live: 'private' inside the bench's own namespace, else 'host'. */
export function netnsScope(): 'private' | 'host' {
  return process.env[ENV] === '1' ? 'private' : 'host';
}

function hostMigrateReq(): string {
  try { return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim(); } catch { return '0'; }
}

/**
 * Runs this script again inside a new network namespace and resolves with its
 * exit code; resolves undefined when already inside one or when a namespace
 * cannot be made (the reason is printed), and the caller goes on here.
 */
export async function rerunInPrivateNetns(): Promise<number | undefined> {
  if (netnsScope() === 'private') return undefined;
  const probe = spawnSync('unshare', ['--net', '--', 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`bench: running in the host's network namespace (kernel counters are system-wide): unshare --net failed: ${(probe.error?.message ?? probe.stderr).trim() || `exit ${probe.status}`}`);
    return undefined;
  }
  const script = `ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=${hostMigrateReq()} && exec "$@"`;
  const child = spawn('unshare', ['--net', '--', 'sh', '-c', script, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, [ENV]: '1' },
  });
  // The child stops its own servers on a signal; this process only passes signals on and waits.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => child.kill(sig));
  }
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}
