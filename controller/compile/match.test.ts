import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostKey, pathMatch } from './match.ts';
import { parseTimeoutMs, MAX_TIMEOUT_MS } from '../../lib/duration.ts';

test('hostKey', async (t) => {
  const cases: Array<{ name: string; host: string | undefined; want: string | null }> = [
    { name: 'absent is any host', host: undefined, want: '*' },
    { name: 'empty is any host', host: '', want: '*' },
    { name: 'lower-cased', host: 'Foo.COM', want: 'foo.com' },
    { name: 'single label', host: 'localhost', want: 'localhost' },
    { name: 'wildcard kept', host: '*.Foo.com', want: '*.foo.com' },
    { name: 'digits and hyphens', host: 'a-1.b2.example', want: 'a-1.b2.example' },
    { name: 'wildcard in the middle', host: 'foo.*.com', want: null },
    { name: 'bare star', host: '*', want: null },
    { name: 'double wildcard', host: '*.*.foo.com', want: null },
    { name: 'underscore', host: 'foo_bar.com', want: null },
    { name: '__proto__', host: '__proto__', want: null },
    { name: 'trailing dot', host: 'foo.com.', want: null },
    { name: 'leading hyphen', host: '-foo.com', want: null },
    { name: 'port', host: 'foo.com:80', want: null },
    { name: 'IPv4 address', host: '10.0.0.1', want: null },
    { name: 'label too long', host: `${'a'.repeat(64)}.com`, want: null },
    { name: 'name too long', host: `${'a.'.repeat(127)}com`, want: null },
    { name: 'space', host: 'foo .com', want: null },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const got = hostKey(c.host);
      if (c.want === null) {
        assert.equal(got.ok, false);
        assert.equal(!got.ok && got.reason, 'InvalidHost');
      } else {
        assert.deepEqual(got, { ok: true, value: c.want });
      }
    });
  }
});

test('pathMatch', async (t) => {
  type Want = { type: 'Exact' | 'Prefix'; path: string } | 'InvalidPath' | 'InvalidPathType';
  const cases: Array<{ name: string; pathType: unknown; path: string | undefined; want: Want }> = [
    { name: 'Prefix kept', pathType: 'Prefix', path: '/foo', want: { type: 'Prefix', path: '/foo' } },
    { name: 'Prefix trailing slash dropped', pathType: 'Prefix', path: '/foo/', want: { type: 'Prefix', path: '/foo' } },
    { name: 'Prefix root kept', pathType: 'Prefix', path: '/', want: { type: 'Prefix', path: '/' } },
    { name: 'Prefix missing path is /', pathType: 'Prefix', path: undefined, want: { type: 'Prefix', path: '/' } },
    { name: 'Prefix empty path is /', pathType: 'Prefix', path: '', want: { type: 'Prefix', path: '/' } },
    { name: 'ImplementationSpecific is Prefix', pathType: 'ImplementationSpecific', path: '/a/', want: { type: 'Prefix', path: '/a' } },
    { name: 'ImplementationSpecific missing path is /', pathType: 'ImplementationSpecific', path: undefined, want: { type: 'Prefix', path: '/' } },
    { name: 'Exact kept as given', pathType: 'Exact', path: '/foo/', want: { type: 'Exact', path: '/foo/' } },
    { name: 'Exact needs a path', pathType: 'Exact', path: undefined, want: 'InvalidPath' },
    { name: 'sub-delims, colon, at, escapes allowed', pathType: 'Exact', path: "/a:b@c!$&'()*+,;=~%C3%A9", want: { type: 'Exact', path: "/a:b@c!$&'()*+,;=~%C3%A9" } },
    { name: 'dots inside a segment allowed', pathType: 'Prefix', path: '/v1.2/..x/.y', want: { type: 'Prefix', path: '/v1.2/..x/.y' } },
    { name: 'relative', pathType: 'Prefix', path: 'foo', want: 'InvalidPath' },
    { name: 'empty segment', pathType: 'Prefix', path: '/foo//bar', want: 'InvalidPath' },
    { name: 'double trailing slash', pathType: 'Prefix', path: '/foo//', want: 'InvalidPath' },
    { name: 'dot segment', pathType: 'Prefix', path: '/foo/./bar', want: 'InvalidPath' },
    { name: 'dot-dot segment', pathType: 'Exact', path: '/foo/../bar', want: 'InvalidPath' },
    { name: 'trailing dot-dot', pathType: 'Prefix', path: '/foo/..', want: 'InvalidPath' },
    { name: 'encoded dot-dot', pathType: 'Prefix', path: '/foo/%2E%2e/bar', want: 'InvalidPath' },
    { name: 'encoded slash', pathType: 'Prefix', path: '/foo%2Fbar', want: 'InvalidPath' },
    { name: 'encoded NUL', pathType: 'Prefix', path: '/foo%00', want: 'InvalidPath' },
    { name: 'bad escape', pathType: 'Prefix', path: '/foo%zz', want: 'InvalidPath' },
    { name: 'query', pathType: 'Prefix', path: '/foo?x=1', want: 'InvalidPath' },
    { name: 'fragment', pathType: 'Prefix', path: '/foo#x', want: 'InvalidPath' },
    { name: 'space', pathType: 'Prefix', path: '/foo bar', want: 'InvalidPath' },
    { name: 'backslash', pathType: 'Prefix', path: '/foo\\bar', want: 'InvalidPath' },
    { name: 'non-ASCII', pathType: 'Prefix', path: '/café', want: 'InvalidPath' },
    { name: 'regex', pathType: 'ImplementationSpecific', path: '/foo/[0-9]+', want: 'InvalidPath' },
    { name: 'missing pathType', pathType: undefined, path: '/foo', want: 'InvalidPathType' },
    { name: 'unknown pathType', pathType: 'Regex', path: '/foo', want: 'InvalidPathType' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const got = pathMatch(c.pathType, c.path);
      if (typeof c.want === 'string') {
        assert.equal(got.ok, false);
        assert.equal(!got.ok && got.reason, c.want);
      } else {
        assert.deepEqual(got, { ok: true, value: c.want });
      }
    });
  }
});

test('parseTimeoutMs', async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['500ms', 500], ['2s', 2000], ['1m', 60_000], ['1h', 3_600_000], ['1m30s', 90_000],
    ['1.5s', 1500], ['1.1s', 1100], ['.5s', 500], ['2.s', 2000], ['100us', 1], ['100µs', 1], ['1500000ns', 2],
    ['1h1m1s1ms', 3_661_001], [`${MAX_TIMEOUT_MS}ms`, MAX_TIMEOUT_MS],
    ['', undefined], ['0', undefined], ['0s', undefined], ['-1s', undefined], ['+1s', undefined],
    ['1', undefined], ['s', undefined], ['1d', undefined], ['1 s', undefined], ['1S', undefined],
    [`${MAX_TIMEOUT_MS + 1}ms`, undefined], ['1000h', undefined], ['1e3ms', undefined],
  ];
  for (const [s, want] of cases) {
    await t.test(JSON.stringify(s), () => assert.equal(parseTimeoutMs(s), want));
  }
});
