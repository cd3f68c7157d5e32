import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { ObjectCache } from './cache.ts';
import type { CompileFn, CompileResult } from './compile/types.ts';
import { createLogger, silentLogger, type LogLevel } from '../lib/log.ts';
import { BuildLoop } from './loop.ts';
import { HoldOff } from './holdoff.ts';
import { SnapshotStore } from './snapshot/store.ts';
import { fakeCompile, testCompileOptions } from './snapshot/testing.ts';
import { ManifestSource } from './sources/manifests.ts';

const svc = (name: string, port = 80) => ({ kind: 'Service', metadata: { name }, spec: { ports: [{ port }] } });

function setup(compile: CompileFn = fakeCompile, holdOff = { quietMs: 30, maxMs: 200 }) {
  const cache = new ObjectCache();
  const store = new SnapshotStore();
  const calls: number[] = [];
  const counting: CompileFn = (input, options, previous) => {
    calls.push(input.services.length);
    return compile(input, options, previous);
  };
  const results: CompileResult[] = [];
  const logs: { level: LogLevel; message: string }[] = [];
  const loop = new BuildLoop({
    cache, store, compile: counting, options: testCompileOptions, holdOff,
    onResult: (r) => results.push(r),
    log: createLogger({ level: 'debug', write: (line) => { const l = JSON.parse(line); logs.push({ level: l.level, message: l.msg }); } }),
  });
  return { cache, store, loop, calls, results, logs };
}

/** The next snapshot the store publishes, or a rejection after a generous bound. */
function nextPublish(store: SnapshotStore): Promise<Snapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error('no publish within 5 s')); }, 5000);
    const off = store.subscribe((s) => { clearTimeout(timer); off(); resolve(s); });
  });
}

test('start builds at once and firstSnapshot resolves; nothing is built before start', async () => {
  const { cache, store, loop, calls } = setup();
  cache.upsert(svc('web'));
  assert.equal(calls.length, 0, 'changes before start() do not build');
  loop.start();
  const first = await loop.firstSnapshot();
  assert.equal(first, store.current);
  assert.ok('default/web:80' in first.clusters);
  assert.deepEqual(calls, [1]);
  loop.close();
});

test('a burst of changes within the hold-off is one compile', async () => {
  const { cache, store, loop, calls } = setup();
  loop.start();
  await loop.firstSnapshot();
  const published = nextPublish(store);
  for (let i = 0; i < 5; i++) cache.upsert(svc(`s${i}`));
  const s = await published;
  assert.equal(Object.keys(s.clusters).length, 5);
  assert.deepEqual(calls, [0, 5], 'one compile for the initial state, one for the burst');
  loop.close();
});

test('continuous changes still build within the maximum hold-off', async () => {
  const { cache, store, loop } = setup(fakeCompile, { quietMs: 60_000, maxMs: 100 });
  loop.start();
  await loop.firstSnapshot();
  let published = false;
  const unsubscribe = store.subscribe(() => (published = true));
  // Changes keep arriving faster than the quiet time; the max still forces a build.
  for (let i = 0; i < 500 && !published; i++) {
    cache.upsert(svc(`s${i}`));
    await new Promise((r) => setTimeout(r, 10));
  }
  unsubscribe();
  assert.ok(published, 'a build ran while changes were still arriving');
  loop.close();
});

test('a compile that throws is logged and the last snapshot stays', async () => {
  let broken = false;
  const compile: CompileFn = (input, options, previous) => {
    if (broken) throw new Error('compiler bug');
    return fakeCompile(input, options, previous);
  };
  const { cache, store, loop, logs } = setup(compile);
  cache.upsert(svc('web'));
  loop.start();
  const good = await loop.firstSnapshot();
  broken = true;
  cache.upsert(svc('api'));
  loop.flush();
  assert.equal(store.current, good);
  assert.equal(loop.stats().failures, 1);
  assert.equal(loop.stats().lastError?.code, 'BUILD_COMPILE_FAILED');
  assert.ok(logs.some((l) => l.level === 'error' && /compiler bug/.test(l.message)));
  broken = false;
  cache.upsert(svc('db'));
  loop.flush();
  assert.notEqual(store.current, good);
  assert.equal(loop.stats().lastError, undefined);
  loop.close();
});

test('an invalid snapshot is not published', () => {
  const compile: CompileFn = (input, options) => {
    const base = fakeCompile(input, options);
    const bad = sealSnapshot({ ...base.snapshot, defaultRoute: { match: { type: 'Prefix', path: '/' }, cluster: 'default/missing:80', timeoutMs: 1000, origin: 'test' } });
    return { snapshot: bad, conditions: base.conditions };
  };
  const { store, loop } = setup(compile);
  loop.start();
  assert.equal(store.current, undefined);
  assert.equal(loop.stats().lastError?.code, 'BUILD_SNAPSHOT_INVALID');
  loop.close();
});

