import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderFilter, PathModifier, Redirect, RouteMatch } from '../api/snapshot.ts';
import { applyHeaderFilter, modifyPath, redirectLocation, withHost } from './filters.ts';
import type { RedirectRequest } from './filters.ts';

test('header filters: remove, then set, then add; names case-insensitive', () => {
  const base = ['Host', 'a.com', 'X-Env', 'dev', 'x-env', 'qa', 'Accept', '*/*', 'X-Trace', '1'];
  const cases: Array<[string, HeaderFilter | undefined, string[]]> = [
    ['no filter', undefined, base],
    ['an empty filter', {}, base],
    ['remove drops every spelling', { remove: ['x-env'] }, ['Host', 'a.com', 'Accept', '*/*', 'X-Trace', '1']],
    ['remove of an absent name', { remove: ['x-none'] }, base],
    ['set replaces all values with one', { set: [{ name: 'x-env', value: 'prod' }] }, ['Host', 'a.com', 'Accept', '*/*', 'X-Trace', '1', 'x-env', 'prod']],
    ['set of an absent name adds it', { set: [{ name: 'x-new', value: 'v' }] }, [...base, 'x-new', 'v']],
    ['the last set of a name wins', { set: [{ name: 'x-new', value: '1' }, { name: 'x-new', value: '2' }] }, [...base, 'x-new', '2']],
    ['add appends a line, keeping the others', { add: [{ name: 'x-env', value: 'extra' }] }, [...base, 'x-env', 'extra']],
    ['remove then add: the added value is sent', { remove: ['x-trace'], add: [{ name: 'x-trace', value: '2' }] }, ['Host', 'a.com', 'X-Env', 'dev', 'x-env', 'qa', 'Accept', '*/*', 'x-trace', '2']],
    ['set then add: both values', { set: [{ name: 'x-trace', value: 's' }], add: [{ name: 'x-trace', value: 'a' }] }, ['Host', 'a.com', 'X-Env', 'dev', 'x-env', 'qa', 'Accept', '*/*', 'x-trace', 's', 'x-trace', 'a']],
    ['remove and set of one name: set wins (set runs after remove)', { remove: ['accept'], set: [{ name: 'accept', value: 'text/html' }] }, ['Host', 'a.com', 'X-Env', 'dev', 'x-env', 'qa', 'X-Trace', '1', 'accept', 'text/html']],
  ];
  for (const [name, filter, want] of cases) assert.deepEqual(applyHeaderFilter(base, filter), want, name);
  assert.equal(applyHeaderFilter(base, undefined), base, 'no copy without a filter');
  assert.deepEqual(base, ['Host', 'a.com', 'X-Env', 'dev', 'x-env', 'qa', 'Accept', '*/*', 'X-Trace', '1'], 'the input is not changed');
});

test('withHost replaces the Host value or adds one', () => {
  const headers = ['Host', 'client.com:8080', 'x-forwarded-host', 'client.com:8080'];
  assert.deepEqual(withHost(headers, 'internal.svc'), ['Host', 'internal.svc', 'x-forwarded-host', 'client.com:8080']);
  assert.deepEqual(headers[1], 'client.com:8080', 'the input is not changed');
  assert.deepEqual(withHost(['accept', '*/*'], 'internal.svc'), ['accept', '*/*', 'host', 'internal.svc']);
});

const prefix = (path: string): RouteMatch => ({ type: 'Prefix', path });
const full = (value: string): PathModifier => ({ type: 'ReplaceFullPath', value });
const pre = (value: string): PathModifier => ({ type: 'ReplacePrefixMatch', value });

test('path modifiers (the Gateway API table, and the root prefix)', () => {
  const cases: Array<[RouteMatch, string, PathModifier, string]> = [
    // ReplacePrefixMatch: only the matched elements change.
    [prefix('/foo'), '/foo/bar', pre('/xyz'), '/xyz/bar'],
    [prefix('/foo'), '/foo/bar', pre('/xyz/'), '/xyz/bar'],
    [prefix('/foo/'), '/foo/bar', pre('/xyz'), '/xyz/bar'],
    [prefix('/foo/'), '/foo/bar', pre('/xyz/'), '/xyz/bar'],
    [prefix('/foo'), '/foo', pre('/xyz'), '/xyz'],
    [prefix('/foo/'), '/foo', pre('/xyz'), '/xyz'],
    [prefix('/foo'), '/foo/', pre('/xyz'), '/xyz/'],
    [prefix('/foo'), '/foo/', pre('/xyz/'), '/xyz/'],
    [prefix('/foo/'), '/foo/', pre('/xyz'), '/xyz/'],
    [prefix('/foo'), '/foo', pre('/'), '/'],
    [prefix('/foo'), '/foo/bar', pre('/'), '/bar'],
    [prefix('/foo/'), '/foo/bar', pre('/'), '/bar'],
    [prefix('/foo'), '/foo/bar/baz', pre('/a/b'), '/a/b/bar/baz'],
    [prefix('/foo'), '/foo/', pre('/'), '/'],
    [prefix('/'), '/', pre('/xyz'), '/xyz'],
    [prefix('/'), '/a/b', pre('/xyz'), '/xyz/a/b'],
    [prefix('/'), '/a/b', pre('/'), '/a/b'],
    // A route path that is not normalised matches like its normal form.
    [prefix('/foo//bar'), '/foo/bar/x', pre('/y'), '/y/x'],
    // Exact: the matched part is the whole path.
    [{ type: 'Exact', path: '/foo/bar' }, '/foo/bar', pre('/xyz'), '/xyz'],
    // ReplaceFullPath ignores the match.
    [prefix('/foo'), '/foo/bar', full('/new'), '/new'],
    [prefix('/foo'), '/foo', full('/new/'), '/new/'],
    [{ type: 'Exact', path: '/a' }, '/a', full('/b'), '/b'],
  ];
  for (const [match, path, modifier, want] of cases) {
    assert.equal(modifyPath(match, path, modifier), want, `${match.type} ${match.path} ${path} ${modifier.type} ${modifier.value}`);
  }
});

