import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Route as SnapshotRoute, RouteMatch, VirtualHost, WeightedBackend } from '../../api/snapshot.ts';
import { DEFAULT_SECRET, routeKey } from '../../api/snapshot.ts';
import { assertValidSnapshot } from '../../api/validate.ts';
import type { KubeObject, RouteRule } from '../k8s/types.ts';
import { compile } from './builder.ts';
import {
  condition, condSummary, httpRoute, ingress, ingressClass, inputOf, OPTIONS, prefixPath, ref, rule, service, slice, tlsSecret, toBackends, shuffled,
} from './fixtures.ts';

const OK = ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'];
/** PartiallyInvalid's reason is the first problem's; later reasons only show in its message. */
const partly = (reason: string, ..._later: string[]) => [...OK, `PartiallyInvalid=True/${reason}`];
const refs = (reason: string) => ['Accepted=True/Accepted', `ResolvedRefs=False/${reason}`];
const lost = (reason = 'RouteConflict') => [`Accepted=False/${reason}`, 'ResolvedRefs=True/ResolvedRefs', `Conflicted=True/${reason}`];
const T1 = { creationTimestamp: '2026-01-01T00:00:00Z' };
const T2 = { creationTimestamp: '2026-02-01T00:00:00Z' };
const R = 'Route/default/r';
const R2 = 'Route/default/r2';
const A = 'Ingress/default/a';
const SVC = 'default/svc:80';
const CANARY = 'default/canary:80';

const prefix = (path: string, extra: Partial<RouteMatch> = {}): RouteMatch => ({ type: 'Prefix', path, ...extra });
const exact = (path: string): RouteMatch => ({ type: 'Exact', path });
const toSvc = { backends: [{ cluster: SVC, weight: 1 }] };

/** A compiled Route route: `action` is backends or redirect (+ filters). */
function sr(
  match: RouteMatch, action: Partial<SnapshotRoute> = toSvc,
  o: { rank?: number; origin?: string; timeoutMs?: number; requestTimeoutMs?: number; idleTimeoutMs?: number; retry?: SnapshotRoute['retry'] } = {},
): SnapshotRoute {
  const extra = {
    ...(o.requestTimeoutMs !== undefined && { requestTimeoutMs: o.requestTimeoutMs }),
    ...(o.idleTimeoutMs !== undefined && { idleTimeoutMs: o.idleTimeoutMs }),
    ...(o.retry !== undefined && { retry: o.retry }) };
  return { match, ...action, timeoutMs: o.timeoutMs ?? OPTIONS.defaultTimeoutMs, ...extra, rank: o.rank ?? 0, origin: o.origin ?? R } as SnapshotRoute;
}

/** A compiled Ingress route to svc. */
function ir(match: RouteMatch, origin = A): SnapshotRoute {
  return { match, cluster: SVC, timeoutMs: OPTIONS.defaultTimeoutMs, origin };
}

/** A virtual host from routes, keyed by routeKey. */
function vh(routes: SnapshotRoute[], secret?: string): VirtualHost {
  const r: Record<string, SnapshotRoute> = {};
  for (const x of routes) r[routeKey(x.match.type, x.match.path, x.match)] = x;
  return secret === undefined ? { routes: r } : { tls: { secret }, routes: r };
}

/** Route "r" on foo.com with the given rules. */
const foo = (...rules: RouteRule[]) => httpRoute('r', { hostnames: ['foo.com'], rules });
/** A rule with one match and svc as its backend. */
const matching = (m: NonNullable<RouteRule['matches']>[number], extra: Partial<RouteRule> = {}): RouteRule => ({ matches: [m], backends: [ref('svc')], ...extra });

interface Case {
  name: string;
  objs: KubeObject[];
  want: { vhosts: Record<string, VirtualHost>; conds: Record<string, string[] | undefined> };
}

function run(cases: Case[]) {
  return async (t: { test: (name: string, fn: () => void) => Promise<void> }) => {
    for (const c of cases) {
      await t.test(c.name, () => {
        const res = compile(inputOf([...c.objs, service('svc'), service('canary')]), OPTIONS);
        assertValidSnapshot(res.snapshot);
        assert.deepEqual(res.snapshot.virtualHosts, c.want.vhosts);
        for (const [id, want] of Object.entries(c.want.conds)) assert.deepEqual(condSummary(res, id), want, id);
      });
    }
  };
}

