import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedKeys as changedKeysOf } from '../../api/snapshot.ts';
import { entriesSerialised, sealSnapshot, type SnapshotContent } from '../../api/version.ts';
import { noteShared, share } from './reuse.ts';

test('share', async (t) => {
  await t.test('deep-equal → previous object', () => {
    const prev = { a: { b: 1, c: { d: 'x' } }, e: 2 };
    assert.equal(share({ a: { b: 1, c: { d: 'x' } }, e: 2 }, prev), prev);
  });
  await t.test('changed leaf: new root, unchanged siblings shared', () => {
    const prev = { a: { b: 1 }, c: { d: 2 } };
    const next = share({ a: { b: 1 }, c: { d: 3 } }, prev);
    assert.notEqual(next, prev);
    assert.equal(next.a, prev.a);
    assert.notEqual(next.c, prev.c);
    assert.deepEqual(next, { a: { b: 1 }, c: { d: 3 } });
  });
  await t.test('added and removed keys are changes', () => {
    const prev = { a: { x: 1 }, b: { y: 1 } };
    const added = share({ a: { x: 1 }, b: { y: 1 }, c: {} }, prev);
    assert.notEqual(added, prev);
    assert.equal(added.a, prev.a);
    const removed = share({ a: { x: 1 } }, prev);
    assert.notEqual(removed, prev);
    assert.equal(removed.a, prev.a);
    const renamed = share({ a: { x: 1 }, c: { y: 1 } }, prev);
    assert.notEqual(renamed, prev);
  });
  await t.test('frozen next is copied, not mutated', () => {
    const prev = { a: { b: 1 }, c: 1 };
    const frozen = Object.freeze({ a: { b: 1 }, c: 2 });
    const next = share(frozen, prev);
    assert.notEqual(next, frozen);
    assert.equal(next.a, prev.a);
    assert.deepEqual(frozen, { a: { b: 1 }, c: 2 });
  });
  await t.test('type changes', () => {
    assert.deepEqual(share({ a: 'x' } as object, { a: { b: 1 } }), { a: 'x' });
    assert.deepEqual(share({ a: { b: 1 } } as object, { a: null }), { a: { b: 1 } });
    assert.deepEqual(share({ a: 1 }, undefined), { a: 1 });
  });
});

test('share: arrays are shared element by element', async (t) => {
  await t.test('equal arrays → previous array', () => {
    const prev = { backends: [{ cluster: 'a', weight: 90 }, { weight: 10 }] };
    const next = share({ backends: [{ cluster: 'a', weight: 90 }, { weight: 10 }] }, prev);
    assert.equal(next, prev);
  });
  await t.test('one changed element: new array, unchanged elements shared', () => {
    const prev = { backends: [{ cluster: 'a', weight: 90 }, { cluster: 'b', weight: 10 }] };
    const next = share({ backends: [{ cluster: 'a', weight: 90 }, { cluster: 'b', weight: 20 }] }, prev);
    assert.notEqual(next.backends, prev.backends);
    assert.equal(next.backends[0], prev.backends[0]);
    assert.deepEqual(next.backends[1], { cluster: 'b', weight: 20 });
  });
  await t.test('length changes are changes', () => {
    const prev = { h: ['a', 'b'] };
    assert.notEqual(share({ h: ['a'] }, prev), prev);
    assert.notEqual(share({ h: ['a', 'b', 'c'] }, prev), prev);
  });
  await t.test('a frozen array is copied, not mutated', () => {
    const prev = [{ a: 1 }, { b: 1 }];
    const frozen = Object.freeze([{ a: 1 }, { b: 2 }]);
    const next = share(frozen, prev);
    assert.notEqual(next, frozen);
    assert.equal(next[0], prev[0]);
    assert.deepEqual(frozen, [{ a: 1 }, { b: 2 }]);
  });
  await t.test('array versus object is a change', () => {
    assert.deepEqual(share({ a: [1] } as object, { a: { 0: 1 } }), { a: [1] });
    assert.deepEqual(share({ a: { 0: 1 } } as object, { a: [1] }), { a: { 0: 1 } });
  });
});

test('noteShared: a shared map is recorded as a copy at its changed keys, so sealing it serialises only their buckets', () => {
  const hosts = (n: number, path: (i: number) => string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`h${i}.com`, { routes: { [`Prefix:${path(i)}`]: { match: { path: path(i), type: 'Prefix' }, origin: 'o', timeoutMs: 5 } } }]));
  const content = (virtualHosts: Record<string, unknown>) => ({ listeners: {}, virtualHosts, clusters: {}, secrets: {} }) as unknown as SnapshotContent;
  const prev = sealSnapshot(content(hosts(400, () => '/')));
  // What compile() does with a previous snapshot: share, then note.
  const changed = (i: number) => (i === 7 ? '/seven' : '/');
  const next = share(hosts(400, changed), prev.virtualHosts);
  assert.equal(next['h8.com'], prev.virtualHosts['h8.com']);
  noteShared(next, prev.virtualHosts);
  const before = entriesSerialised();
  const sealed = sealSnapshot(content(next));
  assert.deepEqual([...changedKeysOf(sealed.virtualHosts, prev.virtualHosts)!], ['h7.com']);
  assert.ok(entriesSerialised() - before < 20, 'one bucket, not 400 entries');
  assert.equal(sealed.version, sealSnapshot(content(hosts(400, changed))).version, 'the version a fresh seal gives');
  // Most keys changed: not recorded, hashed whole.
  const most = share(hosts(400, (i) => `/x${i}`), prev.virtualHosts);
  noteShared(most, prev.virtualHosts);
  Object.freeze(most);
  assert.equal(changedKeysOf(most, prev.virtualHosts), undefined);
});
