import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Route } from '../../api/snapshot.ts';
import { Claims, HostRoutes, type RouteClaim } from './claims.ts';

const claim = (n: number): RouteClaim => ({ owner: { kind: 'Ingress', id: `ns/i${n}` }, route: { match: { path: `/${n}`, type: 'Exact' }, origin: `o${n}`, timeoutMs: 1 } as Route });

test('HostRoutes: claims in fields and beyond them, found by key, listed in claim order', () => {
  const r = new HostRoutes();
  assert.equal(r.get('Exact:/0'), undefined);
  const keys = ['Prefix:/', 'Exact:/b', 'Exact:/a', 'Prefix:/z', 'Exact:/c'];
  keys.forEach((k, i) => r.add(k, claim(i)));
  keys.forEach((k, i) => assert.equal(r.get(k)!.owner.id, `ns/i${i}`));
  assert.equal(r.get('Exact:/missing'), undefined);
  const out: string[] = [];
  r.keysInto(out);
  assert.deepEqual(out, keys);
});

test('Claims: a second claim of a route is a bug; a host with TLS and no routes is kept, one without either dropped', () => {
  const c = new Claims();
  c.addRoute('a.com', 'Prefix:/', { kind: 'Ingress', id: 'ns/a' }, claim(1).route);
  assert.throws(() => c.addRoute('a.com', 'Prefix:/', { kind: 'Ingress', id: 'ns/b' }, claim(2).route), /claimed twice/);
  assert.equal(c.routeOwner('a.com', 'Prefix:/')?.id, 'ns/a');
  c.routesOf('empty.com');
  const out = c.output();
  assert.deepEqual(Object.keys(out.virtualHosts), ['a.com']);
  assert.deepEqual(Object.keys(out.virtualHosts['a.com']!.routes), ['Prefix:/']);
});
