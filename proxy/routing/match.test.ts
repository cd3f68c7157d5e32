// Route matching beyond Ingress paths: regular expressions, header, query and
// method conditions, and the precedence among routes of one virtual host
// (api/snapshot.ts RouteMatch). Table-driven over PathMatcher, then through a
// whole routing table for fall-through to the default route and refusals.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { routeKey } from '../../api/snapshot.ts';
import type { Route, RouteMatch, ValueMatch } from '../../api/snapshot.ts';
import { sealSnapshot } from '../../api/version.ts';
import { ApplyCode, ApplyError } from '../errors.ts';
import { cluster, content } from '../testkit.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { RequestFacts } from './match.ts';
import { compileRegex, MAX_PROGRAM_SIZE, regexProblem } from '../../api/regex.ts';
import type { MatchRequest } from './match.ts';
import { parseRequestTarget, PathMatcher, RoutePatternError } from './paths.ts';
import type { PathRoute } from './paths.ts';
import { buildTable } from './table.ts';
import type { RoutingTable } from './table.ts';

const h = (name: string, value: string, type: ValueMatch['type'] = 'Exact'): ValueMatch => ({ name, type, value });

/** A route named `value`, keyed as a snapshot would key it. */
function r(value: string, match: RouteMatch, rank?: number): PathRoute<string> {
  return { ...match, value, rank, key: routeKey(match.type, match.path, match) };
}

/** A request as forward.ts would describe it; `target` is split and normalised like the forwarder does. */
function req(target: string, headers: Record<string, string> = {}, method = 'GET'): { path: string; request: MatchRequest } {
  const t = parseRequestTarget(target);
  assert.ok(t, target);
  return { path: t.path, request: { method, headers, query: t.query } };
}

type Row = [name: string, target: string, headers: Record<string, string>, method: string, want: string | undefined];

function run(title: string, routes: Array<PathRoute<string>>, rows: Row[]): void {
  const m = new PathMatcher(routes);
  // Insertion order must not matter: the same routes reversed give the same answers.
  const reversed = new PathMatcher([...routes].reverse());
  for (const [name, target, headers, method, want] of rows) {
    test(`${title}: ${name}`, () => {
      const { path, request } = req(target, headers, method);
      assert.equal(m.match(path, request), want);
      assert.equal(reversed.match(path, request), want, 'reversed insertion order');
    });
  }
}

run('tiers', [
  r('exact', { type: 'Exact', path: '/a/b' }),
  r('regex', { type: 'RegularExpression', path: '/a/[a-z]+' }),
  r('prefix', { type: 'Prefix', path: '/a' }),
  r('root', { type: 'Prefix', path: '/' }),
], [
  ['Exact beats a regular expression that also matches', '/a/b', {}, 'GET', 'exact'],
  ['a regular expression beats the longest Prefix', '/a/c', {}, 'GET', 'regex'],
  ['the pattern must match the whole path (not a prefix of it)', '/a/c/d', {}, 'GET', 'prefix'],
  ['the pattern must match the whole path (not a suffix of it)', '/x/a/c', {}, 'GET', 'root'],
  ['Exact keeps its trailing slash; the pattern does not match it either', '/a/b/', {}, 'GET', 'prefix'],
  ['patterns see the normalised path', '/a/./x//..//c', {}, 'GET', 'regex'],
  ['the query is not part of the path', '/a/c?x=1', {}, 'GET', 'regex'],
]);

run('conditions on one path', [
  r('plain', { type: 'Prefix', path: '/p' }),
  r('one-header', { type: 'Prefix', path: '/p', headers: [h('x', '1')] }),
  r('two-headers', { type: 'Prefix', path: '/p', headers: [h('x', '1'), h('y', '2')] }),
  r('two-queries', { type: 'Prefix', path: '/p', queryParams: [h('a', '1'), h('b', '2')] }),
  r('one-query', { type: 'Prefix', path: '/p', queryParams: [h('a', '1')] }),
  r('method', { type: 'Prefix', path: '/p', method: 'POST' }),
  r('query-and-method', { type: 'Prefix', path: '/p', queryParams: [h('a', '1')], method: 'POST' }),
], [
  ['the most header conditions first', '/p', { x: '1', y: '2' }, 'GET', 'two-headers'],
  ['a failed condition skips to the next route', '/p', { x: '1', y: '3' }, 'GET', 'one-header'],
  ['header conditions beat query conditions', '/p?a=1&b=2', { x: '1' }, 'GET', 'one-header'],
  ['the most query conditions next', '/p?a=1&b=2', {}, 'POST', 'two-queries'],
  ['equal queries: a method condition breaks the tie', '/p?a=1', {}, 'POST', 'query-and-method'],
  ['query beats method', '/p?a=1', {}, 'GET', 'one-query'],
  ['method beats no condition', '/p/x', {}, 'POST', 'method'],
  ['nothing holds: the route without conditions', '/p/x?a=2', { x: '2' }, 'DELETE', 'plain'],
  ['methods compare exactly (HEAD is not a GET or POST)', '/p', {}, 'HEAD', 'plain'],
]);

