import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { StartupError } from '../cli/startup.ts';
import { createLogger } from '../lib/log.ts';
import type { Logger } from '../lib/log.ts';
import { DataPlane } from './apply.ts';
import { persistingApplier, restoreState, STATE_FILE, STATE_FORMAT, StateStore } from './state.ts';
import { cluster, content, route, testEngine, vhost } from './testkit.ts';
import { FOO } from './testdata/tls.ts';

let root: string;
let n = 0;
const newDir = () => join(root, `d${n++}`);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'turnout-state-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A logger that keeps its lines. */
function capture(): { log: Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', write: (l) => void lines.push(l) }), lines, text: () => lines.join('') };
}

/**
 * A snapshot with no listeners (nothing to bind) and a TLS secret, so the
 * tests can check that key material never reaches a log line.
 */
function snap(i: number): Snapshot {
  return sealSnapshot(content({
    virtualHosts: { 'foo.com': vhost([route('Prefix', `/v${i}`, 'c/a:80')], 'ns/foo') },
    clusters: { 'c/a:80': cluster(10_000 + i) },
    secrets: { 'ns/foo': { cert: FOO.cert, key: FOO.key } },
  }));
}

const isRoot = process.getuid?.() === 0;

test('open creates a missing state dir 0700, parents included', async () => {
  const dir = join(newDir(), 'a', 'b');
  const store = await StateStore.open({ dir });
  assert.equal(store.file, join(dir, STATE_FILE));
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.deepEqual(await readdir(dir), [], 'the write probe leaves nothing behind');
});

test('open warns about a dir open to group or others, and refuses a file', async () => {
  const dir = newDir();
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o755);
  const c = capture();
  await StateStore.open({ dir, log: c.log });
  assert.match(c.text(), /state dir is accessible to group or others.*"mode":"0755"/);

  const file = join(dir, 'not-a-dir');
  await writeFile(file, 'x');
  for (const d of [file, join(file, 'below')]) {
    await assert.rejects(StateStore.open({ dir: d }), (err: Error) => err instanceof StartupError && err.message === `--state-dir ${d}: not a directory`);
  }
});

test('open removes temp files left by a crash, and nothing else', async () => {
  const dir = newDir();
  await mkdir(dir, { mode: 0o700 });
  await writeFile(join(dir, '.snapshot.json.0a1b2c.tmp'), '{"half');
  await writeFile(join(dir, 'keep-me'), 'x');
  await StateStore.open({ dir });
  assert.deepEqual(await readdir(dir), ['keep-me']);
});