test('hostnames and paths', run([
  {
    name: 'no hostnames: any host; no matches: PathPrefix /',
    objs: [httpRoute('r', { rules: [toBackends(ref('svc'))] })],
    want: { vhosts: { '*': vh([sr(prefix('/'))]) }, conds: { [R]: OK } },
  },
  {
    name: 'hostnames: one virtual host each, lower-cased, deduplicated, wildcards kept',
    objs: [httpRoute('r', { hostnames: ['Foo.com', 'foo.com', '*.foo.com'], rules: [toBackends(ref('svc'))] })],
    want: { vhosts: { '*.foo.com': vh([sr(prefix('/'))]), 'foo.com': vh([sr(prefix('/'))]) }, conds: { [R]: OK } },
  },
  {
    name: 'an invalid hostname is skipped, the others are served',
    objs: [httpRoute('r', { hostnames: ['foo_bar.com', '10.0.0.1', '', 'foo.com'], rules: [toBackends(ref('svc'))] })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'))]) }, conds: { [R]: partly('InvalidHost') } },
  },
  {
    name: 'every hostname invalid: nothing served (never widened to any host)',
    objs: [httpRoute('r', { hostnames: ['foo..com'], rules: [toBackends(ref('svc'))] })],
    want: { vhosts: {}, conds: { [R]: ['Accepted=False/InvalidHost', 'ResolvedRefs=True/ResolvedRefs'] } },
  },
  {
    name: 'PathPrefix is element-wise Prefix, normalised like Ingress; Exact kept as written',
    objs: [foo(matching({ path: { type: 'PathPrefix', value: '/api/' } }), matching({ path: { type: 'Exact', value: '/status/' } }), matching({ path: { value: '/v1' } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/api')), sr(exact('/status/'), toSvc, { rank: 1 }), sr(prefix('/v1'), toSvc, { rank: 2 })]) }, conds: { [R]: OK } },
  },
  {
    name: 'RegularExpression kept as written (RE2, matched whole by the proxy)',
    objs: [foo(matching({ path: { type: 'RegularExpression', value: '/img/[a-z0-9]+\\.(png|jpe?g)' } }))],
    want: { vhosts: { 'foo.com': vh([sr({ type: 'RegularExpression', path: '/img/[a-z0-9]+\\.(png|jpe?g)' })]) }, conds: { [R]: OK } },
  },
  {
    name: 'a regular expression that does not compile: that match is skipped, the rule\'s other match served',
    objs: [foo({ matches: [{ path: { type: 'RegularExpression', value: '/img/(png' } }, { path: { value: '/ok' } }], backends: [ref('svc')] })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/ok'))]) }, conds: { [R]: partly('InvalidRegex') } },
  },
  {
    name: 'Perl-only syntax (lookahead, backreference) is not RE2',
    objs: [foo(matching({ path: { type: 'RegularExpression', value: '/(?=a)' } }), matching({ path: { type: 'RegularExpression', value: '/(a)\\1' } }))],
    want: { vhosts: {}, conds: { [R]: ['Accepted=False/InvalidRegex', 'ResolvedRefs=True/ResolvedRefs'] } },
  },
  {
    name: 'an invalid path and an unknown path type skip their match',
    objs: [foo(matching({ path: { type: 'PathPrefix', value: '/a/../b' } }), matching({ path: { type: 'Regex' as 'Exact', value: '/b' } }), matching({ path: { value: '/c' } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/c'))]) }, conds: { [R]: partly('InvalidPath') } },
  },
]));

test('header, query and method matches', run([
  {
    name: 'header names lower-cased; headers and query sorted by name; method upper-cased',
    objs: [foo(matching({
      path: { value: '/api' },
      headers: [{ name: 'X-User', value: 'b' }, { name: 'X-Canary', type: 'Exact', value: '1' }],
      queryParams: [{ name: 'v', type: 'RegularExpression', value: '[0-9]+' }, { name: 'Debug', value: 'on' }],
      method: 'get',
    }))],
    want: {
      vhosts: {
        'foo.com': vh([sr(prefix('/api', {
          headers: [{ name: 'x-canary', type: 'Exact', value: '1' }, { name: 'x-user', type: 'Exact', value: 'b' }],
          queryParams: [{ name: 'Debug', type: 'Exact', value: 'on' }, { name: 'v', type: 'RegularExpression', value: '[0-9]+' }],
          method: 'GET',
        }))]),
      },
      conds: { [R]: OK },
    },
  },
  {
    name: 'the same path with and without conditions are two routes, not a conflict',
    objs: [foo(matching({ path: { value: '/' }, headers: [{ name: 'x-canary', value: '1' }] }, { backends: [ref('canary')] }), matching({ path: { value: '/' } }))],
    want: {
      vhosts: { 'foo.com': vh([sr(prefix('/', { headers: [{ name: 'x-canary', type: 'Exact', value: '1' }] }), { backends: [{ cluster: CANARY, weight: 1 }] }), sr(prefix('/'), toSvc, { rank: 1 })]) },
      conds: { [R]: OK },
    },
  },
  {
    name: 'a header regular expression that does not compile skips its match',
    objs: [foo(matching({ headers: [{ name: 'x-v', type: 'RegularExpression', value: '[0-9' }] }), matching({ path: { value: '/ok' } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/ok'))]) }, conds: { [R]: partly('InvalidRegex') } },
  },
  {
    name: 'a header matched twice (names differ only in case) skips the match rather than widening it',
    objs: [foo(matching({ headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] }), matching({ path: { value: '/ok' } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/ok'))]) }, conds: { [R]: partly('InvalidMatch') } },
  },
  {
    name: 'an invalid header name, an unknown match type and a method that is no token skip their match',
    objs: [foo(
      matching({ headers: [{ name: 'x a', value: '1' }] }), matching({ queryParams: [{ name: 'q', type: 'Prefix' as 'Exact', value: '1' }] }),
      matching({ method: 'G ET' }), matching({ path: { value: '/ok' } }),
    )],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/ok'))]) }, conds: { [R]: partly('InvalidMatch') } },
  },
]));

test('backends', run([
  {
    name: 'a weighted split; weight defaults to 1; weight 0 kept (no traffic)',
    objs: [foo(toBackends(ref('svc', 80, 90), ref('canary', 80, 10)), matching({ path: { value: '/b' } }, { backends: [ref('svc'), ref('canary', 80, 0)] }))],
    want: {
      vhosts: {
        'foo.com': vh([
          sr(prefix('/'), { backends: [{ cluster: SVC, weight: 90 }, { cluster: CANARY, weight: 10 }] }),
          sr(prefix('/b'), { backends: [{ cluster: SVC, weight: 1 }, { cluster: CANARY, weight: 0 }] }, { rank: 1 }),
        ]),
      },
      conds: { [R]: OK },
    },
  },
  {
    name: 'a backend that does not resolve keeps its weight without a cluster (its share answers 500)',
    objs: [foo(toBackends(ref('svc', 80, 90), ref('missing', 80, 10)), matching({ path: { value: '/p' } }, { backends: [ref('svc', 8080)] }))],
    want: {
      vhosts: { 'foo.com': vh([sr(prefix('/'), { backends: [{ cluster: SVC, weight: 90 }, { weight: 10 }] }), sr(prefix('/p'), { backends: [{ weight: 1 }] }, { rank: 1 })]) },
      conds: { [R]: refs('ServiceNotFound') },
    },
  },
  {
    name: 'a backend in another namespace is refused (RefNotPermitted) and its share answers 500; its own namespace is fine',
    objs: [foo(toBackends({ name: 'svc', namespace: 'other', port: 80 }, { name: 'canary', namespace: 'default', port: 80 }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { backends: [{ weight: 1 }, { cluster: CANARY, weight: 1 }] })]) }, conds: { [R]: refs('RefNotPermitted') } },
  },
  {
    name: 'a weight out of range becomes 0, with a condition',
    objs: [foo(toBackends(ref('svc', 80, -1), ref('canary', 80, 2_000_000)))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { backends: [{ cluster: SVC, weight: 0 }, { cluster: CANARY, weight: 0 }] })]) }, conds: { [R]: partly('InvalidWeight') } },
  },
  {
    name: 'a rule with neither backends nor a redirect answers 500',
    objs: [foo({ matches: [{ path: { value: '/x' } }] })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/x'), { backends: [{ weight: 1 }] })]) }, conds: { [R]: partly('NoBackends') } },
  },
]));

test('filters', run([
  {
    name: 'requestRedirect to https: status 302 by default; hostname lower-cased',
    objs: [foo({ filters: { requestRedirect: { scheme: 'https', hostname: 'WWW.foo.com' } } })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { redirect: { scheme: 'https', hostname: 'www.foo.com', statusCode: 302 } })]) }, conds: { [R]: OK } },
  },
  {
    name: 'requestRedirect with a port, a prefix replacement and 301',
    objs: [foo({ matches: [{ path: { value: '/old' } }], filters: { requestRedirect: { port: 8443, path: { type: 'ReplacePrefixMatch', value: '/new' }, statusCode: 301 } } })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/old'), { redirect: { port: 8443, path: { type: 'ReplacePrefixMatch', value: '/new' }, statusCode: 301 } })]) }, conds: { [R]: OK } },
  },
  {
    name: 'urlRewrite of hostname and path goes with the backends; an empty urlRewrite is absent',
    objs: [foo(
      matching({ path: { value: '/api' } }, { filters: { urlRewrite: { hostname: 'internal.svc', path: { type: 'ReplacePrefixMatch', value: '/' } } } }),
      matching({ path: { value: '/b' } }, { filters: { urlRewrite: {} } }),
    )],
    want: {
      vhosts: { 'foo.com': vh([sr(prefix('/api'), { ...toSvc, rewrite: { hostname: 'internal.svc', path: { type: 'ReplacePrefixMatch', value: '/' } } }), sr(prefix('/b'), toSvc, { rank: 1 })]) },
      conds: { [R]: OK },
    },
  },
  {
    name: 'header filters: names lower-cased; hop-by-hop, proxy-managed and CR/LF entries dropped with a condition',
    objs: [foo(matching({}, {
      filters: {
        requestHeaders: { set: [{ name: 'X-Env', value: 'prod' }, { name: 'Host', value: 'x' }], add: [{ name: 'x-a', value: 'a\r\nx: y' }], remove: ['X-Debug', 'Connection'] },
        responseHeaders: { add: [{ name: 'Cache-Control', value: 'no-store' }] },
      },
    }), matching({ path: { value: '/b' } }, { filters: { responseHeaders: { remove: ['transfer-encoding'] } } }))],
    want: {
      vhosts: {
        'foo.com': vh([
          sr(prefix('/'), { ...toSvc, requestHeaders: { remove: ['x-debug'], set: [{ name: 'x-env', value: 'prod' }] }, responseHeaders: { add: [{ name: 'cache-control', value: 'no-store' }] } }),
          sr(prefix('/b'), toSvc, { rank: 1 }),
        ]),
      },
      conds: { [R]: partly('InvalidHeaderFilter') },
    },
  },
  {
    name: 'requestRedirect with backends: the rule answers 500',
    objs: [foo(matching({}, { filters: { requestRedirect: { scheme: 'https' } } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { backends: [{ weight: 1 }] })]) }, conds: { [R]: partly('InvalidFilter') } },
  },
  {
    name: 'requestRedirect with urlRewrite: the rule answers 500',
    objs: [foo({ filters: { requestRedirect: { scheme: 'https' }, urlRewrite: { hostname: 'a.com' } } })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { backends: [{ weight: 1 }] })]) }, conds: { [R]: partly('InvalidFilter') } },
  },
  {
    name: 'ReplacePrefixMatch with a match that is not PathPrefix: the rule answers 500',
    objs: [foo({ matches: [{ path: { type: 'Exact', value: '/a' } }], backends: [ref('svc')], filters: { urlRewrite: { path: { type: 'ReplacePrefixMatch', value: '/b' } } } })],
    want: { vhosts: { 'foo.com': vh([sr(exact('/a'), { backends: [{ weight: 1 }] })]) }, conds: { [R]: partly('InvalidFilter') } },
  },
  {
    name: 'a bad status code, hostname or path in a filter: the rule answers 500',
    objs: [foo(
      { matches: [{ path: { value: '/a' } }], filters: { requestRedirect: { statusCode: 200 } } },
      { matches: [{ path: { value: '/b' } }], filters: { requestRedirect: { hostname: '*.foo.com' } } },
      { matches: [{ path: { value: '/c' } }], filters: { requestRedirect: { path: { type: 'ReplaceFullPath', value: '/x\r\nSet-Cookie: a' } } } },
      matching({ path: { value: '/d' } }, { filters: { urlRewrite: { path: { type: 'ReplaceFullPath', value: 'relative' } } } }),
    )],
    want: {
      vhosts: { 'foo.com': vh(['/a', '/b', '/c', '/d'].map((p, i) => sr(prefix(p), { backends: [{ weight: 1 }] }, { rank: i }))) },
      conds: { [R]: partly('InvalidFilter') },
    },
  },
]));

test('requestMirror', run([
  {
    name: 'a same-namespace Service: the mirror cluster and percent on every route of the rule',
    objs: [foo(matching({}, { filters: { requestMirror: { backend: { name: 'canary', port: 80 }, percent: 10 } } }), matching({ path: { value: '/b' } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { ...toSvc, mirror: { cluster: CANARY, percent: 10 } }), sr(prefix('/b'), toSvc, { rank: 1 })]) }, conds: { [R]: OK } },
  },
  {
    name: 'no percent: 100; percent 0 is kept as written (nothing mirrored); the namespace may be spelled out',
    objs: [foo(
      matching({}, { filters: { requestMirror: { backend: { name: 'canary', namespace: 'default', port: 80 } } } }),
      matching({ path: { value: '/z' } }, { filters: { requestMirror: { backend: { name: 'canary', port: 80 }, percent: 0 } } }),
    )],
    want: {
      vhosts: { 'foo.com': vh([sr(prefix('/'), { ...toSvc, mirror: { cluster: CANARY, percent: 100 } }), sr(prefix('/z'), { ...toSvc, mirror: { cluster: CANARY, percent: 0 } }, { rank: 1 })]) },
      conds: { [R]: OK },
    },
  },
  {
    name: 'with a urlRewrite and weighted backends',
    objs: [foo(matching({}, { backends: [ref('svc'), { ...ref('canary'), weight: 0 }], filters: { urlRewrite: { hostname: 'x.foo.com' }, requestMirror: { backend: { name: 'svc', port: 80 }, percent: 50 } } }))],
    want: {
      vhosts: { 'foo.com': vh([sr(prefix('/'), { backends: [{ cluster: SVC, weight: 1 }, { cluster: CANARY, weight: 0 }], rewrite: { hostname: 'x.foo.com' }, mirror: { cluster: SVC, percent: 50 } })]) },
      conds: { [R]: OK },
    },
  },
  {
    name: 'a missing Service: ResolvedRefs, the mirror has no cluster, the route is served',
    objs: [foo(matching({}, { filters: { requestMirror: { backend: { name: 'nope', port: 80 }, percent: 10 } } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { ...toSvc, mirror: { percent: 10 } })]) }, conds: { [R]: refs('ServiceNotFound') } },
  },
  {
    name: 'a missing port: ResolvedRefs, no mirror cluster',
    objs: [foo(matching({}, { filters: { requestMirror: { backend: { name: 'canary', port: 81 }, percent: 10 } } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { ...toSvc, mirror: { percent: 10 } })]) }, conds: { [R]: refs('PortNotFound') } },
  },
  {
    name: 'another namespace: RefNotPermitted, no mirror cluster',
    objs: [foo(matching({}, { filters: { requestMirror: { backend: { name: 'canary', namespace: 'other', port: 80 }, percent: 10 } } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { ...toSvc, mirror: { percent: 10 } })]) }, conds: { [R]: refs('RefNotPermitted') } },
  },
  {
    name: 'a percent out of range or fractional: InvalidMirror, no mirror, the route is served',
    objs: [foo(
      matching({}, { filters: { requestMirror: { backend: { name: 'canary', port: 80 }, percent: 101 } } }),
      matching({ path: { value: '/f' } }, { filters: { requestMirror: { backend: { name: 'canary', port: 80 }, percent: 2.5 } } }),
    )],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/')), sr(prefix('/f'), toSvc, { rank: 1 })]) }, conds: { [R]: partly('InvalidMirror') } },
  },
  {
    name: 'with a requestRedirect: InvalidMirror, the redirect is served',
    objs: [foo({ filters: { requestRedirect: { scheme: 'https' }, requestMirror: { backend: { name: 'canary', port: 80 } } } })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { redirect: { scheme: 'https', statusCode: 302 } })]) }, conds: { [R]: partly('InvalidMirror') } },
  },
]));

