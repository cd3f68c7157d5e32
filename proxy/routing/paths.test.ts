import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, parseRequestTarget, PathMatcher, prefixKey } from './paths.ts';
import type { PathRoute } from './paths.ts';
import { normalizeHost, HostIndex } from './hosts.ts';

test('normalizePath merges slashes, removes dot segments, never climbs above the root', () => {
  const cases: Array<[string, string]> = [
    ['/', '/'],
    ['/foo', '/foo'],
    ['/foo/', '/foo/'],
    ['//foo///bar', '/foo/bar'],
    ['/foo/./bar', '/foo/bar'],
    ['/foo/../bar', '/bar'],
    ['/foo/bar/..', '/foo/'],
    ['/foo/.', '/foo/'],
    ['/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/.well-known/acme', '/.well-known/acme'],
    ['/a/%2e%2E/b', '/b'],          // encoded dots are dots (unreserved, decoded)
    ['/%7Euser/%41', '/~user/A'],   // unreserved escapes decoded
    ['/a%2fb', '/a%2Fb'],           // an encoded slash stays data, hex upper-cased
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/100%', '/100%'],             // malformed escape left alone
  ];
  for (const [input, want] of cases) assert.equal(normalizePath(input), want, input);
});

test('parseRequestTarget takes origin-form only and splits the query', () => {
  assert.deepEqual(parseRequestTarget('/a//b?x=1&y=/..'), { path: '/a/b', query: '?x=1&y=/..' });
  assert.deepEqual(parseRequestTarget('/a?'), { path: '/a', query: '?' });
  assert.deepEqual(parseRequestTarget('/a#frag?no'), { path: '/a', query: '' });
  assert.equal(parseRequestTarget('*'), undefined);
  assert.equal(parseRequestTarget('http://foo.com/a'), undefined);
  assert.equal(parseRequestTarget('foo.com:443'), undefined);
  assert.equal(parseRequestTarget(undefined), undefined);
});

test('prefixKey drops the trailing slash except for the root', () => {
  assert.equal(prefixKey('/'), '/');
  assert.equal(prefixKey('/foo/'), '/foo');
  assert.equal(prefixKey('/foo//bar/'), '/foo/bar');
});

test('PathMatcher: "/foo" and "/foo/" prefixes collide; the longer path wins the tie', () => {
  const m = new PathMatcher([
    { type: 'Prefix', path: '/foo', value: 'short' },
    { type: 'Prefix', path: '/foo/', value: 'long' },
  ]);
  assert.equal(m.match('/foo/x'), 'long');
  assert.equal(m.size, 1);
});

test('PathMatcher probes only segment prefixes (deep paths, many routes)', () => {
  const routes = Array.from({ length: 5000 }, (_, i) => ({ type: 'Prefix' as const, path: `/r${i}`, value: i }));
  const m = new PathMatcher(routes);
  assert.equal(m.match('/r4999/a/b/c/d/e'), 4999);
  assert.equal(m.match('/r5000'), undefined);
});

test('PathMatcher answers alike with few path keys (flat table) and many (Map), across the boundary', () => {
  // Up to 8 keys per kind a table is a flat array, beyond a Map (paths.ts SMALL_TABLE):
  // exact beats prefix, the longest prefix wins, whatever the size.
  const requests = ['/', '/e0', '/e0/', '/e7', '/e8', '/e12', '/p0', '/p0/x', '/p7/a/b', '/p8', '/p8/deep/er', '/p12/x', '/zz', '/p1x'];
  for (const n of [1, 7, 8, 9, 13]) {
    const routes: Array<PathRoute<string>> = [{ type: 'Prefix', path: '/', value: 'root' }];
    for (let i = 0; i < n; i++) {
      routes.push({ type: 'Exact', path: `/e${i}`, value: `e${i}` }, { type: 'Prefix', path: `/p${i}`, value: `p${i}` });
    }
    const m = new PathMatcher(routes);
    assert.equal(m.size, 2 * n + 1, `${n} keys`);
    for (const path of requests) {
      const seg = path.split('/')[1] ?? '';
      const i = Number(seg.slice(1));
      const want = seg.startsWith('e') && path === `/e${i}` && i < n ? `e${i}`
        : seg.startsWith('p') && /^p\d+$/.test(seg) && i < n ? `p${i}` : 'root';
      assert.equal(m.match(path), want, `${n} keys: ${path}`);
    }
  }
});

test('normalizeHost lower-cases and strips port, IPv6 brackets and a trailing dot', () => {
  assert.equal(normalizeHost('FOO.com'), 'foo.com');
  assert.equal(normalizeHost('foo.com:8080'), 'foo.com');
  assert.equal(normalizeHost('foo.com.'), 'foo.com');
  assert.equal(normalizeHost('Foo.Com.:443'), 'foo.com');
  assert.equal(normalizeHost('[::1]:8080'), '::1');
  assert.equal(normalizeHost('[::1]'), '::1');
  assert.equal(normalizeHost(undefined), '');
  assert.equal(normalizeHost(''), '');
});

test('HostIndex wildcard covers exactly one extra label', () => {
  const idx = new HostIndex([['*.foo.com', 'wild'], ['x.foo.com', 'exact'], ['*', 'ignored']]);
  assert.equal(idx.lookup('bar.foo.com'), 'wild');
  assert.equal(idx.lookup('x.foo.com'), 'exact');
  assert.equal(idx.lookup('baz.bar.foo.com'), undefined);
  assert.equal(idx.lookup('foo.com'), undefined);
  assert.equal(idx.lookup('.foo.com'), undefined);
  assert.equal(idx.lookup('anything'), undefined);
  assert.equal(idx.size, 2);
});

test('PathMatcher.constant is the answer for every path and request only when nothing but an unconditional Prefix "/" decides', () => {
  const root = (extra: object = {}) => ({ type: 'Prefix' as const, path: '/', value: 'root', ...extra });
  const paths = ['/', '/a', '/a/b/', '', 'no-slash', '/%2F'];
  const only = new PathMatcher([root()]);
  assert.equal(only.constant, 'root');
  for (const p of paths) assert.equal(only.match(p), 'root', p);
  // Two routes on "/": the unconditional one is reached whatever the request, so it is still constant when first.
  const ranked = new PathMatcher([root({ rank: 1 }), root({ value: 'later', rank: 2, key: 'b' })]);
  assert.equal(ranked.constant, 'root');
  // Anything else can change the answer: no constant, and match() still decides.
  const cases: Array<[string, PathMatcher<string>, string | undefined]> = [
    ['a condition on "/"', new PathMatcher([root({ method: 'GET' })]), undefined],
    ['a conditioned route first on "/"', new PathMatcher([root({ value: 'canary', headers: [{ name: 'x', type: 'Exact', value: '1' }], key: 'c' }), root()]), 'root'],
    ['another prefix', new PathMatcher([root(), { type: 'Prefix', path: '/api', value: 'api' }]), 'root'],
    ['an exact path', new PathMatcher([root(), { type: 'Exact', path: '/x', value: 'x' }]), 'root'],
    ['a regular expression', new PathMatcher([root(), { type: 'RegularExpression', path: '/r.*', value: 're' }]), 'root'],
    ['no "/"', new PathMatcher([{ type: 'Prefix', path: '/a', value: 'a' }]), undefined],
  ];
  for (const [what, m, atRoot] of cases) {
    assert.equal(m.constant, undefined, what);
    assert.equal(m.match('/'), atRoot, what);
  }
});
