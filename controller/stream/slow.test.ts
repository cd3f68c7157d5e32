// Slow and stuck proxies: what one costs the controller, how it is ended, and
// how it catches up. Real sockets; the "stuck" proxy sits behind a relay that
// stops reading from the controller, which is what a SIGSTOPped or wedged
// proxy process looks like from the controller's side.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from '../../api/snapshot.ts';
import { sealSnapshot } from '../../api/version.ts';
import { StreamClient } from '../../proxy/stream/client.ts';
import { FakeApplier } from '../../proxy/stream/testing.ts';
import { createLogger, silentLogger } from '../../lib/log.ts';
import { SnapshotStore } from '../snapshot/store.ts';
import { snapshotWith } from '../snapshot/testing.ts';
import { StreamServer } from './server.ts';
import { cleanupList, nextEvent, stallableRelay, waitUntil } from './testing.ts';

const TOKEN = 'slow-proxy-token-0123456789';
const cleanups = cleanupList();
after(() => cleanups.run());

/** A valid snapshot carrying `bytes` of certificate text, different for every `tag`. */
function bigSnapshot(tag: number, bytes: number): Snapshot {
  const base = snapshotWith(1, 1);
  const body = `${String(tag).padStart(8, '0')}${'A'.repeat(bytes)}`;
  return sealSnapshot({
    listeners: base.listeners, virtualHosts: base.virtualHosts, clusters: base.clusters,
    secrets: { big: { cert: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`, key: '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n' } },
  });
}

test('a proxy that stops reading costs at most one message, is ended by the heartbeat, and converges when it comes back', async () => {
  const MB = 1024 * 1024;
  const store = new SnapshotStore();
  const versions = Array.from({ length: 21 }, (_, i) => bigSnapshot(i, MB));
  store.publish(versions[0]!);
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', write: (l) => void lines.push(l) });
  const server = new StreamServer({ store, token: TOKEN, heartbeatIntervalMs: 500, log });
  cleanups.add(() => server.close());
  const port = await server.listen();
  const relay = await stallableRelay(port);
  cleanups.add(() => relay.close());
  const applier = new FakeApplier();
  const client = new StreamClient({ url: `ws://127.0.0.1:${relay.port}`, token: TOKEN, proxyId: 'stuck', applier, backoff: { initialMs: 20, maxMs: 200 } });
  cleanups.add(() => client.close());
  client.start();
  await waitUntil(() => server.sessions()[0]?.ackedVersion === versions[0]!.version, 20_000, 'first snapshot acknowledged');
  const before = server.sessions()[0]!;

  relay.stall();
  // 20 versions of ~1 MB each, published back to back: without one message in
  // flight per proxy, ~20 MB would queue in this one connection's buffers.
  for (const v of versions.slice(1)) store.publish(v);
  const stuck = server.sessions().find((s) => s.id === before.id)!;
  const oneMessage = Buffer.byteLength(store.encode(store.delta(versions[0]!.version, versions[1]!)));
  assert.ok(oneMessage > MB && oneMessage < 2 * MB, `a version is ~1 MB on the wire (${oneMessage} B)`);
  assert.equal(stuck.messagesSent, before.messagesSent + 1, 'one message went out for 20 versions');
  assert.equal(stuck.inFlightVersion, versions[1]!.version);
  assert.ok(stuck.bufferedBytes <= oneMessage, `buffered ${stuck.bufferedBytes} B, at most one message (${oneMessage} B)`);
  assert.ok(stuck.lagMs >= 0 && stuck.ackedVersion === versions[0]!.version);

  // The relay keeps the TCP connection up; only the missing pongs give it away.
  await waitUntil(() => !server.sessions().some((s) => s.id === before.id), 20_000, 'stuck session terminated');
  assert.ok(lines.some((l) => l.includes('STREAM_HEARTBEAT_TIMEOUT')), 'terminated by the heartbeat');

  // The proxy wakes up, finds the connection gone, reconnects and catches up.
  relay.resume();
  const newest = versions[20]!.version;
  await waitUntil(() => applier.current?.version === newest, 20_000, 'proxy converged on the newest version');
  await waitUntil(() => server.sessions().some((s) => s.ackedVersion === newest && s.lagMs === 0), 10_000, 'controller saw the ACK');
});

test('lag: how long a proxy has been behind, from the first version it has not acknowledged; 0 once current', async () => {
  const store = new SnapshotStore();
  const [a, b, c] = [snapshotWith(1), snapshotWith(2), snapshotWith(3)];
  store.publish(a);
  const server = new StreamServer({ store, token: TOKEN, log: silentLogger });
  cleanups.add(() => server.close());
  const port = await server.listen();
  const applier = new FakeApplier();
  const client = new StreamClient({ url: `ws://127.0.0.1:${port}`, token: TOKEN, proxyId: 'lagging', applier });
  cleanups.add(() => client.close());
  client.start();
  await waitUntil(() => server.sessions()[0]?.ackedVersion === a.version);
  assert.equal(server.sessions()[0]!.lagMs, 0);

  const release = applier.block();
  const started = applier.nextCall();
  store.publish(b);
  const publishedB = performance.now();
  await started;
  await new Promise((r) => setTimeout(r, 50));
  store.publish(c); // a newer version does not reset the lag: the proxy is behind since b
  const elapsed = performance.now() - publishedB;
  const lag = server.sessions()[0]!.lagMs;
  assert.ok(lag >= Math.floor(elapsed) - 1, `lag ${lag} ms counts from b's publish (${elapsed.toFixed(0)} ms ago)`);

  const done = nextEvent(client, 'applied', (e) => e.version === c.version);
  release();
  await done;
  await waitUntil(() => server.sessions()[0]?.ackedVersion === c.version);
  assert.equal(server.sessions()[0]!.lagMs, 0);
});