test('timeouts and features not served yet', run([
  {
    name: 'timeouts.backendRequest is the route timeout; an invalid one falls back to the default',
    objs: [foo(matching({}, { timeouts: { backendRequest: '2.5s' } }), matching({ path: { value: '/b' } }, { timeouts: { backendRequest: '5' } }))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), toSvc, { timeoutMs: 2500 }), sr(prefix('/b'), toSvc, { rank: 1 })]) }, conds: { [R]: partly('InvalidTimeout') } },
  },
  {
    name: 'timeouts.request, timeouts.idle and retries are served, requestMirror too',
    objs: [foo(
      matching({}, { filters: { requestMirror: { backend: { name: 'canary', port: 80 }, percent: 10 } }, timeouts: { request: '10s', backendRequest: '1s' } }),
      matching({ path: { value: '/b' } }, { retries: { attempts: 2 }, timeouts: { idle: '5m' } }),
    )],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { ...toSvc, mirror: { cluster: CANARY, percent: 10 } }, { timeoutMs: 1000, requestTimeoutMs: 10000 }), sr(prefix('/b'), toSvc, { rank: 1, idleTimeoutMs: 300000, retry: { attempts: 2, on: ['connect-failure', 'reset'], backoffMs: 25 } })]) }, conds: { [R]: OK } },
  },
  {
    name: 'timeouts.idle: Go durations, independent of backendRequest and request',
    objs: [foo(
      matching({}, { timeouts: { idle: '1m30s' } }),
      matching({ path: { value: '/a' } }, { timeouts: { idle: '250ms', backendRequest: '2s', request: '10s' } }),
      matching({ path: { value: '/b' } }, { timeouts: { idle: ' 1.5s ' } }),
      matching({ path: { value: '/c' } }, { timeouts: { idle: '1us' } }),
    )],
    want: {
      vhosts: { 'foo.com': vh([
        sr(prefix('/'), toSvc, { idleTimeoutMs: 90000 }),
        sr(prefix('/a'), toSvc, { rank: 1, timeoutMs: 2000, requestTimeoutMs: 10000, idleTimeoutMs: 250 }),
        sr(prefix('/b'), toSvc, { rank: 2, idleTimeoutMs: 1500 }),
        sr(prefix('/c'), toSvc, { rank: 3, idleTimeoutMs: 1 }),
      ]) },
      conds: { [R]: OK },
    },
  },
  {
    name: 'an invalid timeouts.idle: InvalidTimeout, ignored, the rest of the rule served',
    objs: [foo(
      matching({}, { timeouts: { idle: '5' } }),
      matching({ path: { value: '/a' } }, { timeouts: { idle: '0s', request: '1m' } }),
      matching({ path: { value: '/b' } }, { timeouts: { idle: '-1s' } }),
      matching({ path: { value: '/c' } }, { timeouts: { idle: '1000h' } }),
      matching({ path: { value: '/d' } }, { timeouts: { idle: '' } }),
    )],
    want: {
      vhosts: { 'foo.com': vh([
        sr(prefix('/')),
        sr(prefix('/a'), toSvc, { rank: 1, requestTimeoutMs: 60000 }),
        sr(prefix('/b'), toSvc, { rank: 2 }),
        sr(prefix('/c'), toSvc, { rank: 3 }),
        sr(prefix('/d'), toSvc, { rank: 4 }),
      ]) },
      conds: { [R]: partly('InvalidTimeout') },
    },
  },
  {
    name: 'retries compiled: numeric codes, perTryTimeout, backoff; bad ones are InvalidRetry, a short timeouts.request InvalidTimeout',
    objs: [foo(
      matching({}, { retries: { attempts: 3, on: [503, 'reset', '504'], perTryTimeout: '250ms', backoff: '10ms' }, timeouts: { request: '2s', backendRequest: '1s' } }),
      matching({ path: { value: '/b' } }, { retries: { attempts: 11 }, timeouts: { request: '500ms', backendRequest: '1s' } }),
    )],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), toSvc, { timeoutMs: 1000, requestTimeoutMs: 2000, retry: { attempts: 3, on: ['503', 'reset', '504'], perTryTimeoutMs: 250, backoffMs: 10 } }), sr(prefix('/b'), toSvc, { rank: 1, timeoutMs: 1000 })]) }, conds: { [R]: partly('InvalidTimeout', 'InvalidRetry') } },
  },
  {
    name: 'an empty Route',
    objs: [httpRoute('r', {})],
    want: { vhosts: {}, conds: { [R]: ['Accepted=False/NothingToServe', 'ResolvedRefs=True/ResolvedRefs'] } },
  },
]));