test('a failed first build rejects firstSnapshot instead of leaving start-up waiting', async () => {
  const { loop } = setup(() => { throw new Error('compiler bug'); });
  loop.start();
  await assert.rejects(loop.firstSnapshot(), (err: Error & { code?: string }) => err.code === 'BUILD_COMPILE_FAILED' && /compiler bug/.test(err.message));
  loop.close();
});

test('conditions reach onResult on every compile; an unchanged version is not republished', async () => {
  const { cache, store, loop, results } = setup();
  loop.start();
  await loop.firstSnapshot();
  // A change the compiler ignores (no ports) compiles to the same version.
  cache.upsert({ kind: 'Service', metadata: { name: 'headless' } });
  loop.flush();
  assert.equal(results.length, 2);
  assert.equal(store.publishedCount, 1);
  loop.close();
});

test('HoldOff flush and cancel', () => {
  let n = 0;
  const h = new HoldOff(() => n++, { quietMs: 10_000, maxMs: 10_000 });
  assert.equal(h.flush(), false);
  h.trigger();
  h.trigger();
  assert.equal(h.pending, true);
  assert.equal(h.flush(), true);
  assert.equal(n, 1);
  h.trigger();
  h.cancel();
  assert.equal(h.pending, false);
  assert.equal(n, 1);
});


test('wiring as local mode does: manifest folder → cache → loop → store', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'turnout-loop-'));
  const ingress = (path: string) => `kind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - host: foo.com\n    http:\n      paths:\n      - {path: ${path}, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n`;
  writeFileSync(join(dir, 'app.yaml'), `kind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n${ingress('/a')}`);
  const { cache, store, loop } = setup();
  const source = new ManifestSource({ dir, debounce: { quietMs: 20, maxMs: 100 }, rescanIntervalMs: 0, log: silentLogger });
  t.after(async () => {
    loop.close();
    await source.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await source.start(cache);
  loop.start(); // only after the first full sync
  const first = await loop.firstSnapshot();
  assert.deepEqual(Object.keys(first.virtualHosts['foo.com']?.routes ?? {}), ['Prefix:/a']);
  const published = nextPublish(store);
  writeFileSync(join(dir, 'app.yaml'), `kind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n${ingress('/b')}`);
  const second = await published;
  assert.deepEqual(Object.keys(second.virtualHosts['foo.com']?.routes ?? {}), ['Prefix:/b']);
  assert.equal(second.virtualHosts['foo.com']?.routes['Prefix:/b']?.cluster, 'default/web:80');
});

test('endpoint-only changes take the fast path; any other change, or a failed build, compiles in full', async () => {
  const { compile: realCompile } = await import('./compile/builder.ts');
  const { recompileEndpoints } = await import('./compile/endpoints.ts');
  const f = await import('./compile/fixtures.ts');
  const cache = new ObjectCache();
  const store = new SnapshotStore();
  let full = 0;
  let failNext = false;
  const loop = new BuildLoop({
    cache, store, options: f.OPTIONS, log: silentLogger, compileEndpoints: recompileEndpoints,
    compile: (input, options, previous) => {
      full++;
      if (failNext) { failNext = false; throw new Error('compiler bug'); }
      return realCompile(input, options, previous);
    },
  });
  for (const o of [f.ingress('web', { rules: [f.rule('a.com', f.prefixPath('/', 'web'))] }), f.service('web'), f.slice('web', ['10.0.0.1'])]) cache.upsert(o);
  loop.start();
  await loop.firstSnapshot();
  assert.equal(full, 1);

  cache.upsert(f.slice('web', ['10.0.0.1', '10.0.0.2']));
  loop.flush();
  assert.deepEqual([full, loop.stats().fastBuilds], [1, 1], 'a slice change skips the compiler');
  assert.deepEqual(Object.keys(store.current!.clusters['default/web:80']!.endpoints), ['10.0.0.1:8080', '10.0.0.2:8080']);

  cache.upsert(f.service('web', [{ name: 'http', port: 80, targetPort: 9090 }]));
  loop.flush();
  assert.equal(full, 2, 'a Service change compiles in full');

  failNext = true;
  cache.upsert(f.ingress('web', { rules: [f.rule('b.com', f.prefixPath('/', 'web'))] }));
  loop.flush();
  cache.upsert(f.slice('web', ['10.0.0.3']));
  loop.flush();
  assert.equal(full, 4, 'after a failed build the next one is full, even for a slice change');
  assert.ok(store.current!.virtualHosts['b.com'], 'and it carries the change the failed build missed');
  loop.close();
});
