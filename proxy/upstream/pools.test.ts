import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Pool } from 'undici';
import { UpstreamPools } from './pools.ts';
import type { UpstreamDispatcher } from './balancer.ts';
import { H1Pool } from './h1-pool.ts';
import { echoBackend, startServer } from '../testkit.ts';

/** A GET through any upstream pool (both clients take the same dispatch). */
function getVia(d: UpstreamDispatcher): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    d.dispatch({ path: '/', method: 'GET', headers: [] }, {
      onRequestStart: () => {},
      onResponseStart: (_c, s, h) => { status = s; headers = h; },
      onResponseData: (_c, chunk) => { chunks.push(chunk); },
      onResponseEnd: () => resolve({ status, headers, body: Buffer.concat(chunks).toString() }),
      onResponseError: (_c, err) => reject(err),
    });
  });
}

test('acquiring an endpoint creates no pool; the first dispatch does, once', async () => {
  const backend = await echoBackend('a');
  const pools = new UpstreamPools();
  try {
    const ep = pools.acquire('127.0.0.1', backend.port);
    assert.equal(pools.acquire('127.0.0.1', backend.port), ep, 'one shared object per endpoint');
    assert.equal(pools.size, 1);
    assert.equal(pools.open, 0, 'no pool before the first request');
    assert.equal(ep.hasPool, false);
    const res = await getVia(ep.dispatcher);
    assert.equal(res.headers['x-backend'], 'a');
    assert.equal(pools.open, 1);
    assert.equal(ep.dispatcher, ep.dispatcher, 'the same pool afterwards');
    pools.release(ep);
    assert.equal(pools.open, 1, 'still referenced once');
    pools.release(ep);
    assert.equal(pools.open, 0);
    assert.ok(!pools.has(ep.key));
  } finally {
    await pools.close();
    await backend.close();
  }
});

test('an endpoint released without ever being used closes nothing and re-acquiring starts afresh', async () => {
  const pools = new UpstreamPools();
  const ep = pools.acquire('10.0.0.1', 80);
  pools.release(ep);
  assert.equal(pools.size, 0);
  assert.equal(pools.open, 0);
  assert.throws(() => ep.dispatcher, /released/, 'a released endpoint never makes a pool nothing would close');
  const again = pools.acquire('10.0.0.1', 80);
  assert.notEqual(again, ep);
  assert.throws(() => pools.retain(ep), /not held/);
  assert.throws(() => new UpstreamPools().retain(again), /not held/, 'nor one of another registry');
  pools.retain(again);
  pools.release(again);
  assert.ok(pools.has(again.key));
  await pools.close();
  assert.equal(pools.size, 0);
});

test('the last release lets a request in flight finish before the pool closes', async () => {
  const held: http.ServerResponse[] = [];
  const arrived = Promise.withResolvers<void>();
  const slow = await startServer(http.createServer((_req, res) => {
    held.push(res);
    arrived.resolve();
  }));
  const pools = new UpstreamPools();
  try {
    const ep = pools.acquire('127.0.0.1', slow.port);
    const pending = getVia(ep.dispatcher);
    await arrived.promise;
    pools.release(ep);
    assert.equal(pools.open, 0, 'closing');
    held[0]?.end('finished');
    assert.equal((await pending).body, 'finished');
  } finally {
    await pools.close();
    await slow.close();
  }
});

test("http1Client 'lean' gives plain HTTP/1.1 endpoints an H1Pool and leaves h2c and tls on undici", async () => {
  const backend = await echoBackend('lean');
  const pools = new UpstreamPools({ http1Client: 'lean' });
  try {
    const plain = pools.acquire('127.0.0.1', backend.port);
    assert.ok(plain.dispatcher instanceof H1Pool);
    assert.ok(pools.acquire('127.0.0.1', backend.port, 'h2c').dispatcher instanceof Pool);
    assert.ok(pools.acquire('127.0.0.1', backend.port, 'tls').dispatcher instanceof Pool);
    assert.ok(new UpstreamPools().acquire('127.0.0.1', backend.port).dispatcher instanceof Pool, "'undici' is the default");
    const res = await getVia(plain.dispatcher);
    assert.equal(res.headers['x-backend'], 'lean');
    assert.equal(pools.open, 3);
  } finally {
    await pools.close();
    assert.equal(pools.open, 0);
    await backend.close();
  }
});