/** A Passthrough Route "r" (or `name`) on `hostnames` to `backends`. */
const pass = (hostnames: string[], backends = [ref('svc')], extra: object = {}, name = 'r', meta = {}) =>
  httpRoute(name, { hostnames, tls: { mode: 'Passthrough' }, tcp: { backends }, ...extra }, meta);
const passVh = (backends: WeightedBackend[] = [{ cluster: SVC, weight: 1 }]): VirtualHost => ({ passthrough: { backends }, routes: {} });
const notServed = (reason: string) => [`Accepted=False/${reason}`, 'ResolvedRefs=True/ResolvedRefs'];

test('TLS passthrough', run([
  {
    name: 'hostnames (wildcards too) pass through to the weighted backends',
    objs: [pass(['db.foo.com', '*.pg.com'], [ref('svc', 80, 3), ref('canary', 80, 1)])],
    want: { vhosts: { '*.pg.com': passVh([{ cluster: SVC, weight: 3 }, { cluster: CANARY, weight: 1 }]), 'db.foo.com': passVh([{ cluster: SVC, weight: 3 }, { cluster: CANARY, weight: 1 }]) }, conds: { [R]: OK } },
  },
  {
    name: 'an unresolved backend keeps its share (connections closed) and is a ResolvedRefs condition',
    objs: [pass(['db.foo.com'], [ref('svc'), ref('nope')])],
    want: { vhosts: { 'db.foo.com': passVh([{ cluster: SVC, weight: 1 }, { weight: 1 }]) }, conds: { [R]: refs('ServiceNotFound') } },
  },
  {
    name: 'an Ingress serving the host over HTTP merges: passthrough on 443, its routes in cleartext',
    objs: [pass(['db.foo.com'], [ref('svc')], {}, 'r', T1), ingress('a', { rules: [rule('db.foo.com', prefixPath('/'))] }, T2)],
    want: { vhosts: { 'db.foo.com': { passthrough: { backends: [{ cluster: SVC, weight: 1 }] }, routes: vh([ir(prefix('/'))]).routes } }, conds: { [R]: OK, [A]: OK } },
  },
  {
    name: 'an older Ingress terminating the host keeps it: TLSConflict',
    objs: [ingress('a', { rules: [rule('db.foo.com', prefixPath('/'))], tls: [{ hosts: ['db.foo.com'], secretName: 'foo-tls' }] }, T1), tlsSecret('foo-tls'), pass(['db.foo.com'], [ref('svc')], {}, 'r', T2)],
    want: { vhosts: { 'db.foo.com': vh([ir(prefix('/'))], 'default/foo-tls') }, conds: { [A]: OK, [R]: lost('TLSConflict') } },
  },
  {
    name: 'an older passthrough keeps the host against a newer terminating Route',
    objs: [pass(['db.foo.com'], [ref('svc')], {}, 'r', T1), httpRoute('r2', { hostnames: ['db.foo.com'], tls: { secretName: 'foo-tls' } }, T2), tlsSecret('foo-tls')],
    want: { vhosts: { 'db.foo.com': passVh() }, conds: { [R]: OK, [R2]: lost('TLSConflict') } },
  },
  {
    name: 'two passthrough Routes for one host: the older keeps it',
    objs: [pass(['db.foo.com'], [ref('canary')], {}, 'r2', T2), pass(['db.foo.com'], [ref('svc')], {}, 'r', T1)],
    want: { vhosts: { 'db.foo.com': passVh() }, conds: { [R]: OK, [R2]: lost('TLSConflict') } },
  },
  {
    name: 'no named hostname: nothing to route by SNI',
    objs: [httpRoute('r', { tls: { mode: 'Passthrough' }, tcp: { backends: [ref('svc')] } })],
    want: { vhosts: {}, conds: { [R]: notServed('TLSHostsMissing') } },
  },
  {
    name: 'a secretName with Passthrough: nothing served',
    objs: [pass(['db.foo.com'], [ref('svc')], { tls: { mode: 'Passthrough', secretName: 'foo-tls' } })],
    want: { vhosts: {}, conds: { [R]: notServed('InvalidTLS') } },
  },
  {
    name: 'Passthrough without spec.tcp: nothing served, not even its rules',
    objs: [httpRoute('r', { hostnames: ['db.foo.com'], tls: { mode: 'Passthrough' }, rules: [toBackends(ref('svc'))] })],
    want: { vhosts: {}, conds: { [R]: notServed('InvalidTLS') } },
  },
  {
    name: 'Passthrough with a tcp.port: nothing served',
    objs: [pass(['db.foo.com'], [ref('svc')], { tcp: { port: 5432, backends: [ref('svc')] } })],
    want: { vhosts: {}, conds: { [R]: notServed('InvalidTLS') } },
  },
]));