run('fall-through', [
  r('deep-canary', { type: 'Prefix', path: '/p/q', headers: [h('x-canary', '1')] }),
  r('shallow', { type: 'Prefix', path: '/p' }),
  r('exact-post', { type: 'Exact', path: '/e', method: 'POST' }),
  r('regex-get', { type: 'RegularExpression', path: '/e.*', method: 'GET' }),
  r('prefix-e-put', { type: 'Prefix', path: '/e', method: 'PUT' }),
], [
  ['the longer prefix when its conditions hold', '/p/q/r', { 'x-canary': '1' }, 'GET', 'deep-canary'],
  ['else a shorter prefix', '/p/q/r', { 'x-canary': '0' }, 'GET', 'shallow'],
  ['Exact when its conditions hold', '/e', {}, 'POST', 'exact-post'],
  ['Exact fails: a regular expression', '/e', {}, 'GET', 'regex-get'],
  ['Exact and regular expression fail: the prefix', '/e', {}, 'PUT', 'prefix-e-put'],
  ['nothing holds: no route (the table then tries its default)', '/e', {}, 'DELETE', undefined],
]);

run('rank', [
  r('rank-2', { type: 'Prefix', path: '/r', headers: [h('a', '1')] }, 2),
  r('rank-1', { type: 'Prefix', path: '/r', headers: [h('b', '1')] }, 1),
  r('no-rank', { type: 'Prefix', path: '/r', headers: [h('c', '1')] }),
  r('rank-0-fewer-conditions', { type: 'Prefix', path: '/r' }, 0),
  r('key-b', { type: 'Exact', path: '/k', headers: [h('b', '1')] }, 5),
  r('key-a', { type: 'Exact', path: '/k', headers: [h('a', '1')] }, 5),
  r('unranked-b', { type: 'Exact', path: '/u', headers: [h('b', '1')] }),
  r('unranked-a', { type: 'Exact', path: '/u', headers: [h('a', '1')] }),
], [
  ['equal conditions: the lowest rank', '/r', { a: '1', b: '1', c: '1' }, 'GET', 'rank-1'],
  ['a rank beats no rank', '/r', { a: '1', c: '1' }, 'GET', 'rank-2'],
  ['rank never beats more conditions', '/r', { c: '1' }, 'GET', 'no-rank'],
  ['equal rank: route key order', '/k', { a: '1', b: '1' }, 'GET', 'key-a'],
  ['no rank on either: route key order', '/u', { a: '1', b: '1' }, 'GET', 'unranked-a'],
]);

run('regular expressions among themselves', [
  r('short', { type: 'RegularExpression', path: '/img/.*' }),
  r('long', { type: 'RegularExpression', path: '/img/[a-z]+\\.png' }),
  r('same-length-b', { type: 'RegularExpression', path: '/v/b|/v/.' }),
  r('same-length-a', { type: 'RegularExpression', path: '/v/a|/v/.' }),
  r('long-header', { type: 'RegularExpression', path: '/img/[a-z]+\\.png', headers: [h('accept', 'image/.*', 'RegularExpression')] }),
], [
  ['the longer pattern first', '/img/cat.png', {}, 'GET', 'long'],
  ['among one pattern\'s routes, conditions first', '/img/cat.png', { accept: 'image/webp' }, 'GET', 'long-header'],
  ['a value pattern matches the whole value', '/img/cat.png', { accept: 'text/html, image/webp' }, 'GET', 'long'],
  ['the longer pattern does not match: the next one', '/img/Cat.png', {}, 'GET', 'short'],
  ['equal lengths: code-unit order of the patterns', '/v/x', {}, 'GET', 'same-length-a'],
]);

