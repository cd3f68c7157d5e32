// Helpers for the proxy's tests: snapshot builders, real backends on
// 127.0.0.1:0, and a raw HTTP client that sends exactly the bytes it is given
// (http.request would add and normalise headers the tests need to control).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Cluster, Route, VirtualHost } from '../api/snapshot.ts';
import { endpointKey, routeKey } from '../api/snapshot.ts';
import type { SnapshotContent } from '../api/version.ts';
import { sealSnapshot } from '../api/version.ts';
import { createForwarder, type ForwarderOptions } from './forward.ts';
import { buildTable, type RoutingTable } from './routing/table.ts';
import { UpstreamPools } from './upstream/pools.ts';
import type { PoolOptions } from './upstream/pools.ts';
import { DEFAULT_HTTP1_ENGINE, DEFAULT_LIMITS, http1Server } from './servers.ts';
import type { Http1Engine } from './servers.ts';
import type { Http1Server } from './http1/server.ts';

/**
 * The HTTP/1.1 engine the proxy tests run on: the default, or the one
 * TURNOUT_TEST_HTTP1_ENGINE names (package.json runs the proxy suite again on
 * node:http that way).
 */
export function testEngine(): Http1Engine {
  const e = process.env.TURNOUT_TEST_HTTP1_ENGINE;
  return e === 'node' || e === 'net' ? e : DEFAULT_HTTP1_ENGINE;
}

/** A route for a snapshot's `routes` map. */
export function route(type: 'Exact' | 'Prefix', path: string, cluster?: string, timeoutMs = 5_000): [string, Route] {
  const r: Route = cluster === undefined
    ? { match: { type, path }, timeoutMs, origin: 'Ingress/test/t' }
    : { match: { type, path }, cluster, timeoutMs, origin: 'Ingress/test/t' };
  return [routeKey(type, path), r];
}

/** A virtual host from routes built with route(). */
export function vhost(routes: Array<[string, Route]>, tlsSecret?: string): VirtualHost {
  const vh: VirtualHost = { routes: Object.fromEntries(routes) };
  return tlsSecret === undefined ? vh : { ...vh, tls: { secret: tlsSecret } };
}

/** A cluster whose endpoints are 127.0.0.1 on the given ports. */
export function cluster(...ports: number[]): Cluster {
  return { endpoints: Object.fromEntries(ports.map((port) => [endpointKey('127.0.0.1', port), { address: '127.0.0.1', port }])) };
}

/** Snapshot content with no listeners, secrets or clusters unless given. */
export function content(parts: Partial<SnapshotContent>): SnapshotContent {
  return { listeners: {}, virtualHosts: {}, clusters: {}, secrets: {}, ...parts };
}

/** What an echo backend received. */
export interface Echoed {
  readonly backend: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly rawHeaders: string[];
  readonly body: string;
}

/** A running test server. */
export interface TestServer {
  readonly port: number;
  readonly server: http.Server | Http1Server;
  close(): Promise<void>;
}

/**
 * A backend that answers every request with JSON describing it, and an
 * `x-backend: <name>` header. `extraHeaders` are added to each response.
 */
export async function echoBackend(name: string, extraHeaders: Record<string, string> = {}): Promise<TestServer> {
  return startServer(http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body: Echoed = {
        backend: name, method: req.method ?? '', url: req.url ?? '', headers: req.headers,
        rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8'),
      };
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name, ...extraHeaders });
      res.end(JSON.stringify(body));
    });
  }));
}

/** Starts `server` on 127.0.0.1:0. */
export async function startServer(server: http.Server | Http1Server): Promise<TestServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** A forwarder on a loopback server whose table the test sets directly: forward.ts without apply.ts. */
export interface DirectProxy {
  readonly port: number;
  /** Shared by every table `use` builds, as the DataPlane's are. */
  readonly pools: UpstreamPools;
  /** Builds a table from `parts` and swaps it in, retiring the previous one. */
  use(parts: Partial<SnapshotContent>): RoutingTable;
  close(): Promise<void>;
}

/**
 * Starts a DirectProxy; `options` are the forwarder's, less the table source,
 * and the HTTP/1.1 engine (default testEngine()).
 */
export async function directProxy(options: Omit<ForwarderOptions, 'getTable'> & { engine?: Http1Engine; pools?: PoolOptions } = {}): Promise<DirectProxy> {
  const { engine = testEngine(), pools: poolOptions, ...forwarder } = options;
  let current: RoutingTable | undefined;
  // The net engine brings its upstream client, as DataPlane does.
  const pools = new UpstreamPools({ connectTimeoutMs: 1_000, http1Client: engine === 'net' ? 'lean' : 'undici', ...poolOptions });
  const handler = createForwarder({ ...forwarder, getTable: () => current });
  const server = await startServer(http1Server(engine, DEFAULT_LIMITS, (req, res) => handler(req, res, 'http'), false));
  return {
    port: server.port,
    pools,
    use(parts) {
      const next = buildTable(sealSnapshot(content(parts)), current, { pools });
      current?.retire();
      current = next;
      return next;
    },
    async close() {
      await server.close();
      current?.retire();
      await pools.close();
    },
  };
}

/**
 * A port that was free a moment ago (for snapshot listeners, which need a
 * real port, and for refused connects), picked below the kernel's ephemeral
 * range: a port from listen(0) is handed out again to the next listen(0) or
 * to any client socket of a test running alongside, and the listener that
 * binds it later then fails (EADDRINUSE, seen in CI with two test files at
 * a time); below the range only another freePort() can pick it, and never
 * one this process already handed out (a test that asks for two ports before
 * binding either must get two).
 */
export async function freePort(): Promise<number> {
  const low = Math.max(1024, ephemeralStart() - 12_000);
  if (ephemeralStart() - low < 1_000) return anyFreePort();
  for (let i = 0; i < 100; i++) {
    const port = low + Math.floor(Math.random() * (ephemeralStart() - low));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port below the ephemeral range (from ${low})`);
}

/** listen(0)'s port: where the ephemeral range leaves no room below it. */
async function anyFreePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const handedOut = new Set<number>();

let ephemeral: number | undefined;
/** The first port of the kernel's ephemeral range (Linux: /proc; 32768 elsewhere). */
function ephemeralStart(): number {
  if (ephemeral !== undefined) return ephemeral;
  try {
    ephemeral = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    ephemeral = 32_768;
  }
  return ephemeral;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A response as the tests look at it. */
export interface TestResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request with a fresh connection (no agent pooling between tests). */
export function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string | Buffer): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends raw bytes on a new connection and returns everything received until
 * the server closes it (send `Connection: close`). For exact header control.
 */
export function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

/** Splits a raw HTTP/1.1 response into status, lower-cased header lines and body. */
export function parseRaw(raw: string): { status: number; headers: string[]; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers = lines.map((l) => l.toLowerCase());
  let body = raw.slice(end + 4);
  if (headers.includes('transfer-encoding: chunked')) body = dechunk(body);
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

function dechunk(data: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    const size = Number.parseInt(data.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += data.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}
