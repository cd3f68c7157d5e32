// Retry policy (retry.ts): the budget and backoff as units, then end to end
// through forward.ts with real loopback backends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { routeKey } from '../api/snapshot.ts';
import type { ClusterKey, RetryPolicy, Route } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { createForwarder } from './forward.ts';
import type { Echoed } from './testkit.ts';
import { backoffDelay, conditionOf, RetryBudget, retryable } from './retry.ts';
import { buildTable } from './routing/table.ts';
import type { RoutingTable } from './routing/table.ts';
import { UpstreamPools } from './upstream/pools.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, echoBackend, get, startServer } from './testkit.ts';

test('budget: at most max(3, 20 % of requests in flight) retries in flight per cluster', () => {
  const b = new RetryBudget();
  assert.deepEqual([1, 2, 3, 4].map(() => b.tryRetry('c')), [true, true, true, false]);
  assert.equal(b.tryRetry('other'), true, 'budgets are per cluster');
  for (let i = 0; i < 20; i++) b.requestStarted('c');
  assert.equal(b.tryRetry('c'), true, '20 in flight allow 4');
  assert.equal(b.tryRetry('c'), false);
  b.retryEnded('c');
  assert.equal(b.retriesInFlight('c'), 3);
  assert.equal(b.tryRetry('c'), true);
  for (let i = 0; i < 4; i++) b.retryEnded('c');
  for (let i = 0; i < 20; i++) b.requestEnded('c');
  assert.equal(b.retriesInFlight('c'), 0);
});

test('backoff: full jitter below an exponential ceiling capped at 10 × base', () => {
  assert.equal(backoffDelay(25, 0, () => 0.999), 24);
  assert.equal(backoffDelay(25, 2, () => 0.999), 99);
  assert.equal(backoffDelay(25, 9, () => 0.999), 249);
  assert.equal(backoffDelay(25, 3, () => 0), 0);
  assert.equal(backoffDelay(0, 3, () => 0.5), 0);
});

test('retryable: listed conditions, and a body only after a connect failure', () => {
  const p: RetryPolicy = { attempts: 2, on: ['connect-failure', 'reset', '503', '504'], backoffMs: 25 };
  const cases: Array<[Parameters<typeof retryable>[1], boolean, boolean]> = [
    ['connect-failure', false, true], ['connect-failure', true, true], ['reset', false, true], ['reset', true, false],
    [503, false, true], [503, true, false], [502, false, false], [500, false, false], ['timeout', false, true], [504, false, true],
  ];
  for (const [outcome, body, want] of cases) assert.equal(retryable(p, outcome, body), want, `${outcome} body=${body}`);
  assert.equal(conditionOf(200), undefined);
});

let current: RoutingTable | undefined;
const pools = new UpstreamPools({ connectTimeoutMs: 1_000 });
const handler = createForwarder({ getTable: () => current, replayBodyLimit: 16 });
let proxy: TestServer;
let good: TestServer;
let bad: TestServer;
let reset: TestServer;
let silent: TestServer;
const hits = { bad: 0, reset: 0, silent: 0 };

function use(c: Record<ClusterKey, number[]>, extra: Partial<Route>): void {
  const rt: Route = { match: { type: 'Prefix', path: '/' }, cluster: 'ns/c:80', timeoutMs: 5_000, origin: 'Route/test/r', ...extra };
  const clusters = Object.fromEntries(Object.entries(c).map(([k, ports]) => [k, cluster(...ports)]));
  const next = buildTable(sealSnapshot(content({ virtualHosts: { '*': { routes: { [routeKey('Prefix', '/')]: rt } } }, clusters })), current, { pools });
  current?.retire();
  current = next;
  hits.bad = hits.reset = hits.silent = 0;
}

before(async () => {
  proxy = await startServer(http.createServer((req, res) => handler(req, res, 'http')));
  good = await echoBackend('good');
  bad = await startServer(http.createServer((req, res) => {
    hits.bad++;
    req.resume();
    req.on('end', () => res.writeHead(503, { 'x-backend': 'bad' }).end(`unavailable ${hits.bad}`));
  }));
  reset = await startServer(http.createServer((req) => {
    hits.reset++;
    req.socket.destroy();
  }));
  silent = await startServer(http.createServer((req) => {
    hits.silent++;
    req.resume();
  }));
});

