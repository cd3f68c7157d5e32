// Helpers for end-to-end tests: free loopback ports, echo backends, a spawned
// `turnout` process, and HTTP(S) requests that report failures instead of throwing.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent as HttpAgent, createServer, request as httpRequest, type Agent, type Server } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';

/** Absolute path of the `turnout` executable under test. */
export const TURNOUT = fileURLToPath(new URL('../bin/turnout.js', import.meta.url));

export { freePort } from '../proxy/testkit.ts';

/** A backend on 127.0.0.1:0 answering `<name> <path>` so tests can see where a request went. */
export async function echoBackend(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const body = `${name} ${req.url}`;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'x-echo-xff': String(req.headers['x-forwarded-for'] ?? ''),
      'x-echo-proto': String(req.headers['x-forwarded-proto'] ?? ''),
      'x-echo-host': String(req.headers['x-forwarded-host'] ?? ''),
    });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A response, or the error that prevented one. */
export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  error?: string;
}

/** GET through the proxy; never throws (status 0 + error on failure). */
export function get(port: number, path: string, opts: { host?: string; agent?: Agent | false; tls?: boolean; servername?: string; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = (opts.tls ? httpsRequest : httpRequest)({
      host: '127.0.0.1', port, path, method: 'GET',
      headers: opts.host ? { host: opts.host } : {},
      agent: opts.agent, servername: opts.servername, rejectUnauthorized: false,
      timeout: opts.timeoutMs ?? 10_000,
    } satisfies RequestOptions, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', (err) => resolve({ status: 0, body, headers: {}, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (err) => resolve({ status: 0, body: '', headers: {}, error: err.message }));
    req.end();
  });
}

/** A spawned turnout process with its output captured. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Runs `turnout <args>` with Node 24 (this test's own node). */
export function turnout(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [TURNOUT, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `check` every 50 ms until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A throwaway self-signed EC P-256 pair (stream or default certificate); `ip` adds an IP subjectAltName. */
export async function selfSignedPair(commonName: string, ip?: string): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256',
    ...(ip === undefined ? {} : { extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip }] }] }),
  });
  return { cert: pems.cert, key: pems.private };
}

/** Counts of a client load: answers as expected, anything else, and the distinct failures. */
export interface LoadStats {
  ok: number;
  failed: number;
  errors: Map<string, number>;
}

/**
 * GETs `host` + `path` through the proxy in loops, `keepAlive` clients on one
 * kept-alive socket each and `fresh` clients with a new connection per request,
 * until stop() or the bounds (`maxRequests` in all, `maxMs`). Every answer
 * other than 200 with body `expect` is a failure, counted by kind.
 */
export function clientLoad(opts: { port: number; host: string; path: string; expect: string; keepAlive: number; fresh: number; maxRequests: number; maxMs: number; tls?: boolean }): { stats: LoadStats; stop(): Promise<LoadStats> } {
  const stats: LoadStats = { ok: 0, failed: 0, errors: new Map() };
  const deadline = Date.now() + opts.maxMs;
  let stopped = false;
  const agents = Array.from({ length: opts.keepAlive }, () => opts.tls
    ? new HttpsAgent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false, servername: opts.host })
    : new HttpAgent({ keepAlive: true, maxSockets: 1 }));
  const loop = async (agent: Agent | false) => {
    while (!stopped && Date.now() < deadline && stats.ok + stats.failed < opts.maxRequests) {
      const r = await get(opts.port, opts.path, { host: opts.host, agent, tls: opts.tls, servername: opts.host });
      if (r.status === 200 && r.body === opts.expect) stats.ok++;
      else {
        stats.failed++;
        const key = `${r.status} ${r.error ?? r.body}`.slice(0, 80);
        stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
      }
    }
  };
  const loops = [...agents.map((a) => loop(a)), ...Array.from({ length: opts.fresh }, () => loop(false))];
  return {
    stats,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      for (const a of agents) a.destroy();
      return stats;
    },
  };
}
