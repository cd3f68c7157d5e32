// The servers under test, started from the configs of configs.ts written to a
// temp folder: a backend nginx answering 13 bytes, and nginx, HAProxy and
// Turnout as proxies in front of it. `change(n)` really changes each one's
// configuration (adds a route named after n) and triggers its own reload.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';
import {
  backendServer, haproxyCfg, haproxyMap, nginxConf, nginxProxyConf, TLS_HOST, turnoutBase, turnoutCatchAll,
  turnoutChange, turnoutHostIngresses, turnoutTls, type ProxyOptions,
} from './configs.ts';
import { freePort, get, startServer, waitReady, type Server } from './procs.ts';
import { DEFAULT_HTTP1_ENGINE } from '../../proxy/http1/engine.ts';

/** The backend's body: 13 bytes, as in issue 8. */
export const BODY = 'Hello, world!';

/** The proxies compared (the backend is 'direct'; 'reference': the runtime's own limits, reference.ts); a kind names the program, not its worker count. */
export type Kind = 'direct' | 'nginx' | 'haproxy' | 'turnout' | 'reference';

/** A running target: where load goes, and how to change its configuration. */
export interface Target {
  readonly name: string;
  readonly port: number;
  /** The process group (its leader's pid): CPU time is summed over it. */
  readonly pid?: number;
  /** The TLS (h2 + http/1.1) port, when started with `tls`. */
  readonly tlsPort?: number;
  /** Milliseconds from spawn to answering the readiness request (the last host, with `hosts`). */
  readonly startMs: number;
  /** Applies configuration change number n (a new route) through the server's reload path. */
  change(n: number): Promise<void>;
  /** The status GET /bench-change-n answers once change n is live. */
  readonly changedStatus: number;
  /** The version the server reports serving, when it has one (Turnout). */
  version(): Promise<string | undefined>;
  /** The server's recent output (for diagnostics). */
  output(): string;
  stop(): Promise<void>;
}

/** A self-signed certificate for TLS_HOST on disk, shared by the three proxies so the TLS work is the same. */
export interface Cert {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly pemFile: string;
}

/** What to start besides plain HTTP: TLS with a certificate, or host routing for a host list. */
export interface StartOptions {
  readonly cert?: Cert;
  readonly hosts?: readonly string[];
  /** Readiness bound (large host tables take a while to load). */
  readonly startTimeoutMs?: number;
  /** Turnout's --http1-engine; default: compare.ts --turnout-engine (BENCH_TURNOUT_ENGINE), else Turnout's default. */
  readonly engine?: 'node' | 'net';
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Turnout's HTTP/1.1 engine for this run: compare.ts --turnout-engine sets BENCH_TURNOUT_ENGINE for every scenario. */
export function turnoutEngine(): 'node' | 'net' {
  const e = process.env.BENCH_TURNOUT_ENGINE;
  return e === 'node' || e === 'net' ? e : DEFAULT_HTTP1_ENGINE;
}

/** Generates the EC P-256 certificate for TLS_HOST into `dir`. */
export async function makeCert(dir: string): Promise<Cert> {
  await fs.mkdir(dir, { recursive: true });
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: TLS_HOST }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000), notAfterDate: new Date(now + 7 * 24 * 3600_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: TLS_HOST }] }],
  });
  // PEM blocks end with a newline, or HAProxy cannot read cert + key from one file.
  const nl = (x: string) => (x.endsWith('\n') ? x : `${x}\n`);
  const c = { cert: nl(pems.cert), key: nl(pems.private), certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem'), pemFile: path.join(dir, 'both.pem') };
  await fs.writeFile(c.certFile, c.cert);
  await fs.writeFile(c.keyFile, c.key, { mode: 0o600 });
  await fs.writeFile(c.pemFile, c.cert + c.key, { mode: 0o600 });
  return c;
}

// Readiness: `/` through the catch-all, or with `hosts` the last host (the table is complete).
function readiness(hosts: readonly string[] | undefined): Record<string, string> {
  return hosts && hosts.length > 0 ? { host: hosts[hosts.length - 1]! } : {};
}

// A server that never became ready is stopped before the error goes up (it may still be loading).
function stopAndThrow(s: Server): (err: unknown) => Promise<never> {
  return async (err) => { await s.stop(); throw err; };
}

/** Starts a server whose configuration `conf(n)` is rewritten and reloaded by `signal` (nginx SIGHUP, HAProxy -W SIGUSR2); shared with long-lived-servers.ts. */
export async function reloadable(name: string, cmd: string, args: string[], file: string, conf: (n: number) => string,
  port: number, signal: NodeJS.Signals, opts: StartOptions, tlsPort?: number): Promise<Target> {
  await fs.writeFile(file, conf(0));
  const t0 = performance.now();
  const s = startServer(name, cmd, args);
  await waitReady(s, port, '/', 200, opts.startTimeoutMs ?? 20_000, readiness(opts.hosts)).catch(stopAndThrow(s));
  return {
    name, port, tlsPort, pid: s.child.pid, startMs: performance.now() - t0,
    async change(n) {
      await fs.writeFile(file, conf(n));
      // nginx: what `nginx -s reload` does (SIGHUP from the pid file), without
      // forking a binary 10 times a second; HAProxy -W: SIGUSR2 to the master.
      process.kill(s.child.pid!, signal);
    },
    changedStatus: 204,
    version: async () => undefined,
    output: s.output,
    stop: () => s.stop(),
  };
}