after(async () => {
  await proxy.close();
  current?.retire();
  await pools.close();
  await Promise.all([good.close(), bad.close(), reset.close(), silent.close()]);
});

const policy = (p: Partial<RetryPolicy>): RetryPolicy => ({ attempts: 2, on: ['503'], backoffMs: 1, ...p });

test('a 503 is retried on the other endpoint, and its body never reaches the client', async () => {
  use({ 'ns/c:80': [bad.port, good.port] }, { retry: policy({}) });
  for (let i = 0; i < 2; i++) {
    const res = await get(proxy.port, '/x');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-backend'], 'good');
    assert.doesNotMatch(res.body, /unavailable/);
  }
  assert.equal(hits.bad, 1, 'one of the two requests went to bad first');
});

test('a reset before response headers is retried', async () => {
  use({ 'ns/c:80': [reset.port, good.port] }, { retry: policy({ on: ['reset'] }) });
  for (let i = 0; i < 2; i++) {
    const res = await get(proxy.port, '/x');
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-backend'], 'good');
  }
  assert.equal(hits.reset, 1);
});

test('without a policy a reset is not retried (502), as before', async () => {
  use({ 'ns/c:80': [reset.port] }, {});
  assert.equal((await get(proxy.port, '/x')).status, 502);
  assert.equal(hits.reset, 1);
});

test('a small body of known length is buffered: the retry sends the same bytes', async () => {
  use({ 'ns/c:80': [bad.port, good.port] }, { retry: policy({}) });
  for (let i = 0; i < 2; i++) {
    const res = await get(proxy.port, '/x', { 'content-type': 'text/plain' }, 'POST', `payload ${i}`);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as Echoed).body, `payload ${i}`);
  }
  assert.equal(hits.bad, 1, 'one of the two went to bad first, and was retried');
});

test('a body over the replay limit, or chunked, streams and is not retried on 503', async () => {
  use({ 'ns/c:80': [bad.port] }, { retry: policy({}) });
  const big = await get(proxy.port, '/x', { 'content-type': 'text/plain' }, 'POST', 'x'.repeat(17));
  assert.equal(big.status, 503);
  assert.equal(hits.bad, 1);
  const chunked = await get(proxy.port, '/x', { 'transfer-encoding': 'chunked' }, 'POST', 'small');
  assert.equal(chunked.status, 503);
  assert.equal(hits.bad, 2);
});

test('attempts exhausted: the last attempt\'s status and body are the answer', async () => {
  use({ 'ns/c:80': [bad.port] }, { retry: policy({ attempts: 2 }) });
  const res = await get(proxy.port, '/x');
  assert.equal(res.status, 503);
  assert.equal(res.body, 'unavailable 3');
  assert.equal(hits.bad, 3);
});

test('attempts 0: no retry at all', async () => {
  use({ 'ns/c:80': [bad.port, good.port] }, { retry: policy({ attempts: 0 }) });
  const statuses = [(await get(proxy.port, '/x')).status, (await get(proxy.port, '/x')).status].sort();
  assert.deepEqual(statuses, [200, 503]);
});

test('requestTimeoutMs answers 504 while retries remain', async () => {
  use({ 'ns/c:80': [silent.port] }, { timeoutMs: 100, requestTimeoutMs: 350, retry: policy({ attempts: 10, on: ['504'] }) });
  const t0 = Date.now();
  const res = await get(proxy.port, '/x');
  const took = Date.now() - t0;
  assert.equal(res.status, 504);
  assert.ok(took >= 340 && took < 1_500, `took ${took} ms`);
  assert.ok(hits.silent >= 2 && hits.silent <= 4, `${hits.silent} attempts`);
});

test('a per-try timeout without a listed 504 answers 504 at once', async () => {
  use({ 'ns/c:80': [silent.port] }, { timeoutMs: 100, requestTimeoutMs: 2_000, retry: policy({ attempts: 3, on: ['503'] }) });
  const t0 = Date.now();
  assert.equal((await get(proxy.port, '/x')).status, 504);
  assert.ok(Date.now() - t0 < 1_000);
  assert.equal(hits.silent, 1);
});
