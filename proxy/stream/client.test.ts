// The stream client's token handling: the token is fetched again before every
// connection (a projected ServiceAccount token rotates under the proxy), and a
// token that cannot be read is a failed attempt, retried, not a crash.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readToken } from '../../cli/startup.ts';
import { silentLogger } from '../../lib/log.ts';
import type { Authenticator, AuthResult } from '../../controller/stream/auth.ts';
import { StreamServer } from '../../controller/stream/server.ts';
import { cleanupList, nextEvent, waitUntil } from '../../controller/stream/testing.ts';
import { SnapshotStore } from '../../controller/snapshot/store.ts';
import { snapshotWith } from '../../controller/snapshot/testing.ts';
import { StreamClient } from './client.ts';
import { FakeApplier } from './testing.ts';

const cleanups = cleanupList();
after(() => cleanups.run());

/** Accepts exactly the tokens in `valid`, like a TokenReview of rotating tokens. */
class RotatingAuthenticator implements Authenticator {
  readonly valid = new Set<string>();
  readonly seen: string[] = [];
  async authenticate(bearer: string): Promise<AuthResult> {
    this.seen.push(bearer);
    return this.valid.has(bearer) ? { ok: true, identity: bearer.slice(0, 6) } : { ok: false, status: 401, reason: 'expired token' };
  }
}

test('the token file is read again before every connection, so a rotated token is used on the next reconnect', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'turnout-token-'));
  cleanups.add(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'token');
  const [first, second] = ['first-token-aaaaaaaaaaaa', 'second-token-bbbbbbbbbbb'];
  await writeFile(file, `${first}\n`);
  const auth = new RotatingAuthenticator();
  auth.valid.add(first);
  const store = new SnapshotStore();
  store.publish(snapshotWith(1));
  const serve = async (port = 0) => {
    const s = new StreamServer({ store, auth, port, log: silentLogger });
    cleanups.add(() => s.close());
    return { server: s, port: await s.listen() };
  };
  const one = await serve();
  const applier = new FakeApplier();
  const client = new StreamClient({
    url: `ws://127.0.0.1:${one.port}`, token: () => readToken(file), proxyId: 'rotating', applier, backoff: { initialMs: 20, maxMs: 100 },
  });
  cleanups.add(() => client.close());
  client.start();
  await waitUntil(() => applier.applied.length === 1);
  assert.equal(one.server.sessions()[0]!.identity, 'first-');

  // The kubelet rotates the projected token; the old one stops being valid.
  await writeFile(file, `${second}\n`);
  auth.valid.clear();
  auth.valid.add(second);
  const down = nextEvent(client, 'disconnected');
  await one.server.close();
  await down;
  const two = await serve(one.port);
  await waitUntil(() => two.server.sessions()[0]?.proxyId === 'rotating');
  assert.equal(two.server.sessions()[0]!.identity, 'second');
  assert.deepEqual([...new Set(auth.seen)], [first, second], 'the new token, read from the file, not a cached one');
});

test('a token that cannot be read is a failed attempt: reported, retried, and picked up once it appears', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'turnout-token-'));
  cleanups.add(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'token');
  const token = 'the-token-cccccccccccccc';
  await writeFile(file, token);
  await unlink(file); // e.g. the projected volume is being remounted
  const auth = new RotatingAuthenticator();
  auth.valid.add(token);
  const store = new SnapshotStore();
  store.publish(snapshotWith(1));
  const server = new StreamServer({ store, auth, log: silentLogger });
  cleanups.add(() => server.close());
  const port = await server.listen();
  const applier = new FakeApplier();
  const client = new StreamClient({ url: `ws://127.0.0.1:${port}`, token: () => readToken(file), proxyId: 'p', applier, backoff: { initialMs: 20, maxMs: 100 } });
  cleanups.add(() => client.close());
  const failed = nextEvent(client, 'disconnected');
  client.start();
  const d = await failed;
  assert.match(d.reason, /^no token: --token-file .*ENOENT/);
  assert.ok(d.retryInMs !== undefined);
  assert.deepEqual(auth.seen, [], 'no connection was attempted without a token');
  await writeFile(file, token);
  await waitUntil(() => applier.applied.length === 1);
});
