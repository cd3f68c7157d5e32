import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectCache } from '../cache.ts';
import type { CacheChange } from '../cache.ts';
import { TurnoutError } from '../errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { EMPTY_GRACE_MS, ManifestSource, MAX_MANIFEST_BYTES } from './manifests.ts';
import type { SourceProblem } from './source.ts';
import { formatProblem } from './source.ts';

const root = mkdtempSync(join(tmpdir(), 'turnout-manifests-'));
const sources: ManifestSource[] = [];
after(async () => {
  await Promise.all(sources.map((s) => s.close()));
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
/** A fresh folder with the given files (path → content). */
function folder(files: Record<string, string>): string {
  const dir = join(root, `case-${++n}`);
  mkdirSync(dir);
  for (const [p, text] of Object.entries(files)) write(dir, p, text);
  return dir;
}

function write(dir: string, p: string, text: string): void {
  const full = join(dir, p);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
}

async function started(dir: string): Promise<{ source: ManifestSource; cache: ObjectCache; changes: CacheChange[] }> {
  const cache = new ObjectCache();
  const changes: CacheChange[] = [];
  cache.onChange((c) => changes.push(c));
  const source = new ManifestSource({ dir, debounce: { quietMs: 50, maxMs: 300 }, rescanIntervalMs: 0, log: silentLogger });
  sources.push(source);
  await source.start(cache);
  return { source, cache, changes };
}

/** Resolves when `check` holds after a reload; fails after a generous bound instead of hanging. */
function until(source: ManifestSource, check: () => boolean, what: string): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out waiting for ${what}`)); }, 5000);
    const off = source.onReload(() => {
      if (!check()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

const svc = (name: string, ns?: string, port = 80) =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}spec:\n  ports: [{port: ${port}}]\n`;

test('reads multi-document YAML, JSON and nested folders, skipping hidden entries and symlink loops', async () => {
  const dir = folder({
    'a.yaml': `${svc('web')}---\n${svc('api', 'shop')}`,
    'sub/deeper/b.yml': svc('deep'),
    'c.json': JSON.stringify({ kind: 'List', items: [{ kind: 'IngressClass', metadata: { name: 'turnout' } }] }),
    'notes.txt': svc('not-a-manifest'),
    '.hidden.yaml': svc('hidden'),
    '.git/x.yaml': svc('in-hidden-dir'),
    'a.yaml.swp': svc('swap'),
  });
  symlinkSync(dir, join(dir, 'sub', 'loop'));
  const { source, cache } = await started(dir);
  assert.equal(source.synced, true);
  assert.deepEqual(cache.keys(), ['IngressClass/turnout', 'Service/default/deep', 'Service/default/web', 'Service/shop/api']);
  assert.deepEqual(source.problems(), []);
});

test('a missing folder is an error naming the path', async () => {
  const dir = join(root, 'does-not-exist');
  const source = new ManifestSource({ dir, log: silentLogger });
  await assert.rejects(source.start(new ObjectCache()),
    (err: unknown) => err instanceof TurnoutError && err.code === 'MANIFEST_DIR_NOT_FOUND' && err.message.includes(dir));
});

test('a broken file keeps its objects and is reported with file and line until fixed', async () => {
  const dir = folder({ 'a.yaml': `${svc('web')}---\n${svc('api')}`, 'b.yaml': svc('other') });
  const { source, cache } = await started(dir);
  const reported: (readonly SourceProblem[])[] = [];
  source.onProblems((p) => reported.push(p));

  write(dir, 'a.yaml', `${svc('web', undefined, 81)}---\nkind: Service\nmetadata:\n  name: x\n  name: y\n`);
  await until(source, () => source.problems().length > 0, 'the parse problem');
  const [p] = source.problems();
  assert.equal(p?.code, 'MANIFEST_PARSE_ERROR');
  assert.equal(p?.file, join(dir, 'a.yaml'));
  assert.equal(p?.line, 11);
  assert.match(formatProblem(p!), new RegExp(`a\\.yaml:11:\\d+: error MANIFEST_PARSE_ERROR: `));
  assert.deepEqual(cache.keys(), ['Service/default/api', 'Service/default/other', 'Service/default/web']);
  assert.equal((cache.get('Service', 'default', 'web') as { spec?: { ports?: { port: number }[] } }).spec?.ports?.[0]?.port, 80, 'the old version stays');

  write(dir, 'a.yaml', svc('web', undefined, 81));
  await until(source, () => source.problems().length === 0, 'the problem to clear');
  assert.deepEqual(cache.keys(), ['Service/default/other', 'Service/default/web']);
  assert.equal((cache.get('Service', 'default', 'web') as { spec?: { ports?: { port: number }[] } }).spec?.ports?.[0]?.port, 81);
  assert.equal(reported.length, 2);
  assert.deepEqual(reported[1], []);
});

test('a deleted file removes its objects; a new subfolder and an atomic rename are picked up', async () => {
  const dir = folder({ 'a.yaml': svc('a'), 'b.yaml': svc('b') });
  const { source, cache } = await started(dir);
  unlinkSync(join(dir, 'b.yaml'));
  await until(source, () => cache.get('Service', 'default', 'b') === undefined, 'b to be removed');
  assert.deepEqual(cache.keys(), ['Service/default/a']);

  mkdirSync(join(dir, 'new'));
  write(dir, 'new/c.yaml', svc('c'));
  await until(source, () => cache.get('Service', 'default', 'c') !== undefined, 'c in a new folder');

  // Editors write a hidden temporary file and rename it over the original,
  // every time: each rename is seen (Node's recursive watcher on Linux went
  // deaf after the first one; a file in a subfolder too).
  for (let i = 2; i <= 6; i++) {
    write(dir, '.a.yaml.tmp', svc(`a${i}`));
    renameSync(join(dir, '.a.yaml.tmp'), join(dir, 'a.yaml'));
    await until(source, () => cache.get('Service', 'default', `a${i}`) !== undefined, `renamed file ${i}`);
    write(dir, 'new/.c.tmp', svc(`c${i}`));
    renameSync(join(dir, 'new/.c.tmp'), join(dir, 'new/c.yaml'));
    await until(source, () => cache.get('Service', 'default', `c${i}`) !== undefined, `renamed file ${i} in a subfolder`);
  }
  assert.deepEqual(cache.keys(), ['Service/default/a6', 'Service/default/c6']);
});

test('files written together become one cache update', async () => {
  const dir = folder({ 'a.yaml': svc('a') });
  const { source, cache, changes } = await started(dir);
  assert.equal(changes.length, 1, 'the initial load is one batch');
  write(dir, 'b.yaml', svc('b'));
  write(dir, 'c.yaml', svc('c'));
  write(dir, 'x/d.yaml', svc('d'));
  unlinkSync(join(dir, 'a.yaml'));
  await until(source, () => cache.size === 3 && cache.get('Service', 'default', 'a') === undefined, 'all four edits');
  // A trailing watch event may cause another (no-op) reload; it must not notify.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(changes.length, 2);
  assert.deepEqual([...changes[1]!.keys].sort(), ['Service/default/a', 'Service/default/b', 'Service/default/c', 'Service/default/d']);
});

test('the same object in two files: the first path wins and the other is reported', async () => {
  const dir = folder({ 'b.yaml': `${svc('other')}---\n${svc('web', undefined, 2)}`, 'a.yaml': svc('web', undefined, 1) });
  const { source, cache } = await started(dir);
  assert.equal((cache.get('Service', 'default', 'web') as { spec?: { ports?: { port: number }[] } }).spec?.ports?.[0]?.port, 1);
  assert.equal(cache.size, 2);
  const problems = source.problems();
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.code, 'MANIFEST_DUPLICATE_OBJECT');
  assert.equal(problems[0]!.file, join(dir, 'b.yaml'));
  assert.equal(problems[0]!.line, 8);
  assert.equal(problems[0]!.object, 'Service/default/web');
  assert.match(problems[0]!.message, /a\.yaml:1/);

  unlinkSync(join(dir, 'a.yaml'));
  await until(source, () => source.problems().length === 0, 'the duplicate to resolve');
  assert.equal((cache.get('Service', 'default', 'web') as { spec?: { ports?: { port: number }[] } }).spec?.ports?.[0]?.port, 2);
});

test('Secrets have stringData folded into data', async () => {
  const dir = folder({ 's.yaml': 'kind: Secret\nmetadata: {name: tls, namespace: shop}\ntype: kubernetes.io/tls\nstringData: {tls.crt: CERT}\n' });
  const { cache } = await started(dir);
  const secret = cache.get('Secret', 'shop', 'tls') as { data?: Record<string, string>; stringData?: unknown };
  assert.deepEqual(secret.data, { 'tls.crt': Buffer.from('CERT').toString('base64') });
  assert.equal(secret.stringData, undefined);
});

test('unreadable (oversized) files are reported and keep their objects', async () => {
  // Permissions cannot make a file unreadable for root (CI runs as root); a
  // sparse file over the size limit fails the read the same way on any user.
  const dir = folder({ 'a.yaml': svc('a') });
  const { source, cache } = await started(dir);
  const { truncateSync } = await import('node:fs');
  truncateSync(join(dir, 'a.yaml'), MAX_MANIFEST_BYTES + 1);
  await source.reload();
  const problem = source.problems()[0];
  assert.equal(problem?.code, 'MANIFEST_UNREADABLE');
  assert.match(problem?.message ?? '', /limit/);
  assert.deepEqual(cache.keys(), ['Service/default/a']);
});

test('a file truncated for a rewrite keeps its objects; one that stays empty loses them after the grace', async () => {
  const dir = folder({ 'a.yaml': svc('a') });
  const { source, cache } = await started(dir);
  const removed: string[] = [];
  cache.onChange((c) => removed.push(...c.keys.filter((k) => cache.get('Service', 'default', k.split('/')[2]!) === undefined)));
  write(dir, 'a.yaml', '');
  await new Promise((r) => setTimeout(r, 300)); // past the debounce, inside EMPTY_GRACE_MS
  assert.ok(cache.get('Service', 'default', 'a') !== undefined, 'still served while the file reads empty');
  write(dir, 'a.yaml', svc('a', undefined, 81));
  await until(source, () => (cache.get('Service', 'default', 'a') as { spec?: { ports?: { port: number }[] } } | undefined)?.spec?.ports?.[0]?.port === 81, 'the rewritten file');
  assert.deepEqual(removed, [], 'never removed in between');
  const t0 = Date.now();
  write(dir, 'a.yaml', '');
  await until(source, () => cache.get('Service', 'default', 'a') === undefined, 'the object to go once the file stays empty');
  assert.ok(Date.now() - t0 >= EMPTY_GRACE_MS - 50, `removed after ${Date.now() - t0} ms`);
});

test('a watch reload skips only files whose stat is unchanged since an old enough read: same-size rewrites are seen', async () => {
  const dir = folder({ 'a.yaml': svc('a1'), 'b.yaml': svc('b1') });
  const { source, cache } = await started(dir);
  assert.deepEqual(cache.keys(), ['Service/default/a1', 'Service/default/b1']);
  // Rewritten in place right after its read, with the same size: the stat may
  // match (coarse timestamps), so it must be read again.
  write(dir, 'a.yaml', svc('a2'));
  await source.reload(false);
  assert.deepEqual(cache.keys(), ['Service/default/a2', 'Service/default/b1']);
  // Old enough now that its stat stands for its text; a rewrite changes the stat.
  await new Promise((r) => setTimeout(r, 2_100));
  await source.reload();
  write(dir, 'b.yaml', svc('b2'));
  await source.reload(false);
  assert.deepEqual(cache.keys(), ['Service/default/a2', 'Service/default/b2']);
});