/** The backend: nginx, one worker, a fixed 13-byte body on every path. */
export async function startBackend(dir: string): Promise<Target> {
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const file = path.join(dir, 'nginx.conf');
  return reloadable('backend nginx', 'nginx', ['-p', dir, '-c', file], file, () => nginxConf(dir, 1, backendServer(port, BODY)), port, 'SIGHUP', {});
}

/** nginx as a reverse proxy with a keep-alive upstream pool (server blocks per host with `hosts`). */
export async function startNginxProxy(dir: string, workers: number, backendPort: number, opts: StartOptions = {}): Promise<Target> {
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const tlsPort = opts.cert ? await freePort() : undefined;
  const p: ProxyOptions = { hosts: opts.hosts, tls: opts.cert && tlsPort ? { ...opts.cert, port: tlsPort } : undefined };
  const file = path.join(dir, 'nginx.conf');
  return reloadable(`nginx x${workers}`, 'nginx', ['-p', dir, '-c', file], file, (n) => nginxProxyConf(dir, workers, port, backendPort, n, p), port, 'SIGHUP', opts, tlsPort);
}

/** HAProxy in master-worker mode (-W), http mode, keep-alive on both sides (a map_str host lookup with `hosts`). */
export async function startHaproxy(dir: string, threads: number, backendPort: number, opts: StartOptions = {}): Promise<Target> {
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const tlsPort = opts.cert ? await freePort() : undefined;
  const mapFile = path.join(dir, 'hosts.map');
  if (opts.hosts) await fs.writeFile(mapFile, haproxyMap(opts.hosts));
  const p: ProxyOptions = { hosts: opts.hosts, mapFile, tls: opts.cert && tlsPort ? { ...opts.cert, port: tlsPort } : undefined };
  const file = path.join(dir, 'haproxy.cfg');
  return reloadable(`haproxy x${threads}`, 'haproxy', ['-W', '-db', '-f', file, '-p', path.join(dir, 'haproxy.pid')], file,
    (n) => haproxyCfg(threads, port, backendPort, n, p), port, 'SIGUSR2', opts, tlsPort);
}

// Host Ingresses go in files of this many documents (one huge YAML file is no
// more realistic than many, and keeps each parse bounded).
const HOSTS_PER_FILE = 1000;

/**
 * Turnout local mode (controller + proxy, real manifest reload path). With
 * `hosts`: one Ingress per host and no catch-all; with `cert`: a TLS Secret
 * and Ingress for TLS_HOST on the https port. `nodeFlags` e.g. --cpu-prof.
 */
export async function startTurnout(dir: string, workers: number, backendPort: number, nodeFlags: string[] = [], opts: StartOptions = {}): Promise<Target> {
  const mdir = path.join(dir, 'manifests');
  await fs.mkdir(mdir, { recursive: true });
  await fs.writeFile(path.join(mdir, 'backend.yaml'), turnoutBase(backendPort) + (opts.hosts ? '' : '---\n' + turnoutCatchAll()));
  if (opts.cert) await fs.writeFile(path.join(mdir, 'tls.yaml'), turnoutTls(opts.cert.cert, opts.cert.key));
  const hosts = opts.hosts ?? [];
  for (let i = 0; i < hosts.length; i += HOSTS_PER_FILE) {
    await fs.writeFile(path.join(mdir, `hosts-${String(i / HOSTS_PER_FILE).padStart(3, '0')}.yaml`), turnoutHostIngresses(hosts.slice(i, i + HOSTS_PER_FILE), i));
  }
  const [port, https, admin] = [await freePort(), await freePort(), await freePort()];
  const engine = opts.engine ?? turnoutEngine();
  const args = [...nodeFlags, path.join(root, 'bin/turnout.js'), 'local', '--manifests', mdir, '--workers', String(workers),
    '--http-port', String(port), '--https-port', String(https), '--admin-port', String(admin), '--log-level', process.env.BENCH_TURNOUT_LOG ?? 'warn', '--drain-timeout', '2s',
    '--http1-engine', engine];
  const t0 = performance.now();
  const s = startServer(`turnout --workers ${workers} --http1-engine ${engine}`, process.execPath, args);
  await waitReady(s, port, '/', 200, opts.startTimeoutMs ?? 30_000, readiness(opts.hosts)).catch(stopAndThrow(s));
  return {
    name: s.name, port, pid: s.child.pid, tlsPort: opts.cert ? https : undefined, startMs: performance.now() - t0,
    async change(n) {
      // Rewritten in place (one small write), as most editors do. (Renames
      // were missed until the manifest source stopped using Node's recursive
      // watcher: docs/performance.md.)
      await fs.writeFile(path.join(mdir, 'change.yaml'), turnoutChange(n));
    },
    changedStatus: 503,
    output: s.output,
    async version() {
      try { return String(JSON.parse((await get(admin, '/snapshot')).body).version); } catch { return undefined; }
    },
    async stop() {
      // SIGINT: local mode's clean shutdown (writes --cpu-prof profiles); the group is killed after.
      if (s.child.exitCode === null) {
        const exited = new Promise((resolve) => s.child.once('exit', resolve));
        process.kill(s.child.pid!, 'SIGINT');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      }
      await s.stop();
    },
  };
}

/** Starts a proxy of `kind` with `workers` (nginx worker_processes, HAProxy nbthread, Turnout --workers). */
export function startProxy(kind: Exclude<Kind, 'direct'>, dir: string, workers: number, backendPort: number, opts: StartOptions = {}): Promise<Target> {
  if (kind === 'nginx') return startNginxProxy(dir, workers, backendPort, opts);
  if (kind === 'haproxy') return startHaproxy(dir, workers, backendPort, opts);
  return startTurnout(dir, workers, backendPort, [], opts);
}
