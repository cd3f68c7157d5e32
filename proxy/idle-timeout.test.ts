// A route's idleTimeoutMs (Gateway API timeouts.idle) end to end through
// forward.ts with real loopback backends: the longest quiet time between two
// chunks of the upstream response body before the exchange is cut.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { routeKey } from '../api/snapshot.ts';
import type { Route } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { createForwarder } from './forward.ts';
import { buildTable } from './routing/table.ts';
import type { RoutingTable } from './routing/table.ts';
import { UpstreamPools } from './upstream/pools.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, startServer } from './testkit.ts';

let current: RoutingTable | undefined;
const pools = new UpstreamPools({ connectTimeoutMs: 1_000 });
const handler = createForwarder({ getTable: () => current });
let proxy: TestServer;
/** Sends headers and one chunk, then goes quiet for good (never ends the response). */
let quiet: TestServer;
/** Sends three chunks 100 ms apart, then ends. */
let slow: TestServer;

function use(port: number, extra: Partial<Route>): void {
  const rt: Route = { match: { type: 'Prefix', path: '/' }, cluster: 'ns/c:80', timeoutMs: 5_000, origin: 'Route/test/r', ...extra };
  const next = buildTable(sealSnapshot(content({ virtualHosts: { '*': { routes: { [routeKey('Prefix', '/')]: rt } } }, clusters: { 'ns/c:80': cluster(port) } })), current, { pools });
  current?.retire();
  current = next;
}

before(async () => {
  proxy = await startServer(http.createServer((req, res) => handler(req, res, 'http')));
  quiet = await startServer(http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first');
  }));
  slow = await startServer(http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const next = () => {
      res.write(`c${n}`);
      if (++n < 3) setTimeout(next, 100);
      else res.end();
    };
    next();
  }));
});

after(async () => {
  await proxy.close();
  current?.retire();
  await pools.close();
  await Promise.all([quiet.close(), slow.close()]);
});

interface Outcome {
  readonly status: number;
  readonly body: string;
  /** The response ended normally (false: the connection was cut mid-body). */
  readonly complete: boolean;
  readonly tookMs: number;
}

/** One GET; resolves when the response ends or the connection is cut, rejects after `limitMs`. */
function fetchOutcome(port: number, limitMs: number): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => {
      req.destroy();
      reject(new Error(`no end within ${limitMs} ms`));
    }, limitMs);
    const req = http.request({ host: '127.0.0.1', port, path: '/x', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let settled = false;
      const done = (complete: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), complete, tookMs: Date.now() - t0 });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(true));
      res.on('error', () => done(false));
      res.on('close', () => done(res.complete));
    });
    req.on('error', (err) => {
      clearTimeout(guard);
      reject(err);
    });
    req.end();
  });
}

test('an upstream quiet longer than idleTimeoutMs after one chunk: the client connection is cut, the body truncated', async () => {
  use(quiet.port, { idleTimeoutMs: 300 });
  const o = await fetchOutcome(proxy.port, 10_000);
  assert.equal(o.status, 200);
  assert.equal(o.body, 'first');
  assert.equal(o.complete, false);
  assert.ok(o.tookMs >= 250 && o.tookMs < 5_000, `took ${o.tookMs} ms`);
});

test('pauses shorter than idleTimeoutMs: the whole body arrives', async () => {
  use(slow.port, { idleTimeoutMs: 2_000 });
  const o = await fetchOutcome(proxy.port, 10_000);
  assert.equal(o.status, 200);
  assert.equal(o.body, 'c0c1c2');
  assert.equal(o.complete, true);
});

test('idleTimeoutMs is per gap, not for the whole body: 3 chunks 100 ms apart pass a 250 ms idle bound', async () => {
  use(slow.port, { idleTimeoutMs: 250 });
  const o = await fetchOutcome(proxy.port, 10_000);
  assert.equal(o.body, 'c0c1c2');
  assert.equal(o.complete, true);
});