test('TLS', run([
  {
    name: 'tls.secretName: the hostnames are served with it',
    objs: [httpRoute('r', { hostnames: ['foo.com', '*.foo.com'], tls: { secretName: 'foo-tls' }, rules: [toBackends(ref('svc'))] }), tlsSecret('foo-tls')],
    want: { vhosts: { '*.foo.com': vh([sr(prefix('/'))], 'default/foo-tls'), 'foo.com': vh([sr(prefix('/'))], 'default/foo-tls') }, conds: { [R]: OK } },
  },
  {
    name: 'a missing Secret: a condition, and the default certificate',
    objs: [httpRoute('r', { hostnames: ['foo.com'], tls: { secretName: 'nope' }, rules: [toBackends(ref('svc'))] })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'))], DEFAULT_SECRET) }, conds: { [R]: refs('SecretNotFound') } },
  },
  {
    name: 'tls without a secretName: the default certificate',
    objs: [httpRoute('r', { hostnames: ['foo.com'], tls: { mode: 'Terminate' }, rules: [toBackends(ref('svc'))] })],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'))], DEFAULT_SECRET) }, conds: { [R]: partly('TLSSecretNameMissing') } },
  },
  {
    name: 'tls without hostnames is skipped',
    objs: [httpRoute('r', { tls: { secretName: 'foo-tls' }, rules: [toBackends(ref('svc'))] }), tlsSecret('foo-tls')],
    want: { vhosts: { '*': vh([sr(prefix('/'))]) }, conds: { [R]: partly('TLSHostsMissing') } },
  },
  {
    name: 'an unknown tls.mode is skipped',
    objs: [httpRoute('r', { hostnames: ['foo.com'], tls: { mode: 'Mutual' as 'Terminate', secretName: 'foo-tls' }, rules: [toBackends(ref('svc'))] }), tlsSecret('foo-tls')],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'))]) }, conds: { [R]: partly('InvalidTLS') } },
  },
  {
    name: 'TLS only (no rules) is something to serve',
    objs: [httpRoute('r', { hostnames: ['foo.com'], tls: { secretName: 'foo-tls' } }), tlsSecret('foo-tls')],
    want: { vhosts: { 'foo.com': { tls: { secret: 'default/foo-tls' }, routes: {} } }, conds: { [R]: OK } },
  },
  {
    name: 'TLS conflict with an older Ingress naming another Secret: the Ingress keeps the host',
    objs: [
      ingress('a', { rules: [rule('foo.com', prefixPath('/a'))], tls: [{ hosts: ['foo.com'], secretName: 'other' }] }, T1), tlsSecret('other'), tlsSecret('foo-tls'),
      httpRoute('r', { hostnames: ['foo.com'], tls: { secretName: 'foo-tls' }, rules: [matching({ path: { value: '/b' } })] }, T2),
    ],
    want: {
      vhosts: { 'foo.com': vh([ir(prefix('/a')), sr(prefix('/b'))], 'default/other') },
      conds: { [A]: OK, [R]: [...OK, 'Conflicted=True/TLSConflict'] },
    },
  },
  {
    name: 'the same Secret for a host from a Route and an Ingress agrees',
    objs: [
      ingress('a', { rules: [rule('foo.com', prefixPath('/a'))], tls: [{ hosts: ['foo.com'], secretName: 'foo-tls' }] }, T2), tlsSecret('foo-tls'),
      httpRoute('r', { hostnames: ['foo.com'], tls: { secretName: 'foo-tls' }, rules: [matching({ path: { value: '/b' } })] }, T1),
    ],
    want: { vhosts: { 'foo.com': vh([ir(prefix('/a')), sr(prefix('/b'))], 'default/foo-tls') }, conds: { [A]: OK, [R]: OK } },
  },
]));

test('Routes and Ingresses merge; conflicts go to the older', run([
  {
    name: 'a Route and an Ingress for one host merge into one virtual host',
    objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/a'))] }), foo(matching({ path: { value: '/b' } }))],
    want: { vhosts: { 'foo.com': vh([ir(prefix('/a')), sr(prefix('/b'))]) }, conds: { [A]: OK, [R]: OK } },
  },
  {
    name: 'same host and match: the older Route wins over the Ingress',
    objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, T2), httpRoute('r', { hostnames: ['foo.com'], rules: [toBackends(ref('canary'))] }, T1)],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'), { backends: [{ cluster: CANARY, weight: 1 }] })]) }, conds: { [R]: OK, [A]: lost() } },
  },
  {
    name: 'same host and match: the older Ingress wins over the Route',
    objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, T1), httpRoute('r', { hostnames: ['foo.com'], rules: [toBackends(ref('canary'))] }, T2)],
    want: { vhosts: { 'foo.com': vh([ir(prefix('/'))]) }, conds: { [A]: OK, [R]: lost() } },
  },
  {
    name: 'a Route conflicts only where it overlaps: its other hostname is served',
    objs: [ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, T1), httpRoute('r', { hostnames: ['foo.com', 'bar.com'], rules: [toBackends(ref('svc'))] }, T2)],
    want: { vhosts: { 'bar.com': vh([sr(prefix('/'))]), 'foo.com': vh([ir(prefix('/'))]) }, conds: { [A]: OK, [R]: [...OK, 'Conflicted=True/RouteConflict'] } },
  },
  {
    name: 'two Routes with equal timestamps: namespace/name decides',
    objs: [httpRoute('r2', { rules: [toBackends(ref('canary'))] }, T1), httpRoute('r', { rules: [toBackends(ref('svc'))] }, T1)],
    want: { vhosts: { '*': vh([sr(prefix('/'))]) }, conds: { [R]: OK, [R2]: lost() } },
  },
  {
    name: 'a Route without a timestamp loses to one with',
    objs: [httpRoute('r', { rules: [toBackends(ref('svc'))] }), httpRoute('r2', { rules: [toBackends(ref('canary'))] }, T2)],
    want: { vhosts: { '*': vh([sr(prefix('/'), { backends: [{ cluster: CANARY, weight: 1 }] }, { origin: R2 })]) }, conds: { [R2]: OK, [R]: lost() } },
  },
  {
    name: 'within one Route the earlier rule wins',
    objs: [foo(toBackends(ref('svc')), toBackends(ref('canary')))],
    want: { vhosts: { 'foo.com': vh([sr(prefix('/'))]) }, conds: { [R]: [...OK, 'Conflicted=True/RouteConflict'] } },
  },
  {
    name: 'rank: oldest first per virtual host, then rule and match order',
    objs: [
      httpRoute('r2', { hostnames: ['foo.com'], rules: [matching({ path: { value: '/' }, headers: [{ name: 'x-b', value: '1' }] })] }, T2),
      httpRoute('r', { hostnames: ['foo.com', 'bar.com'], rules: [{ matches: [{ path: { value: '/' }, headers: [{ name: 'x-a', value: '1' }] }, { path: { value: '/z' } }], backends: [ref('svc')] }] }, T1),
    ],
    want: {
      vhosts: {
        'bar.com': vh([sr(prefix('/', { headers: [{ name: 'x-a', type: 'Exact', value: '1' }] })), sr(prefix('/z'), toSvc, { rank: 1 })]),
        'foo.com': vh([
          sr(prefix('/', { headers: [{ name: 'x-a', type: 'Exact', value: '1' }] })), sr(prefix('/z'), toSvc, { rank: 1 }),
          sr(prefix('/', { headers: [{ name: 'x-b', type: 'Exact', value: '1' }] }), toSvc, { rank: 2, origin: R2 }),
        ]),
      },
      conds: { [R]: OK, [R2]: OK },
    },
  },
]));

