// decide() on its own, table-driven: every outcome and the step that produces
// it, without sockets (forward.test.ts, route-actions.test.ts and
// upgrade.test.ts check the same decisions end to end through both callers).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { routeKey } from '../api/snapshot.ts';
import type { Route, RouteMatch } from '../api/snapshot.ts';
import { sealSnapshot } from '../api/version.ts';
import { decide, validHost } from './decide.ts';
import type { Decision } from './decide.ts';
import { ClientError } from './errors.ts';
import { buildTable } from './routing/table.ts';
import { UpstreamPools } from './upstream/pools.ts';
import { cluster, content } from './testkit.ts';

const pools = new UpstreamPools({ connectTimeoutMs: 1_000 });
after(async () => {
  table.retire();
  await pools.close();
});

function r(match: RouteMatch, action: Omit<Route, 'match' | 'timeoutMs' | 'origin'>, timeoutMs = 5_000): [string, Route] {
  return [routeKey(match.type, match.path), { match, ...action, timeoutMs, origin: 'Route/test/r' }];
}
const prefix = (path: string): RouteMatch => ({ type: 'Prefix', path });

const table = buildTable(sealSnapshot(content({
  virtualHosts: {
    'a.test': {
      routes: Object.fromEntries([
        r(prefix('/'), { cluster: 'ns/one:80' }, 7_000),
        r(prefix('/api'), {
          cluster: 'ns/one:80',
          rewrite: { path: { type: 'ReplacePrefixMatch', value: '/v2' } },
          requestHeaders: { set: [{ name: 'x-route', value: 'api' }] },
          responseHeaders: { set: [{ name: 'x-served', value: 'api' }] },
        }),
        r({ type: 'Prefix', path: '/post', method: 'POST' }, { cluster: 'ns/two:80' }),
        r(prefix('/old'), { redirect: { scheme: 'https', statusCode: 301 }, responseHeaders: { set: [{ name: 'x-r', value: '1' }] } }),
        r(prefix('/none'), {}),
        r(prefix('/empty'), { cluster: 'ns/empty:80' }),
        r(prefix('/zero'), { backends: [{ cluster: 'ns/one:80', weight: 0 }] }),
        r(prefix('/typo'), { backends: [{ cluster: 'ns/missing:80', weight: 1 }] }),
        r(prefix('/split'), { backends: [{ cluster: 'ns/two:80', weight: 1 }] }),
      ]),
    },
  },
  clusters: { 'ns/one:80': cluster(9001), 'ns/two:80': cluster(9002), 'ns/empty:80': { endpoints: {} } },
})), undefined, { pools });

/** A request as decide() reads it: target, method, headers (raw and parsed) and the socket's addresses. */
function req(url: string, raw: string[] = ['Host', 'a.test'], method = 'GET'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[(raw[i] as string).toLowerCase()] ??= raw[i + 1] as string;
  const socket = { remoteAddress: '::ffff:10.0.0.1', localAddress: '10.0.0.2', localPort: 8080 };
  return { url, method, rawHeaders: raw, headers, socket } as unknown as IncomingMessage;
}

/** The outcome in one comparable string: the error's status and body, a redirect's status, or endpoint and path. */
function summary(d: Decision): string {
  if (d.kind === 'error') return `error ${d.error.status} ${d.error.body.trim()}`;
  if (d.kind === 'redirect') return `redirect ${d.status}`;
  return `forward ${d.endpoint.port} ${d.path}`;
}

test('each step answers what the callers used to answer', () => {
  const cases: Array<[string, IncomingMessage, string]> = [
    ['origin-form target with query', req('/a/b?x=1'), 'forward 9001 /a/b?x=1'],
    ['normalised path', req('/a//./b'), 'forward 9001 /a/b'],
    ['asterisk-form', req('*'), `error 400 bad request`],
    ['absolute-form', req('http://a.test/'), `error 400 bad request`],
    ['Host with userinfo', req('/', ['Host', 'u@a.test']), `error 400 bad request`],
    ['port out of range', req('/', ['Host', 'a.test:65536']), `error 400 bad request`],
    ['two Host headers', req('/', ['Host', 'a.test', 'Host', 'b.test']), `error 400 bad request`],
    ['unknown host, no default', req('/', ['Host', 'b.test']), `error 404 no route`],
    ['method condition met', req('/post', ['Host', 'a.test'], 'POST'), 'forward 9002 /post'],
    ['method condition not met falls back to /', req('/post', ['Host', 'a.test'], 'GET'), 'forward 9001 /post'],
    ['redirect', req('/old/x?q=1'), 'redirect 301'],
    ['route without a cluster', req('/none'), `error 503 no healthy upstream`],
    ['cluster without endpoints', req('/empty'), `error 503 no healthy upstream`],
    ['every weight 0', req('/zero'), `error 500 backend not found`],
    ['unresolved weighted backend', req('/typo'), `error 500 backend not found`],
    ['weighted backend', req('/split'), 'forward 9002 /split'],
    ['rewrite keeps the query', req('/api/users?x=1'), 'forward 9001 /v2/users?x=1'],
  ];
  for (const [name, request, want] of cases) assert.equal(summary(decide(table, request, 'http')), want, name);
});

test('validHost remembers the last valid host only: an invalid one right after it is still refused', () => {
  const cases: Array<[string, boolean]> = [
    ['a.test', true], ['a.test', true], ['', false], ['a.test:65536', false], ['a.test:8080', true],
    ['a.test:8080', true], ['u@a.test', false], ['[::1]:443', true], ['a.test ', false], ['a.test', true],
  ];
  for (const [host, want] of cases) assert.equal(validHost(host), want, JSON.stringify(host));
});

test('no table yet: 503 not configured', () => {
  assert.deepEqual(decide(undefined, req('/'), 'http'), { kind: 'error', error: ClientError.NOT_CONFIGURED });
});

test('a redirect carries Location and the route response filter', () => {
  const d = decide(table, req('/old/x?q=1'), 'http');
  assert.deepEqual(d, { kind: 'redirect', status: 301, headers: ['location', 'https://a.test/old/x?q=1', 'content-length', '0', 'x-r', '1'] });
});

test('a forward carries everything the callers need', () => {
  const d = decide(table, req('/api/users?x=1', ['Host', 'a.test', 'X-Forwarded-Proto', 'spoofed', 'Bad_Name', 'v']), 'https');
  assert.equal(d.kind, 'forward');
  if (d.kind !== 'forward') return;
  assert.equal(d.table, table);
  assert.equal(d.cluster, table.cluster('ns/one:80'));
  assert.equal(d.routedPath, '/api/users');
  assert.equal(d.path, '/v2/users?x=1');
  assert.equal(d.timeoutMs, 5_000);
  assert.deepEqual(d.responseHeaders, { set: [{ name: 'x-served', value: 'api' }] });
  assert.deepEqual(d.headers, [
    'Host', 'a.test', 'x-forwarded-for', '10.0.0.1', 'x-real-ip', '10.0.0.1', 'x-forwarded-proto', 'https',
    'x-forwarded-port', '8080', 'x-forwarded-host', 'a.test', 'x-route', 'api',
  ]);
  const root = decide(table, req('/'), 'http');
  assert.equal(root.kind === 'forward' ? root.timeoutMs : undefined, 7_000, "the route's own timeout");
});
