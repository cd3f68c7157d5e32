// Scale on real sockets: a fleet of proxies connected at once, and a snapshot
// of 20 MB sent in full and then as a one-route delta. Bounds are generous
// (the machine is shared); the measured figures are printed as diagnostics.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Route, Snapshot, TlsSecret } from '../../api/snapshot.ts';
import { routeKey } from '../../api/snapshot.ts';
import { sealSnapshot } from '../../api/version.ts';
import { StreamClient } from '../../proxy/stream/client.ts';
import { FakeApplier } from '../../proxy/stream/testing.ts';
import { silentLogger } from '../../lib/log.ts';
import { SnapshotStore } from '../snapshot/store.ts';
import { snapshotWith } from '../snapshot/testing.ts';
import { StreamServer } from './server.ts';
import { cleanupList, nextEvent, waitUntil } from './testing.ts';

const TOKEN = 'scale-test-token-0123456789';
const cleanups = cleanupList();
after(() => cleanups.run());

async function serve(store: SnapshotStore) {
  const server = new StreamServer({ store, token: TOKEN, log: silentLogger });
  cleanups.add(() => server.close());
  return { server, port: await server.listen() };
}

function proxy(port: number, id: string, maxPayload?: number) {
  const applier = new FakeApplier();
  const client = new StreamClient({
    url: `ws://127.0.0.1:${port}`, token: TOKEN, proxyId: id, applier, backoff: { initialMs: 50, maxMs: 1000 },
    ...(maxPayload === undefined ? {} : { maxPayload }),
  });
  cleanups.add(() => client.close());
  return { client, applier };
}

/** Adds one route to a snapshot, reusing every other sub-object (as the compiler does). */
function withOneMoreRoute(s: Snapshot, path: string): Snapshot {
  const { version: _v, ...content } = s;
  const host = Object.keys(s.virtualHosts)[0]!;
  const vh = s.virtualHosts[host]!;
  const route: Route = { match: { type: 'Prefix', path }, cluster: Object.keys(s.clusters)[0]!, timeoutMs: 15000, origin: 'Ingress/default/added' };
  return sealSnapshot({ ...content, virtualHosts: { ...s.virtualHosts, [host]: { ...vh, routes: { ...vh.routes, [routeKey('Prefix', path)]: route } } } });
}

test('50 proxies connected at once all acknowledge a new version', async (t) => {
  const N = 50;
  const store = new SnapshotStore();
  const a = snapshotWith(500, 1);
  store.publish(a);
  const { server, port } = await serve(store);
  const fleet = Array.from({ length: N }, (_, i) => proxy(port, `proxy-${i}`));
  const t0 = performance.now();
  for (const p of fleet) p.client.start();
  await waitUntil(() => fleet.every((p) => p.applier.current?.version === a.version), 30_000, 'every proxy applied the first snapshot');
  await waitUntil(() => server.sessions().filter((s) => s.ackedVersion === a.version).length === N, 30_000, 'every ACK arrived');
  const connectMs = performance.now() - t0;

  const b = withOneMoreRoute(a, '/new');
  const t1 = performance.now();
  store.publish(b);
  await waitUntil(() => server.sessions().filter((s) => s.ackedVersion === b.version).length === N, 30_000, 'every proxy acknowledged b');
  const publishMs = performance.now() - t1;
  const sessions = server.sessions();
  assert.equal(sessions.length, N);
  assert.ok(sessions.every((s) => s.messagesSent === 2 && s.lagMs === 0));
  const fullBytes = Buffer.byteLength(store.encode(store.full(a)));
  const deltaBytes = sessions[0]!.bytesSent - fullBytes;
  assert.ok(sessions.every((s) => s.bytesSent === fullBytes + deltaBytes), 'one shared delta, the same bytes for every proxy');
  assert.ok(deltaBytes < 1000, `delta ${deltaBytes} B`);
  t.diagnostic(`${N} proxies: connect + full (${fullBytes} B) + ACK ${connectMs.toFixed(0)} ms; publish → all ${N} ACKs ${publishMs.toFixed(0)} ms (delta ${deltaBytes} B)`);
});

test('a 20 MB snapshot goes through in full, then a one-route change as a small delta', async (t) => {
  // 4,000 TLS Secrets of ~5 KB each: what a large fleet of TLS hosts looks like.
  const base = snapshotWith(200, 1);
  const secrets: Record<string, TlsSecret> = {};
  const pem = (kind: string, i: number, n: number) => `-----BEGIN ${kind}-----\n${(`${i}`.padStart(8, '0') + 'M'.repeat(n)).replace(/(.{64})/g, '$1\n')}\n-----END ${kind}-----\n`;
  for (let i = 0; i < 4000; i++) secrets[`ns${i % 50}/tls-${i}`] = { cert: pem('CERTIFICATE', i, 3400), key: pem('PRIVATE KEY', i, 1600) };
  const { version: _v, ...content } = base;
  const big = sealSnapshot({ ...content, secrets });
  const store = new SnapshotStore();
  const { server, port } = await serve(store);
  const { client, applier } = proxy(port, 'big');
  const connected = nextEvent(client, 'connected');
  client.start();
  await connected;
  await waitUntil(() => server.sessions()[0]?.proxyId === 'big');

  let t0 = performance.now();
  const full = nextEvent(client, 'applied', (e) => e.version === big.version, 60_000);
  store.publish(big);
  const fullEvent = await full;
  await waitUntil(() => server.sessions()[0]?.ackedVersion === big.version, 60_000);
  const fullMs = performance.now() - t0;
  assert.equal(fullEvent.kind, 'snapshot');
  assert.ok(fullEvent.bytes >= 20 * 1024 * 1024, `full snapshot ${fullEvent.bytes} B`);

  const next = withOneMoreRoute(big, '/one-more');
  t0 = performance.now();
  const delta = nextEvent(client, 'applied', (e) => e.version === next.version, 60_000);
  store.publish(next);
  const deltaEvent = await delta;
  await waitUntil(() => server.sessions()[0]?.ackedVersion === next.version, 60_000);
  const deltaMs = performance.now() - t0;
  assert.equal(deltaEvent.kind, 'delta');
  assert.ok(deltaEvent.bytes < 1000, `delta ${deltaEvent.bytes} B`);
  assert.equal(applier.current?.version, next.version);
  t.diagnostic(`full ${fullEvent.bytes} B publish → ACK ${fullMs.toFixed(0)} ms; one-route delta ${deltaEvent.bytes} B publish → ACK ${deltaMs.toFixed(0)} ms`);
});

test('a snapshot over the proxy\'s maxPayload is refused by ws (close 1009) and never applied', async () => {
  const store = new SnapshotStore();
  store.publish(snapshotWith(5000, 1)); // ~1 MB
  const { port } = await serve(store);
  const { client, applier } = proxy(port, 'small', 64 * 1024);
  const closed = nextEvent(client, 'disconnected');
  client.start();
  const d = await closed;
  // The proxy sends close 1009 and drops the connection; its own event carries ws's error.
  assert.equal((d.error as NodeJS.ErrnoException | undefined)?.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  assert.match(String(d.error?.message), /Max payload size exceeded/);
  assert.equal(applier.calls, 0);
  await client.close();
});