test('class selection applies to Routes as to Ingresses', async (t) => {
  const cases: Array<{ name: string; objs: KubeObject[]; className?: string; want: boolean }> = [
    { name: 'ingressClassName matches', objs: [], className: 'turnout', want: true },
    { name: 'another class', objs: [ingressClass('turnout', { isDefault: true })], className: 'nginx', want: false },
    { name: 'our name, but the IngressClass belongs to another controller', objs: [ingressClass('turnout', { controller: 'x.io/other' })], className: 'turnout', want: false },
    { name: 'no class, ours is the default', objs: [ingressClass('turnout', { isDefault: true })], want: true },
    { name: 'no class, no default', objs: [ingressClass('turnout')], want: false },
    { name: 'empty class counts as unset', objs: [ingressClass('turnout', { isDefault: true })], className: '', want: true },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const r = httpRoute('r', { rules: [toBackends(ref('svc'))] });
      if (c.className === undefined) delete r.spec!.ingressClassName;
      else r.spec!.ingressClassName = c.className;
      const res = compile(inputOf([...c.objs, r, service('svc')]), OPTIONS);
      assert.equal(res.conditions.has(R), c.want);
      assert.equal(res.snapshot.virtualHosts['*'] !== undefined, c.want);
    });
  }
});

test('condition messages name the winner and the timeouts.idle dropped', () => {
  const res = compile(inputOf([
    ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, T1),
    httpRoute('r', {
      hostnames: ['foo.com'],
      rules: [
        toBackends(ref('svc')),
        { matches: [{ path: { value: '/x' }, headers: [{ name: 'x-canary', value: '1' }], method: 'GET' }], backends: [ref('svc')], timeouts: { idle: '5m' } },
        { matches: [{ path: { value: '/x' }, headers: [{ name: 'x-canary', value: '1' }], method: 'GET' }], backends: [ref('svc')], timeouts: { idle: '5 minutes' }, filters: { requestMirror: { backend: { name: 'svc', port: 80 } } } },
      ],
    }, T2),
    service('svc'),
  ]), OPTIONS);
  assert.equal(condition(res, R, 'Conflicted')?.message,
    'path Prefix / on host foo.com is already claimed by Ingress default/a; '
    + 'path Prefix /x + headers "x-canary" + method GET on host foo.com is already claimed by an earlier rule of this Route');
  assert.equal(condition(res, R, 'PartiallyInvalid')?.message,
    'spec.rules[2].timeouts.idle "5 minutes" is not a positive duration like "500ms", "2s" or "1m" (at most 24 days); timeouts.idle ignored, the proxy\'s default (5m) applies');
  assert.equal(condition(res, R, 'Accepted')?.message, 'the Route is served');
});