test('redirect Location: scheme, host, port and path rules', () => {
  const req = (over: Partial<RedirectRequest> = {}): RedirectRequest => ({
    proto: 'http', host: 'shop.com:8080', localAddress: '127.0.0.1', localPort: 8080, path: '/foo/bar', query: '?a=1&b', ...over,
  });
  const r = (over: Partial<Redirect> = {}): Redirect => ({ statusCode: 302, ...over });
  const m = prefix('/foo');
  const cases: Array<[string, Redirect, RedirectRequest, string]> = [
    ['nothing given: listener scheme and port, request host and path, query kept', r(), req(), 'http://shop.com:8080/foo/bar?a=1&b'],
    ['the listener port, not the Host port', r(), req({ host: 'shop.com:9999' }), 'http://shop.com:8080/foo/bar?a=1&b'],
    ['listener on 80: no port', r(), req({ host: 'shop.com', localPort: 80 }), 'http://shop.com/foo/bar?a=1&b'],
    ['https listener on 443: no port', r(), req({ proto: 'https', localPort: 443 }), 'https://shop.com/foo/bar?a=1&b'],
    ['https listener on 80: port kept', r(), req({ proto: 'https', localPort: 80 }), 'https://shop.com:80/foo/bar?a=1&b'],
    ['scheme https, no port: its well-known port, omitted', r({ scheme: 'https' }), req(), 'https://shop.com/foo/bar?a=1&b'],
    ['scheme http on an https listener: port 80, omitted', r({ scheme: 'http' }), req({ proto: 'https', localPort: 8443 }), 'http://shop.com/foo/bar?a=1&b'],
    ['scheme given equal to the listener\'s: still the well-known port', r({ scheme: 'http' }), req(), 'http://shop.com/foo/bar?a=1&b'],
    ['scheme and port', r({ scheme: 'https', port: 8443 }), req(), 'https://shop.com:8443/foo/bar?a=1&b'],
    ['scheme https and port 443: omitted', r({ scheme: 'https', port: 443 }), req(), 'https://shop.com/foo/bar?a=1&b'],
    ['port only', r({ port: 9000 }), req(), 'http://shop.com:9000/foo/bar?a=1&b'],
    ['port 80 only, http listener: omitted', r({ port: 80 }), req(), 'http://shop.com/foo/bar?a=1&b'],
    ['hostname', r({ hostname: 'www.shop.com' }), req(), 'http://www.shop.com:8080/foo/bar?a=1&b'],
    ['hostname, scheme and path', r({ hostname: 'new.com', scheme: 'https', path: full('/') }), req(), 'https://new.com/?a=1&b'],
    ['ReplaceFullPath', r({ path: full('/moved') }), req(), 'http://shop.com:8080/moved?a=1&b'],
    ['ReplacePrefixMatch', r({ path: pre('/bar') }), req(), 'http://shop.com:8080/bar/bar?a=1&b'],
    ['ReplacePrefixMatch on the prefix itself', r({ path: pre('/bar') }), req({ path: '/foo' }), 'http://shop.com:8080/bar?a=1&b'],
    ['no query', r(), req({ query: '' }), 'http://shop.com:8080/foo/bar'],
    ['IPv6 Host: brackets kept, port replaced', r({ port: 9000 }), req({ host: '[::1]:8080' }), 'http://[::1]:9000/foo/bar?a=1&b'],
    ['IPv6 Host without port', r({ scheme: 'https' }), req({ host: '[::1]' }), 'https://[::1]/foo/bar?a=1&b'],
    ['no Host (HTTP/1.0): the listener address', r(), req({ host: undefined, localAddress: '::1' }), 'http://[::1]:8080/foo/bar?a=1&b'],
    ['no Host on a dual-stack listener: plain IPv4', r(), req({ host: undefined, localAddress: '::ffff:10.0.0.1' }), 'http://10.0.0.1:8080/foo/bar?a=1&b'],
  ];
  for (const [name, redirect, request, want] of cases) assert.equal(redirectLocation(redirect, m, request), want, name);
});