run('header and query values', [
  r('exact-header', { type: 'Exact', path: '/h', headers: [h('x-v', '1')] }),
  r('regex-header', { type: 'Exact', path: '/hr', headers: [h('x-v', '[0-9]+', 'RegularExpression')] }),
  r('empty-header-regex', { type: 'Exact', path: '/he', headers: [h('x-v', '.*', 'RegularExpression')] }),
  r('list-header', { type: 'Exact', path: '/hl', headers: [h('x-v', '1, 2')] }),
  r('query-v', { type: 'Exact', path: '/q', queryParams: [h('v', 'a b')] }),
  r('query-empty', { type: 'Exact', path: '/qe', queryParams: [h('v', '')] }),
  r('query-regex', { type: 'Exact', path: '/qr', queryParams: [h('v', '[0-9]{2}', 'RegularExpression')] }),
  r('fallback', { type: 'Prefix', path: '/' }),
], [
  ['exact header value', '/h', { 'x-v': '1' }, 'GET', 'exact-header'],
  ['exact is case-sensitive in the value', '/h', { 'x-v': '1 ' }, 'GET', 'fallback'],
  ['regex value, whole value', '/hr', { 'x-v': '123' }, 'GET', 'regex-header'],
  ['regex value is anchored', '/hr', { 'x-v': '12a' }, 'GET', 'fallback'],
  ['a missing header fails even a pattern that takes ""', '/he', {}, 'GET', 'fallback'],
  ['a present empty header takes it', '/he', { 'x-v': '' }, 'GET', 'empty-header-regex'],
  // Node joins a repeated list header with ", " (the e2e test sends real duplicates).
  ['a repeated header is matched as joined', '/hl', { 'x-v': '1, 2' }, 'GET', 'list-header'],
  ['query values are decoded ("+" and %20 are spaces)', '/q?v=a+b', {}, 'GET', 'query-v'],
  ['query values are decoded (%20)', '/q?x=1&v=a%20b', {}, 'GET', 'query-v'],
  ['the first value of a repeated name', '/q?v=a+b&v=zzz', {}, 'GET', 'query-v'],
  ['not a later one', '/q?v=zzz&v=a+b', {}, 'GET', 'fallback'],
  ['query names are case-sensitive', '/q?V=a+b', {}, 'GET', 'fallback'],
  ['"?v" has the empty value', '/qe?v', {}, 'GET', 'query-empty'],
  ['a missing parameter fails', '/qe?w=', {}, 'GET', 'fallback'],
  ['query regex, whole value', '/qr?v=42', {}, 'GET', 'query-regex'],
  ['query regex is anchored', '/qr?v=421', {}, 'GET', 'fallback'],
]);

test('without a request, routes with conditions are skipped; plain ones still match', () => {
  const m = new PathMatcher([
    r('get', { type: 'Prefix', path: '/', method: 'GET' }),
    r('canary', { type: 'Prefix', path: '/a', headers: [h('x', '1')] }),
    r('plain', { type: 'Exact', path: '/b' }),
  ]);
  assert.equal(m.match('/a/x'), undefined);
  assert.equal(m.match('/b'), 'plain');
  assert.equal(m.match('/a/x', { method: 'GET' }), 'get');
});

test('routes after one without conditions are unreachable; the prefix tie keeps the longer path', () => {
  const m = new PathMatcher([
    r('short', { type: 'Prefix', path: '/foo' }),
    r('long', { type: 'Prefix', path: '/foo/' }),
    r('ranked-plain', { type: 'Exact', path: '/x' }, 1),
    r('unranked-plain', { type: 'Exact', path: '/x/' }),
  ]);
  assert.equal(m.match('/foo/x'), 'long');
  assert.equal(m.match('/x'), 'ranked-plain');
  assert.equal(m.size, 3);
});

test('RequestFacts parses the query once, on first use', () => {
  const facts = new RequestFacts({ query: '?a=1&a=2&b' });
  assert.equal(facts.query('a'), '1');
  assert.equal(facts.query('b'), '');
  assert.equal(facts.query('c'), undefined);
  assert.equal(new RequestFacts({}).query('a'), undefined);
  assert.equal(new RequestFacts({ headers: { 'set-cookie': ['a', 'b'] } }).header('set-cookie'), 'a, b');
});

test('patterns are compiled once and shared; refused patterns say why', () => {
  assert.equal(compileRegex('/shared/[0-9]+'), compileRegex('/shared/[0-9]+'));
  assert.equal(regexProblem('/ok/.*'), undefined);
  assert.match(regexProblem('(') ?? '', /^regular expression "\(" does not compile: .*missing closing \)/);
  assert.match(regexProblem('(?=x)') ?? '', /does not compile/, 'no lookahead in RE2');
  assert.match(regexProblem('(a)\\1') ?? '', /does not compile/, 'no backreferences in RE2');
  assert.match(regexProblem('[a-z]{1,64}') ?? '', new RegExp(`too large \\(program size \\d+, at most ${MAX_PROGRAM_SIZE}\\)`));
  assert.match(regexProblem(`(${'x'.repeat(300)}`) ?? '', /^regular expression "\(x{99}"\.\.\. does not compile/, 'long patterns are cut in messages');
});