test('a regex condition names the pattern and RE2\'s reason', () => {
  const res = compile(inputOf([foo(matching({ path: { type: 'RegularExpression', value: '/(a' } })), service('svc')]), OPTIONS);
  assert.equal(condition(res, R, 'Accepted')?.message, 'spec.rules[0].matches[0] skipped: path regular expression "/(a" does not compile: missing closing )');
});

test('only clusters of winning routes reach the snapshot, with their endpoints', () => {
  const res = compile(inputOf([
    ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, T1),
    httpRoute('r', { hostnames: ['foo.com'], rules: [toBackends(ref('canary')), matching({ path: { value: '/c' } }, { backends: [ref('svc', 80, 1), ref('canary', 80, 1)] })] }, T2),
    service('svc'), service('canary'), slice('canary', ['10.0.0.9']),
  ]), OPTIONS);
  assert.deepEqual(Object.keys(res.snapshot.clusters), [CANARY, SVC]);
  assert.deepEqual(Object.keys(res.snapshot.clusters[CANARY]!.endpoints), ['10.0.0.9:8080']);
  const lostOnly = compile(inputOf([
    ingress('a', { rules: [rule('foo.com', prefixPath('/'))] }, T1),
    httpRoute('r', { hostnames: ['foo.com'], rules: [toBackends(ref('canary'))] }, T2), service('svc'), service('canary'),
  ]), OPTIONS);
  assert.deepEqual(Object.keys(lostOnly.snapshot.clusters), [SVC], 'a Route that lost every claim resolves nothing');
});

