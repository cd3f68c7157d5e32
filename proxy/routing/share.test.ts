import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shareRouteStrings } from './share.ts';

// A snapshot as the proxy parses it: every string value its own copy.
function parsed(): Record<string, unknown> {
  return JSON.parse(JSON.stringify({
    version: 'v',
    listeners: {},
    secrets: {},
    clusters: { 'default/a:80': { endpoints: {} }, 'default/b:80': { endpoints: {} } },
    virtualHosts: {
      'a.com': { routes: {
        'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'default/a:80', timeoutMs: 1, origin: 'Ingress/default/a' },
        'Exact:/x': { match: { type: 'Exact', path: '/x' }, cluster: 'default/missing:80', timeoutMs: 1, origin: 'Ingress/default/a' },
      } },
      'b.com': { routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'default/b:80', timeoutMs: 1, origin: 'Ingress/default/b' } } },
    },
  })) as Record<string, unknown>;
}

test('shareRouteStrings changes no content of a parsed snapshot', () => {
  const s = parsed();
  shareRouteStrings(s);
  assert.deepEqual(s, parsed());
});

test('shareRouteStrings leaves frozen candidates, frozen routes and odd shapes alone without throwing', () => {
  const frozen = Object.freeze(parsed());
  assert.doesNotThrow(() => shareRouteStrings(frozen));
  const s = parsed();
  const routes = (s.virtualHosts as Record<string, { routes: Record<string, object> }>)['a.com']!.routes;
  Object.freeze(routes['Prefix:/']);
  assert.doesNotThrow(() => shareRouteStrings(s));
  assert.deepEqual(s, parsed());
  for (const odd of [undefined, null, 1, 'x', [], { virtualHosts: [] }, { virtualHosts: { h: null }, clusters: {} },
    { virtualHosts: { h: { routes: [1] } }, clusters: { c: 1 } }, { virtualHosts: { h: { routes: { r: { cluster: 7, origin: {} } } } }, clusters: {} }]) {
    assert.doesNotThrow(() => shareRouteStrings(structuredClone(odd)), JSON.stringify(odd));
  }
});
