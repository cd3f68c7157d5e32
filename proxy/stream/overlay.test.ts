import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Snapshot, VirtualHost } from '../../api/snapshot.ts';
import { changedKeys, isFrozenMap, mapKeys } from '../../api/snapshot.ts';
import type { DeltaMessage } from '../../api/stream.ts';
import { sealSnapshot, versionOf } from '../../api/version.ts';
import { DataPlane } from '../apply.ts';
import { cluster, content, route, vhost } from '../testkit.ts';
import { applyDelta } from './delta.ts';
import { freezeOverlay, isOverlay, MAX_CHANGES, MIN_KEYS, overlayChanges, overlayOf, plainCopyOf, withoutOverlays } from './overlay.ts';

const HOSTS = MIN_KEYS + 100;
const name = (i: number) => `h${String(i).padStart(5, '0')}.example.com`;

/** A sealed snapshot of HOSTS hosts, host `renamed` (if given) standing for host 0. */
function snapshot(renamed?: string, extra?: [string, VirtualHost]): Snapshot {
  const hosts: Record<string, VirtualHost> = {};
  const keys = Array.from({ length: HOSTS }, (_, i) => name(i));
  if (renamed !== undefined) keys[0] = renamed;
  if (extra !== undefined) keys.push(extra[0]);
  for (const k of keys.sort()) hosts[k] = k === extra?.[0] ? extra[1] : vhost([route('Prefix', '/', 'default/web:80')]);
  return sealSnapshot(content({ virtualHosts: hosts, clusters: { 'default/web:80': cluster(8080) } }));
}

const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
const delta = (from: Snapshot, to: Snapshot): DeltaMessage =>
  ({ type: 'delta', base: from.version, version: to.version, patch: plain(jsonpatch.compare(from, to)) as Operation[] });

test('an overlay reads as the plain map it stands for, and is read-only once frozen', () => {
  const base = Object.freeze(Object.fromEntries(Array.from({ length: MIN_KEYS }, (_, i) => [name(i), { n: i }])));
  assert.equal(overlayOf(Object.freeze({ a: 1 }), () => 1), undefined, 'small maps are copied');
  const o = overlayOf(base, () => MIN_KEYS) as Record<string, unknown>;
  assert.ok(o !== undefined && isOverlay(o));
  o['new.example.com'] = { n: -1 };
  delete o[name(1)];
  o[name(2)] = { n: 'two' };
  freezeOverlay(o);
  const want: Record<string, unknown> = { ...base, 'new.example.com': { n: -1 } };
  delete want[name(1)];
  want[name(2)] = { n: 'two' };
  assert.deepEqual(Object.keys(o), Object.keys(want), 'the keys in a plain copy\'s order');
  assert.deepEqual(plain(o), plain(Object.fromEntries(Object.keys(o).map((k) => [k, want[k]]))));
  assert.equal(Object.hasOwn(o, name(1)), false);
  assert.equal(name(1) in o, false);
  assert.equal(o[name(1)], undefined);
  assert.equal(o[name(3)], base[name(3)]);
  assert.equal(typeof o.toString, 'function', 'inherited members as a plain object has them');
  assert.equal(Object.hasOwn(o, 'toString'), false);
  assert.ok(isFrozenMap(o));
  assert.throws(() => { 'use strict'; o.x = 1; }, TypeError);
  assert.throws(() => { delete o[name(3)]; }, TypeError);
  assert.throws(() => Object.freeze(o), TypeError);
  assert.equal(Object.keys(base).length, MIN_KEYS, 'the base is untouched');
});

test('deltas with overlays give the same candidates, versions and tables as plain copies', async () => {
  const plane = new DataPlane();
  try {
    let served = snapshot();
    assert.ok((await plane.apply(plain(served))).ok);
    let plainServed = plane.current!;
    let copies = 0;
    // More changes than an overlay may carry: the chain copies whole again in between.
    for (let i = 1; i <= MAX_CHANGES + 6; i++) {
      const next = snapshot(`change-${i}.example.com`);
      const msg = delta(served, next);
      const withOverlay = applyDelta(plane.current, msg, { overlays: true });
      const withCopy = applyDelta(plainServed, msg);
      assert.ok(withOverlay.ok && withCopy.ok);
      assert.deepEqual(plain(withOverlay.candidate), plain(withCopy.candidate));
      const hosts = (withOverlay.candidate as Snapshot).virtualHosts;
      if (isOverlay(hosts)) {
        assert.ok(overlayChanges(hosts) <= MAX_CHANGES);
        assert.ok(changedKeys(hosts, plane.current!.virtualHosts)?.has(`change-${i}.example.com`), `change ${i}: the written keys are recorded`);
      } else copies++;
      assert.equal(versionOf(withOverlay.candidate as Snapshot), next.version);
      const out = await plane.apply(withOverlay.candidate);
      assert.deepEqual(out, { ok: true, version: next.version });
      assert.equal(plane.status().counts?.virtualHosts, HOSTS);
      served = next;
      plainServed = withCopy.candidate as Snapshot;
    }
    // Each rename leaves two changes on the overlay: a whole copy about every MAX_CHANGES / 2 deltas.
    assert.ok(copies >= 1 && copies <= 3, `${copies} whole copies`);
  } finally {
    await plane.close();
  }
});