test('PathMatcher names the route of a refused pattern', () => {
  const build = (routes: Array<PathRoute<string>>) => () => new PathMatcher(routes);
  const check = (key: string, reason: RegExp) => (err: unknown) => {
    assert.ok(err instanceof RoutePatternError);
    assert.equal(err.key, key);
    assert.match(err.reason, reason);
    return true;
  };
  const path = r('p', { type: 'RegularExpression', path: '/a/(' });
  assert.throws(build([path]), check(path.key as string, /^path regular expression "\/a\/\(" does not compile/));
  const header = r('hd', { type: 'Prefix', path: '/', headers: [h('x-a', '[z-a]', 'RegularExpression')] });
  assert.throws(build([header]), check(header.key as string, /^header "x-a": regular expression "\[z-a\]" does not compile/));
  const query = r('q', { type: 'Prefix', path: '/', queryParams: [h('v', '*', 'RegularExpression')] });
  assert.throws(build([query]), check(query.key as string, /^query parameter "v": regular expression/));
  // A route shadowed by one without conditions is still checked: refusal must not depend on order.
  const shadowed = r('shadowed', { type: 'Prefix', path: '/s', headers: [h('x', '(', 'RegularExpression')] }, 9);
  assert.throws(build([r('first', { type: 'Prefix', path: '/s' }, 0), shadowed]), check(shadowed.key as string, /does not compile/));
});

// Through a whole table: default route, host selection, the NACK.
const pools = new UpstreamPools();
const tables: RoutingTable[] = [];
after(async () => {
  for (const t of tables) t.retire();
  await pools.close();
});

function snapRoute(match: RouteMatch, cluster: string, extra: Partial<Route> = {}): [string, Route] {
  return [routeKey(match.type, match.path, match), { match, cluster, timeoutMs: 1000, origin: 'Route/ns/r', ...extra }];
}

test('table: regular expression paths route per host; no match falls to the default route', () => {
  const t = buildTable(sealSnapshot(content({
    virtualHosts: {
      'shop.com': { routes: Object.fromEntries([
        snapRoute({ type: 'Prefix', path: '/item' }, 'c/prefix:1'),
        snapRoute({ type: 'RegularExpression', path: '/item/[0-9]+' }, 'c/items:1'),
      ]) },
      '*': { routes: Object.fromEntries([snapRoute({ type: 'Prefix', path: '/' }, 'c/any:1')]) },
    },
    clusters: { 'c/prefix:1': cluster(1), 'c/items:1': cluster(2), 'c/any:1': cluster(3), 'c/def:1': cluster(4) },
    defaultRoute: { match: { type: 'Prefix', path: '/' }, cluster: 'c/def:1', timeoutMs: 1000, origin: 'Ingress/ns/i' },
  })), undefined, { pools });
  tables.push(t);
  const at = (host: string, target: string) => t.match(host, req(target).path)?.cluster?.key;
  assert.equal(at('shop.com', '/item/12'), 'c/items:1');
  assert.equal(at('shop.com', '/item//12/'), 'c/prefix:1', 'the normalised path keeps its trailing slash');
  assert.equal(at('shop.com', '/item/x'), 'c/prefix:1');
  assert.equal(at('shop.com', '/cart'), 'c/def:1', 'a matched host never falls through to "*", only to the default route');
  assert.equal(at('other.com', '/item/12'), 'c/any:1');
  assert.equal(t.pathsFor('shop.com')?.size, 2);
});

test('table: a pattern that does not compile refuses the snapshot, naming the route and its origin', () => {
  const bad = sealSnapshot(content({
    virtualHosts: { 'shop.com': { routes: Object.fromEntries([
      snapRoute({ type: 'Prefix', path: '/' }, 'c/a:1'),
      snapRoute({ type: 'RegularExpression', path: '/x/(?<name>x)(' }, 'c/a:1', { origin: 'Route/shop/broken' }),
    ]) } },
    clusters: { 'c/a:1': cluster(1) },
  }));
  const own = new UpstreamPools();
  assert.throws(() => buildTable(bad, undefined, { pools: own }), (err: unknown) => {
    assert.ok(err instanceof ApplyError);
    assert.equal(err.code, ApplyCode.SNAPSHOT_INVALID);
    assert.ok(err.message.startsWith('route "RegularExpression:/x/(?<name>x)(" of Route/shop/broken: path regular expression'), err.message);
    return true;
  });
  assert.equal(own.size, 0, 'a refused build leaves no endpoint behind');
});

