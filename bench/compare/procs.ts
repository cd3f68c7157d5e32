// Child processes of the comparison benchmark: each server runs in its own
// process group (nginx and HAProxy masters fork workers, `turnout local
// --workers N` forks too), so killing the group leaves nothing behind, also on
// failure, Ctrl-C or an uncaught error.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

/** A server started by the bench: its group is killed by `stop()` or at exit. */
export interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  /** Last lines of stderr/stdout, shown when the server fails to start. */
  readonly output: () => string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
const plain = new Set<ChildProcess>();
const exitHooks: Array<() => void> = [];

/** Kills `child` (not a group leader: wrk) if the bench exits first. */
export function trackChild(child: ChildProcess): void {
  plain.add(child);
  child.once('exit', () => plain.delete(child));
}

/** Runs `fn` (synchronous) when the bench exits, also on Ctrl-C: e.g. removing its temp folder. */
export function atExit(fn: () => void): void {
  exitHooks.push(fn);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try { process.kill(-child.pid, signal); } catch { /* already gone */ }
}

// Synchronous: 'exit' handlers cannot wait. SIGKILL to each group we started.
function killAll(): void {
  for (const c of live) killGroup(c, 'SIGKILL');
  live.clear();
  for (const c of plain) c.kill('SIGKILL');
  plain.clear();
  for (const fn of exitHooks.splice(0)) { try { fn(); } catch { /* best effort */ } }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping every server the bench started`);
    killAll();
    process.exit(130);
  });
}

/** Starts `cmd args` in a new process group, tracked for cleanup. */
export function startServer(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Server {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  live.add(child);
  let tail = '';
  const keep = (d: Buffer) => { tail = (tail + String(d)).slice(-4000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (err) => { tail += `\nspawn error: ${err.message}`; });
  child.on('exit', () => live.delete(child));
  return {
    name,
    child,
    output: () => tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) { live.delete(child); return; }
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), 3_000);
      await exited;
      clearTimeout(t);
      // Workers of a master that exited first would still hold the group.
      killGroup(child, 'SIGKILL');
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* group empty */ }
      live.delete(child);
    },
  };
}

/** A free TCP port on 127.0.0.1 (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', resolve); });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** One GET on 127.0.0.1: status and body, or an error. */
export function get(port: number, path: string, timeoutMs = 2_000, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Waits until GET `path` (with `headers`, e.g. a Host) answers `status` (bounded), or throws with the server's output. */
export async function waitReady(server: Server, port: number, path: string, status = 200, timeoutMs = 20_000, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`${server.name} exited (${server.child.exitCode}):\n${server.output()}`);
    try {
      const r = await get(port, path, 1_000, headers);
      if (r.status === status) return;
      last = `status ${r.status}`;
    } catch (err) { last = (err as Error).message; }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${server.name} not ready on :${port}${path} after ${timeoutMs} ms (${last}):\n${server.output()}`);
}