test('save writes the snapshot 0600 in a versioned document, then load reads it back', async () => {
  const dir = newDir();
  const store = await StateStore.open({ dir });
  assert.deepEqual(await store.load(), { kind: 'missing' });
  const s = snap(1);
  store.save(s);
  await store.idle();
  assert.equal(store.writes, 1);
  assert.equal(store.written, s.version);
  assert.equal((await stat(store.file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), [STATE_FILE], 'no temp file is left');
  const doc = JSON.parse(await readFile(store.file, 'utf8'));
  assert.equal(doc.format, STATE_FORMAT);
  assert.ok(!Number.isNaN(Date.parse(doc.savedAt)));
  assert.deepEqual(doc.snapshot, s);

  const loaded = await (await StateStore.open({ dir })).load();
  assert.equal(loaded.kind, 'loaded');
  assert.deepEqual(loaded.kind === 'loaded' && loaded.snapshot, s);
});

test('the file is replaced atomically: a reader never sees a partial or missing file', async () => {
  const store = await StateStore.open({ dir: newDir() });
  store.save(snap(0));
  await store.idle();
  let writing = true;
  let reads = 0;
  const reader = (async () => {
    // Bounded: stops with the writer, or after 5,000 reads.
    while (writing && reads < 5_000) {
      const doc = JSON.parse(await readFile(store.file, 'utf8')) as { snapshot: Snapshot };
      assert.match(doc.snapshot.version, /^[0-9a-f]{32}$/);
      reads++;
    }
  })();
  for (let i = 1; i <= 30; i++) {
    store.save(snap(i));
    await store.idle();
  }
  writing = false;
  await reader;
  assert.equal(store.writes, 31);
  assert.ok(reads > 0);
  assert.deepEqual(await readdir(store.dir), [STATE_FILE]);
});

test('saves are coalesced: one write at a time, then only the newest', async () => {
  const store = await StateStore.open({ dir: newDir() });
  const snaps = Array.from({ length: 10 }, (_, i) => snap(100 + i));
  for (const s of snaps) store.save(s);
  await store.idle();
  assert.equal(store.writes, 2, 'the first save, then the newest of the nine queued behind it');
  const doc = JSON.parse(await readFile(store.file, 'utf8')) as { snapshot: Snapshot };
  assert.equal(doc.snapshot.version, snaps.at(-1)!.version);

  store.save(snaps.at(-1)!);
  await store.idle();
  assert.equal(store.writes, 2, 'the version on disk is not written again');
});

test('a failed write is logged without contents, keeps no temp file, and the next save succeeds', async () => {
  const dir = newDir();
  const c = capture();
  const store = await StateStore.open({ dir, log: c.log });
  await mkdir(join(dir, STATE_FILE)); // rename cannot replace a directory
  await writeFile(join(dir, STATE_FILE, 'x'), 'x');
  store.save(snap(1));
  await store.idle();
  assert.equal(store.writes, 0);
  assert.match(c.text(), /could not write the state file/);
  assert.deepEqual((await readdir(dir)).sort(), [STATE_FILE]);
  await rm(join(dir, STATE_FILE), { recursive: true });
  store.save(snap(1));
  await store.idle();
  assert.equal(store.writes, 1);
  assert.ok(!c.text().includes('PRIVATE KEY') && !c.text().includes('BEGIN CERTIFICATE'), 'no key material in logs');
});

test('load refuses what is not a state document, naming the problem and never the contents', async () => {
  const dir = newDir();
  const store = await StateStore.open({ dir });
  const cases: Array<[string, RegExp]> = [
    [`{"format":"${STATE_FORMAT}","snapshot":{"key":"-----BEGIN PRIVATE KEY----- secret`, /not valid JSON/],
    ['-----BEGIN PRIVATE KEY----- secret', /not valid JSON/],
    ['{"version":"abc"}', /not a turnout\.proxy-state\.v1 document/],
    [`{"format":"${STATE_FORMAT}"}`, /holds no snapshot/],
  ];
  for (const [text, reason] of cases) {
    await writeFile(store.file, text, { mode: 0o600 });
    const r = await store.load();
    assert.equal(r.kind, 'refused', text);
    assert.match(r.kind === 'refused' ? r.reason : '', reason);
    assert.ok(!(r.kind === 'refused' && r.reason.includes('secret')), r.kind === 'refused' ? r.reason : '');
  }
});

test('load refuses a symbolic link, a file too large, and (as root) a file owned by another user', async () => {
  const dir = newDir();
  const store = await StateStore.open({ dir, maxBytes: 1000 });
  const elsewhere = join(root, `elsewhere-${n++}.json`);
  await writeFile(elsewhere, JSON.stringify({ format: STATE_FORMAT, snapshot: snap(1) }), { mode: 0o600 });
  await symlink(elsewhere, store.file);
  assert.deepEqual(await store.load(), { kind: 'refused', reason: 'is a symbolic link' });
  await rm(store.file);

  await writeFile(store.file, JSON.stringify({ format: STATE_FORMAT, snapshot: snap(1) }), { mode: 0o600 });
  const r = await store.load();
  assert.match(r.kind === 'refused' ? r.reason : '', /more than the 1000 allowed/);

  if (isRoot) {
    const big = await StateStore.open({ dir });
    await chown(big.file, 4242, 4242);
    const r2 = await big.load();
    assert.match(r2.kind === 'refused' ? r2.reason : '', /owned by uid 4242, not by us/);
  }
});

test('a group-readable state file is made 0600 when read', async () => {
  const store = await StateStore.open({ dir: newDir() });
  await writeFile(store.file, JSON.stringify({ format: STATE_FORMAT, snapshot: snap(1) }));
  await chmod(store.file, 0o644);
  const c = capture();
  const again = await StateStore.open({ dir: store.dir, log: c.log });
  assert.equal((await again.load()).kind, 'loaded');
  assert.equal((await stat(store.file)).mode & 0o777, 0o600);
  assert.match(c.text(), /made 0600/);
});

test('round trip through DataPlane: applied snapshots are saved, restored on start, refused ones never written', async () => {
  const dir = newDir();
  const first = new DataPlane({ http1Engine: testEngine() });
  const c = capture();
  try {
    const store = await StateStore.open({ dir, log: c.log });
    const applier = persistingApplier(first, store);
    const s1 = snap(1);
    assert.ok((await applier.apply(s1)).ok);
    const refused = await applier.apply({ ...snap(2), version: s1.version.replace(/.$/, (d) => (d === '0' ? '1' : '0')) });
    assert.equal(refused.ok, false);
    await store.idle();
    assert.equal(store.writes, 1);
    assert.equal(applier.current?.version, s1.version);
  } finally {
    await first.close();
  }

  const second = new DataPlane({ http1Engine: testEngine() });
  try {
    const store = await StateStore.open({ dir, log: c.log });
    assert.equal(await restoreState(store, second, c.log), snap(1).version);
    assert.equal(second.current?.version, snap(1).version);
    assert.equal(store.written, snap(1).version, 'a restored version is not written again');
    assert.match(c.text(), /serving the last known good snapshot from the state dir/);
    assert.ok(!c.text().includes('PRIVATE KEY') && !c.text().includes('BEGIN CERTIFICATE'), 'no key material in logs');
  } finally {
    await second.close();
  }
});

test('a tampered state file is refused by the content hash and ignored', async () => {
  const dir = newDir();
  const store = await StateStore.open({ dir });
  store.save(snap(1));
  await store.idle();
  const text = await readFile(store.file, 'utf8');
  assert.ok(text.includes('"timeoutMs":5000'));
  await writeFile(store.file, text.replace('"timeoutMs":5000', '"timeoutMs":9000'), { mode: 0o600 });
  const c = capture();
  const plane = new DataPlane({ http1Engine: testEngine(), log: c.log });
  try {
    assert.equal(await restoreState(await StateStore.open({ dir }), plane, c.log), undefined);
    assert.equal(plane.current, undefined);
    assert.match(c.text(), /state file refused and ignored.*VERSION_MISMATCH/);
    assert.ok(!c.text().includes('PRIVATE KEY'));
  } finally {
    await plane.close();
  }
});

test('a state file that is not JSON is refused with a clear line and ignored', async () => {
  const store = await StateStore.open({ dir: newDir() });
  await writeFile(store.file, '{"format":"turnout.proxy-state.v1","snapshot":{"secrets":{"k":"-----BEGIN PRIVATE KEY-----', { mode: 0o600 });
  const c = capture();
  const plane = new DataPlane({ http1Engine: testEngine(), log: c.log });
  try {
    assert.equal(await restoreState(store, plane, c.log), undefined);
    assert.match(c.text(), /state file refused and ignored.*snapshot\.json is not valid JSON/);
    assert.ok(!c.text().includes('PRIVATE KEY'));
  } finally {
    await plane.close();
  }
});