test('table: conditions route per host; nothing holding falls to the default route', () => {
  const t = buildTable(sealSnapshot(content({
    virtualHosts: {
      'shop.com': { routes: Object.fromEntries([
        snapRoute({ type: 'Prefix', path: '/', headers: [h('x-canary', '1')] }, 'c/canary:1'),
        snapRoute({ type: 'RegularExpression', path: '/item/[0-9]+', method: 'GET' }, 'c/items:1', { rank: 3 }),
      ]) },
      '*': { routes: Object.fromEntries([snapRoute({ type: 'Prefix', path: '/' }, 'c/any:1')]) },
    },
    clusters: { 'c/canary:1': cluster(1), 'c/items:1': cluster(2), 'c/any:1': cluster(3), 'c/def:1': cluster(4) },
    defaultRoute: { match: { type: 'Prefix', path: '/' }, cluster: 'c/def:1', timeoutMs: 1000, origin: 'Ingress/ns/i' },
  })), undefined, { pools });
  tables.push(t);
  const at = (host: string, target: string, headers: Record<string, string> = {}, method = 'GET') => {
    const { path, request } = req(target, headers, method);
    return t.match(host, path, request)?.cluster?.key;
  };
  assert.equal(at('shop.com', '/item/12'), 'c/items:1');
  assert.equal(at('shop.com', '/item/12', { 'x-canary': '1' }), 'c/items:1', 'the pattern is a more specific path than Prefix "/"');
  assert.equal(at('shop.com', '/item/12', { 'x-canary': '1' }, 'POST'), 'c/canary:1', 'its method fails: on to Prefix "/"');
  assert.equal(at('shop.com', '/cart', { 'x-canary': '1' }), 'c/canary:1');
  assert.equal(at('shop.com', '/cart'), 'c/def:1', 'a matched host never falls through to "*", only to the default route');
  assert.equal(at('other.com', '/cart'), 'c/any:1');
  assert.equal(t.match('shop.com', '/cart')?.cluster?.key, 'c/def:1', 'no request: conditions fail');
});

test('table: a condition pattern that does not compile refuses the snapshot, naming the route and its origin', () => {
  const bad = sealSnapshot(content({
    virtualHosts: { 'shop.com': { routes: Object.fromEntries([
      snapRoute({ type: 'Exact', path: '/x', queryParams: [h('v', '[0-9]{1,80}', 'RegularExpression')] }, 'c/a:1', { origin: 'Route/shop/big' }),
    ]) } },
    clusters: { 'c/a:1': cluster(1) },
  }));
  const key = Object.keys(bad.virtualHosts['shop.com']?.routes ?? {})[0] as string;
  assert.throws(() => buildTable(bad, undefined, { pools: new UpstreamPools() }), (err: unknown) => {
    assert.ok(err instanceof ApplyError);
    assert.equal(err.code, ApplyCode.SNAPSHOT_INVALID);
    assert.ok(err.message.startsWith(`route ${JSON.stringify(key)} of Route/shop/big: query parameter "v": regular expression "[0-9]{1,80}" is too large`), err.message);
    return true;
  });
});

// ReDoS: the benchmark (bench/regex.ts) prints the figure; this only guards
// against a backtracking engine sneaking back in, loosely enough for a loaded CI.
test('ReDoS: (a+)+$ against 50 KB of "a" and one "b" answers fast', () => {
  const evil = 'a'.repeat(50 * 1024) + 'b';
  const m = new PathMatcher([
    r('path', { type: 'RegularExpression', path: '/(a+)+$' }),
    r('header', { type: 'Prefix', path: '/', headers: [h('x-evil', '(a+)+$', 'RegularExpression')] }),
    r('query', { type: 'Prefix', path: '/', queryParams: [h('q', '(a+)+$', 'RegularExpression')] }),
  ]);
  const started = performance.now();
  assert.equal(m.match(`/${evil}`, { headers: { 'x-evil': evil }, query: `?q=${evil}` }), undefined);
  const ms = performance.now() - started;
  assert.ok(ms < 500, `${ms.toFixed(1)} ms`);
});

test('header names that Object.prototype has are just missing headers', () => {
  const facts = new RequestFacts({ method: 'GET', headers: { host: 'a.com' }, query: '' });
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) assert.equal(facts.header(name), undefined, name);
  const sent = new RequestFacts({ method: 'GET', headers: Object.assign(Object.create(null), { constructor: 'x' }), query: '' });
  assert.equal(sent.header('constructor'), 'x', 'a header really sent with that name still matches');
});