test('a bad snapshot built on an overlay is refused and the last good table keeps serving', async () => {
  const plane = new DataPlane();
  try {
    const a = snapshot();
    assert.ok((await plane.apply(plain(a))).ok);
    const b = snapshot('b.example.com');
    assert.ok((await plane.apply((applyDelta(plane.current, delta(a, b), { overlays: true }) as { candidate: unknown }).candidate)).ok);
    assert.ok(isOverlay(plane.current!.virtualHosts));
    // A route to a cluster that does not exist: a NACK, with the right version claimed.
    const broken = { ...b, virtualHosts: { ...plain(b.virtualHosts) as object, 'zz.example.com': vhost([route('Prefix', '/', 'default/missing:80')]) } };
    const patch = plain(jsonpatch.compare(b, broken)) as Operation[];
    const withVersion = [...patch, { op: 'replace', path: '/version', value: 'f'.repeat(32) }] as Operation[];
    const r = applyDelta(plane.current, { type: 'delta', base: b.version, version: 'f'.repeat(32), patch: withVersion }, { overlays: true });
    assert.ok(r.ok);
    const out = await plane.apply(r.candidate);
    assert.equal(out.ok, false);
    assert.equal(!out.ok && out.code, 'SNAPSHOT_INVALID');
    assert.equal(plane.current!.version, b.version);
    assert.equal(Object.hasOwn(plane.current!.virtualHosts, 'zz.example.com'), false);
    assert.equal(plane.status().counts?.virtualHosts, HOSTS);
  } finally {
    await plane.close();
  }
});

test('a plain copy of an overlay has its keys and values, reads nothing through the traps, and records its key list', () => {
  const base = Object.freeze(Object.fromEntries(Array.from({ length: MIN_KEYS }, (_, i) => [name(i), { n: i }])));
  const o = overlayOf(base, () => MIN_KEYS) as Record<string, unknown>;
  o['new.example.com'] = { n: -1 };
  delete o[name(1)];
  o[name(2)] = { n: 'two' };
  Object.defineProperty(o, '__proto__', { value: { n: 'proto' }, enumerable: true, writable: true, configurable: true });
  assert.equal(plainCopyOf(o), undefined, 'only a frozen overlay is copied this way');
  freezeOverlay(o);
  const copy = plainCopyOf(o)!;
  assert.ok(!isOverlay(copy) && !Object.isFrozen(copy));
  assert.deepEqual(new Set(Object.keys(copy)), new Set(Object.keys(o)));
  for (const k of Object.keys(o)) assert.equal(copy[k], o[k], k);
  assert.equal(Object.getPrototypeOf(copy), Object.prototype, '"__proto__" is an own key, not the prototype');
  assert.deepEqual(new Set(mapKeys(o)), new Set(Object.keys(o)), 'the overlay\'s recorded key list');
  assert.equal(plainCopyOf(base), undefined, 'not an overlay');
});

test('the copy a delta takes once an overlay carries MAX_CHANGES (made a slice per delta before) is the copy made at once', () => {
  const base = Object.freeze(Object.fromEntries(Array.from({ length: MIN_KEYS }, (_, i) => [name(i), { n: i }])));
  let o = base as Record<string, unknown>;
  // A chain of overlays as deltas make them: replaced, removed, added (one "__proto__"), removed and added back.
  for (let i = 0; o === base || overlayChanges(o) < MAX_CHANGES; i++) {
    const next = overlayOf(o, () => MIN_KEYS) as Record<string, unknown>;
    if (i % 4 === 0) delete next[name(i)];
    else if (i % 4 === 1) next[`new${i}.example.com`] = { n: -i };
    else next[name(i)] = { n: `v${i}` };
    if (i === 9) Object.defineProperty(next, '__proto__', { value: { n: 'proto' }, enumerable: true, writable: true, configurable: true });
    if (i === 12) next[name(0)] = { n: 'back' };
    freezeOverlay(next);
    o = next;
  }
  const walked = plainCopyOf(o)!;
  const taken = plainCopyOf(o, true)!;
  assert.notEqual(taken, walked);
  assert.deepEqual(Object.keys(taken), Object.keys(walked), 'the same keys in the same order');
  for (const k of Object.keys(walked)) assert.equal(taken[k], walked[k], k);
  assert.equal(Object.getPrototypeOf(taken), Object.prototype, '"__proto__" is an own key, not the prototype');
  assert.ok(Object.hasOwn(taken, '__proto__') && !Object.hasOwn(taken, name(4)) && Object.hasOwn(taken, name(0)));
  assert.deepEqual(mapKeys(o), Object.keys(walked), 'the overlay\'s recorded key list');
  // Taken once: the next copy is made at once, and writing the taken one changes neither.
  taken[name(3)] = 'written';
  const again = plainCopyOf(o, true)!;
  assert.notEqual(again, taken);
  assert.deepEqual(Object.keys(again), Object.keys(walked));
  assert.equal(again[name(3)], walked[name(3)]);
  assert.deepEqual(base[name(3)], { n: 3 });
});

test('withoutOverlays: the snapshot itself without overlays, else a frozen copy with plain maps that structuredClone takes (made once)', () => {
  const base = Object.freeze(Object.fromEntries(Array.from({ length: MIN_KEYS }, (_, i) => [name(i), { n: i }])));
  const plain = Object.freeze({ version: 'v', virtualHosts: base });
  assert.equal(withoutOverlays(plain), plain);
  const o = overlayOf(base, () => MIN_KEYS) as Record<string, unknown>;
  o['new.example.com'] = { n: -1 };
  freezeOverlay(o);
  const snap = Object.freeze({ version: 'v2', virtualHosts: o });
  assert.throws(() => structuredClone(snap), /could not be cloned/);
  const copy = withoutOverlays(snap);
  assert.ok(Object.isFrozen(copy) && !isOverlay(copy.virtualHosts) && copy.version === 'v2');
  assert.deepEqual(structuredClone(copy), { version: 'v2', virtualHosts: { ...base, 'new.example.com': { n: -1 } } });
  assert.equal(withoutOverlays(snap), copy);
});