test('a Route the compiler chokes on gets CompileFailed; the others are still served', () => {
  // Sources refuse such shapes (k8s/shape.ts); this guards against compiler bugs.
  const broken = foo(matching({ headers: [{ name: 5 as unknown as string, value: '1' }] }));
  const res = compile(inputOf([broken, httpRoute('good', { hostnames: ['b.com'], rules: [toBackends(ref('svc'))] }), service('svc')]), OPTIONS);
  assert.ok(res.snapshot.virtualHosts['b.com']);
  assert.deepEqual(condSummary(res, R), ['Accepted=False/CompileFailed', 'ResolvedRefs=True/ResolvedRefs']);
});

/** Routes and Ingresses sharing hosts, with every kind of route part. */
function mixed(canaryWeight = 10): KubeObject[] {
  return [
    ingress('a', { rules: [rule('foo.com', prefixPath('/')), rule('bar.com', prefixPath('/'))] }, T1),
    httpRoute('r', {
      hostnames: ['foo.com'],
      rules: [
        { matches: [{ path: { value: '/api' }, headers: [{ name: 'x-canary', value: '1' }] }], backends: [ref('svc', 80, 100 - canaryWeight), ref('canary', 80, canaryWeight)], filters: { requestHeaders: { set: [{ name: 'x-env', value: 'prod' }] } } },
        { matches: [{ path: { type: 'RegularExpression', value: '/img/.*' } }], filters: { requestRedirect: { scheme: 'https' } } },
      ],
    }, T2),
    httpRoute('r2', { hostnames: ['baz.com'], rules: [toBackends(ref('svc'))] }, T2),
    service('svc'), service('canary'), slice('svc', ['10.0.0.1']),
  ];
}

test('Routes compile deterministically whatever the input order', () => {
  const first = compile(inputOf(mixed()), OPTIONS);
  for (let seed = 1; seed < 5; seed++) {
    const again = compile(inputOf(shuffled(mixed(), seed)), OPTIONS);
    assert.equal(again.snapshot.version, first.snapshot.version);
    assert.equal(JSON.stringify(again.snapshot), JSON.stringify(first.snapshot));
    assert.deepEqual([...again.conditions.entries()], [...first.conditions.entries()]);
  }
});

test('reuse: routes with arrays are shared, and a canary weight change is a one-operation patch', async () => {
  const { default: jsonpatch } = await import('fast-json-patch');
  const prev = compile(inputOf(mixed()), OPTIONS).snapshot;
  const same = compile(inputOf(mixed()), OPTIONS, prev).snapshot;
  assert.equal(same.virtualHosts, prev.virtualHosts, 'an unchanged recompile shares every virtual host');
  const next = compile(inputOf(mixed(20)), OPTIONS, prev).snapshot;
  const ops = jsonpatch.compare(prev, next).filter((op) => op.path !== '/version');
  assert.deepEqual(ops.map((op) => `${op.op} ${op.path}`).sort(), [
    'replace /virtualHosts/foo.com/routes/Prefix:~1api ["x-canary"]/backends/0/weight'.replace('["x-canary"]', JSON.stringify([[{ name: 'x-canary', type: 'Exact', value: '1' }], [], ''])),
    'replace /virtualHosts/foo.com/routes/Prefix:~1api ["x-canary"]/backends/1/weight'.replace('["x-canary"]', JSON.stringify([[{ name: 'x-canary', type: 'Exact', value: '1' }], [], ''])),
  ].sort());
  assert.equal(next.virtualHosts['baz.com'], prev.virtualHosts['baz.com']);
  assert.equal(next.virtualHosts['bar.com'], prev.virtualHosts['bar.com']);
  const key = Object.keys(next.virtualHosts['foo.com']!.routes).find((k) => k.startsWith('RegularExpression'))!;
  assert.equal(next.virtualHosts['foo.com']!.routes[key], prev.virtualHosts['foo.com']!.routes[key], 'the untouched route of the touched host is shared');
});

test('a tcp Route becomes a tcp listener; a later Route on its port is Conflicted', () => {
  const res = compile(inputOf([
    httpRoute('r', { tcp: { port: 5432, backends: [ref('svc')] } }, T1),
    httpRoute('r2', { tcp: { port: 5432, backends: [ref('svc')] } }, T2),
    service('svc'),
  ]), OPTIONS);
  const l = res.snapshot.listeners['tcp-default-r'];
  assert.equal(l?.protocol, 'tcp');
  assert.equal(l?.port, 5432);
  assert.deepEqual(l?.backends, [{ cluster: SVC, weight: 1 }]);
  assert.equal(res.snapshot.listeners['tcp-default-r2'], undefined);
  assert.equal(condition(res, R, 'Accepted')?.status, 'True');
  assert.equal(condition(res, R2, 'Conflicted')?.status, 'True');
  assert.equal(condition(res, R2, 'Accepted')?.status, 'False');
});
