import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { UpstreamPools } from './pools.ts';
import { echoBackend, startServer } from '../testkit.ts';

test('acquiring an endpoint creates no pool; the first dispatch does, once', async () => {
  const backend = await echoBackend('a');
  const pools = new UpstreamPools();
  try {
    const ep = pools.acquire('127.0.0.1', backend.port);
    assert.equal(pools.acquire('127.0.0.1', backend.port), ep, 'one shared object per endpoint');
    assert.equal(pools.size, 1);
    assert.equal(pools.open, 0, 'no pool before the first request');
    assert.equal(ep.hasPool, false);
    const res = await ep.dispatcher.request({ path: '/', method: 'GET' });
    assert.equal(res.headers['x-backend'], 'a');
    await res.body.text();
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
    const pending = ep.dispatcher.request({ path: '/', method: 'GET' });
    await arrived.promise;
    pools.release(ep);
    assert.equal(pools.open, 0, 'closing');
    held[0]?.end('finished');
    const res = await pending;
    assert.equal(await res.body.text(), 'finished');
  } finally {
    await pools.close();
    await slow.close();
  }
});
