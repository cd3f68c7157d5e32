import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { Listener, VirtualHost } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { DataPlane } from './apply.ts';
import { cluster, content, freePort, route, testEngine, vhost } from './testkit.ts';

const DRAIN_MS = 400;
let dp: DataPlane;
let port: number;
let tcpPort: number;
let wss: WebSocketServer;
let wsPort: number;
let wsPort2: number;
let wss2: WebSocketServer;
let echo: net.Server;
let echoPort: number;

async function wsServer(): Promise<[WebSocketServer, number]> {
  const s = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  s.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  await new Promise<void>((resolve) => s.once('listening', resolve));
  return [s, (s.address() as AddressInfo).port];
}

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: DRAIN_MS });
  [port, tcpPort] = [await freePort(), await freePort()];
  [wss, wsPort] = await wsServer();
  [wss2, wsPort2] = await wsServer();
  echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as AddressInfo).port;
});

after(async () => {
  await dp.close();
  for (const s of [wss, wss2]) {
    for (const c of s.clients) c.terminate();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

/** `/ws` on any host to the cluster with `wsPorts` (none: no route), a tcp listener to `tcpBackends`, plus `extra` routes. */
function snap(o: { wsPorts?: number[]; tcpCluster?: string; extraPath?: string }) {
  const routes = o.wsPorts === undefined ? [route('Prefix', '/other', 'c/ws:80')] : [route('Prefix', '/ws', 'c/ws:80')];
  if (o.extraPath !== undefined) routes.push(route('Exact', o.extraPath, 'c/ws:80'));
  const listeners: Record<string, Listener> = {
    http: { protocol: 'http', address: '127.0.0.1', port },
    tcp: { protocol: 'tcp', address: '127.0.0.1', port: tcpPort, backends: [{ cluster: o.tcpCluster ?? 'c/echo:1', weight: 1 }] },
  };
  const vhosts: Record<string, VirtualHost> = { '*': vhost(routes) };
  return sealSnapshot(content({
    listeners,
    virtualHosts: vhosts,
    clusters: { 'c/ws:80': cluster(...(o.wsPorts ?? [wsPort])), 'c/echo:1': cluster(echoPort), 'c/echo2:1': cluster(echoPort) },
  }));
}

async function apply(o: Parameters<typeof snap>[0]): Promise<void> {
  const r = await dp.apply(snap(o));
  assert.ok(r.ok, JSON.stringify(r));
}

/** An open websocket through the proxy; `closedAt` resolves with the time it closed. */
async function openWs(): Promise<{ ws: WebSocket; closedAt: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const closedAt = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now())));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return { ws, closedAt };
}

async function echoes(ws: WebSocket): Promise<boolean> {
  return new Promise((resolve) => {
    ws.once('message', (m) => resolve(m.toString() === 'ping'));
    ws.send('ping');
  });
}

const stillOpen = (p: Promise<number>, ms: number) => Promise.race([p.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms))]);

test('a websocket keeps its upstream through swaps that keep its route and endpoint', async () => {
  await apply({ wsPorts: [wsPort] });
  const { ws, closedAt } = await openWs();
  for (let i = 0; i < 5; i++) await apply({ wsPorts: [wsPort, wsPort2], extraPath: `/x${i}` });
  assert.ok(await stillOpen(closedAt, DRAIN_MS + 200), 'not closed');
  assert.ok(await echoes(ws));
  assert.equal(dp.status().longLived.orphaned, 0);
  ws.terminate();
});

test('a websocket whose route is removed is closed after the drain timeout, not before', async () => {
  await apply({ wsPorts: [wsPort] });
  const drained = dp.status().longLived.drained;
  const { ws, closedAt } = await openWs();
  const t0 = Date.now();
  await apply({});
  assert.equal(dp.status().longLived.orphaned, 1);
  assert.ok(await echoes(ws), 'still relaying during the drain');
  const at = await closedAt;
  assert.ok(at - t0 >= DRAIN_MS - 20, `closed after ${at - t0} ms`);
  assert.equal(dp.status().longLived.drained, drained + 1);
});

test('a websocket whose endpoint is removed is closed after the drain timeout; one whose route comes back in time is kept', async () => {
  await apply({ wsPorts: [wsPort] });
  const gone = await openWs();
  await apply({ wsPorts: [wsPort2] });
  await gone.closedAt;
  await apply({ wsPorts: [wsPort2] });
  const back = await openWs();
  await apply({});
  await new Promise((r) => setTimeout(r, DRAIN_MS / 4));
  await apply({ wsPorts: [wsPort2] });
  assert.equal(dp.status().longLived.orphaned, 0, 'the pending close was cancelled');
  assert.ok(await stillOpen(back.closedAt, DRAIN_MS + 200));
  assert.ok(await echoes(back.ws));
  back.ws.terminate();
});

test('a tcp stream is kept while its listener keeps its backend, closed after the drain once the backend changes', async () => {
  await apply({ wsPorts: [wsPort] });
  const sock = net.connect(tcpPort, '127.0.0.1');
  const closedAt = new Promise<number>((resolve) => sock.once('close', () => resolve(Date.now())));
  sock.on('error', () => {});
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write('a');
  await new Promise((resolve) => sock.once('data', resolve));
  await apply({ wsPorts: [wsPort], extraPath: '/y' });
  assert.ok(await stillOpen(closedAt, DRAIN_MS + 200), 'kept while its backend stays');
  const t0 = Date.now();
  await apply({ wsPorts: [wsPort], tcpCluster: 'c/echo2:1' });
  const at = await closedAt;
  assert.ok(at - t0 >= DRAIN_MS - 20, `closed after ${at - t0} ms`);
});
