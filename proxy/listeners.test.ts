import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { sealSnapshot } from '../api/version.ts';
import type { Listener } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import { ListenerSet } from './listeners.ts';
import { buildTable } from './routing/table.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, get, route, testEngine, vhost } from './testkit.ts';

let backend: TestServer;
before(async () => {
  backend = await echoBackend('a');
});
after(() => backend.close());

const http1 = (port: number): Listener => ({ protocol: 'http', address: '127.0.0.1', port });

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

/** A keep-alive client connection that sends one request at a time and reports each response. */
function keepAliveClient(port: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<net.Socket>();
  const send = (path = '/') => new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on('socket', (s: net.Socket) => sockets.add(s));
    req.on('error', reject);
  });
  return { send, sockets, close: () => agent.destroy() };
}

test('a port change binds the new listener before the swap and drains the old one after', async () => {
  const handled: string[] = [];
  const held: http.ServerResponse[] = [];
  const arrived = Promise.withResolvers<void>();
  const set = new ListenerSet({
    http1Engine: testEngine(),
    handler: (req, res) => {
      handled.push(req.url ?? '');
      if (req.url === '/hold') { held.push(res as http.ServerResponse); arrived.resolve(); return; }
      res.end('ok');
    },
    getTable: () => undefined,
    drainTimeoutMs: 5_000,
  });
  const [p1, p2] = [await freePort(), await freePort()];
  const table1 = buildTable(sealSnapshot(content({ listeners: { web: http1(p1) } })));
  (await set.prepare({ web: http1(p1) }, table1)).commit(table1);
  const client = keepAliveClient(p1);
  assert.equal((await client.send()).connection, 'keep-alive');
  const holding = client.send('/hold');
  await arrived.promise;

  const table2 = buildTable(sealSnapshot(content({ listeners: { web: http1(p2) } })), table1);
  const change = await set.prepare({ web: http1(p2) }, table2);
  // Between prepare and commit both ports accept: nothing is dropped while the swap is pending.
  assert.equal((await get(p2, '/')).status, 200);
  assert.equal((await get(p1, '/')).status, 200);
  change.commit(table2);
  assert.deepEqual(set.list(), { web: { protocol: 'http', address: '127.0.0.1', port: p2 } });
  assert.ok(await refused(p1), 'the old port stops accepting at commit');
  // The in-flight response on the draining listener completes, asking the client to reconnect.
  held[0]?.end('done');
  const last = await holding;
  assert.deepEqual(last, { status: 200, connection: 'close' });
  client.close();
  await set.close();
  table1.retire();
  table2.retire();
  await table1.pools.close();
});

test('an unchanged listener keeps its connections across applies', async () => {
  const dp = new DataPlane({ http1Engine: testEngine() });
  try {
    const port = await freePort();
    const snap = (timeoutMs: number) => sealSnapshot(content({
      listeners: { http: http1(port) },
      virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1', timeoutMs)]) },
      clusters: { 'c/a:1': cluster(backend.port) },
    }));
    assert.ok((await dp.apply(snap(1_000))).ok);
    const client = keepAliveClient(port);
    await client.send();
    assert.ok((await dp.apply(snap(2_000))).ok);
    const second = await client.send();
    assert.equal(second.status, 200);
    assert.equal(client.sockets.size, 1, 'the same connection served both requests');
    client.close();
  } finally {
    await dp.close();
  }
});

test('a bind failure refuses the snapshot; nothing is swapped and new sockets are closed', async () => {
  const dp = new DataPlane({ http1Engine: testEngine() });
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as net.AddressInfo).port;
  try {
    const [live, extra] = [await freePort(), await freePort()];
    const base = {
      virtualHosts: { '*': vhost([route('Prefix', '/', 'c/a:1')]) },
      clusters: { 'c/a:1': cluster(backend.port) },
    };
    const s1 = sealSnapshot(content({ ...base, listeners: { http: http1(live) } }));
    assert.ok((await dp.apply(s1)).ok);
    const s2 = sealSnapshot(content({ ...base, listeners: { http: http1(live), extra: http1(extra), admin: http1(taken) } }));
    const outcome = await dp.apply(s2);
    assert.ok(!outcome.ok);
    assert.equal(outcome.code, 'LISTENER_BIND_FAILED');
    assert.match(outcome.reason, /"admin".*EADDRINUSE/);
    assert.equal(dp.current, s1);
    assert.ok(await refused(extra), 'the listener that did bind was closed again');
    assert.equal((await get(live, '/')).headers['x-backend'], 'a', 'the old listener still serves');
    assert.deepEqual(Object.keys(dp.listeners.list()), ['http']);
  } finally {
    await dp.close();
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('close() drains: a response in flight completes, then the port is closed', async () => {
  const held: http.ServerResponse[] = [];
  const arrived = Promise.withResolvers<void>();
  const set = new ListenerSet({
    http1Engine: testEngine(),
    handler: (_req, res) => { held.push(res as http.ServerResponse); arrived.resolve(); },
    getTable: () => undefined,
    drainTimeoutMs: 5_000,
  });
  const port = await freePort();
  const table = buildTable(sealSnapshot(content({ listeners: { web: http1(port) } })));
  (await set.prepare({ web: http1(port) }, table)).commit(table);
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false });
  await arrived.promise;
  const closing = set.close();
  held[0]?.end('bye');
  const [res] = await once(req, 'response') as [http.IncomingMessage];
  assert.equal(res.headers.connection, 'close');
  res.resume();
  await closing;
  assert.ok(await refused(port));
  table.retire();
  await table.pools.close();
});
