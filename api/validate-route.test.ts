import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateRoute } from './validate-route.ts';
import { routeKey } from './snapshot.ts';

const route = (extra: Record<string, unknown> = {}, match: Record<string, unknown> = {}) =>
  ({ match: { type: 'Prefix', path: '/', ...match }, timeoutMs: 1000, origin: 'Route/default/r', ...extra });

function problems(r: unknown): string[] {
  const out: string[] = [];
  validateRoute('/r', r, (k) => k === 'ns/svc:80', (path, reason) => out.push(`${path}: ${reason}`));
  return out;
}

const cases: Array<[name: string, r: unknown, want: RegExp | undefined]> = [
  ['a plain route', route({ cluster: 'ns/svc:80' }), undefined],
  ['an unresolved route (no action) answers 503', route(), undefined],
  ['a weighted split', route({ backends: [{ cluster: 'ns/svc:80', weight: 90 }, { weight: 10 }] }), undefined],
  ['a redirect with a prefix replacement', route({ redirect: { scheme: 'https', path: { type: 'ReplacePrefixMatch', value: '/v2' }, statusCode: 301 } }), undefined],
  ['header, query and method matches', route({ cluster: 'ns/svc:80' }, { headers: [{ name: 'x-canary', type: 'Exact', value: '1' }], queryParams: [{ name: 'v', type: 'RegularExpression', value: '[0-9]+' }], method: 'GET' }), undefined],
  ['a regular expression path need not start with /', route({ cluster: 'ns/svc:80' }, { type: 'RegularExpression', path: '.*\\.png' }), undefined],
  ['two actions', route({ cluster: 'ns/svc:80', redirect: { statusCode: 301 } }), /only one of cluster, backends and redirect/],
  ['a dangling backend', route({ backends: [{ cluster: 'ns/nope:80', weight: 1 }] }), /backends\/0\/cluster: cluster "ns\/nope:80" does not exist/],
  ['a negative weight', route({ backends: [{ cluster: 'ns/svc:80', weight: -1 }] }), /weight: must be an integer/],
  ['an empty split', route({ backends: [] }), /backends: must be a non-empty list/],
  ['a redirect code that is not a redirect', route({ redirect: { statusCode: 200 } }), /statusCode/],
  ['setting a hop-by-hop header', route({ cluster: 'ns/svc:80', requestHeaders: { set: [{ name: 'connection', value: 'close' }] } }), /connection is managed by the proxy/],
  ['a header value with CR LF', route({ cluster: 'ns/svc:80', responseHeaders: { add: [{ name: 'x-a', value: 'a\r\nset-cookie: x' }] } }), /without CR or LF/],
  ['an upper-case header match name', route({ cluster: 'ns/svc:80' }, { headers: [{ name: 'X-Canary', type: 'Exact', value: '1' }] }), /lower-case header name/],
  ['a lower-case method', route({ cluster: 'ns/svc:80' }, { method: 'get' }), /upper-case method/],
  ['a relative Prefix path', route({ cluster: 'ns/svc:80' }, { path: 'api' }), /must start with "\/"/],
  ['a mirror', route({ cluster: 'ns/svc:80', mirror: { cluster: 'ns/svc:80', percent: 100 } }), undefined],
  ['an unresolved mirror (no cluster) mirrors nothing', route({ cluster: 'ns/svc:80', mirror: { percent: 0 } }), undefined],
  ['a mirror on a split', route({ backends: [{ cluster: 'ns/svc:80', weight: 1 }], mirror: { cluster: 'ns/svc:80', percent: 50 } }), undefined],
  ['a dangling mirror cluster', route({ cluster: 'ns/svc:80', mirror: { cluster: 'ns/nope:80', percent: 10 } }), /mirror\/cluster: cluster "ns\/nope:80" does not exist/],
  ['a mirror cluster that is not a string', route({ cluster: 'ns/svc:80', mirror: { cluster: 7, percent: 10 } }), /mirror\/cluster: cluster 7 does not exist/],
  ['a mirror percent above 100', route({ cluster: 'ns/svc:80', mirror: { cluster: 'ns/svc:80', percent: 101 } }), /mirror\/percent: must be an integer in 0\.\.100/],
  ['a negative mirror percent', route({ cluster: 'ns/svc:80', mirror: { cluster: 'ns/svc:80', percent: -1 } }), /mirror\/percent: must be an integer/],
  ['a fractional mirror percent', route({ cluster: 'ns/svc:80', mirror: { cluster: 'ns/svc:80', percent: 12.5 } }), /mirror\/percent: must be an integer/],
  ['a request timeout and a retry policy', route({ cluster: 'ns/svc:80', requestTimeoutMs: 5000, retry: { attempts: 2, on: ['connect-failure', 'reset', '503'], perTryTimeoutMs: 500, backoffMs: 25 } }), undefined],
  ['a retry policy without perTryTimeoutMs, no retries', route({ cluster: 'ns/svc:80', retry: { attempts: 0, on: [], backoffMs: 0 } }), undefined],
  ['a request timeout equal to timeoutMs', route({ cluster: 'ns/svc:80', requestTimeoutMs: 1000 }), undefined],
  ['a request timeout below timeoutMs', route({ cluster: 'ns/svc:80', requestTimeoutMs: 999 }), /requestTimeoutMs: must be at least timeoutMs/],
  ['a request timeout of 0', route({ cluster: 'ns/svc:80', requestTimeoutMs: 0 }), /requestTimeoutMs: must be a positive integer/],
  ['a fractional request timeout', route({ cluster: 'ns/svc:80', requestTimeoutMs: 1500.5 }), /requestTimeoutMs: must be a positive integer/],
  ['a request timeout Node cannot time', route({ cluster: 'ns/svc:80', requestTimeoutMs: 2 ** 31 }), /requestTimeoutMs: must be a positive integer up to/],
  ['an idle timeout', route({ cluster: 'ns/svc:80', idleTimeoutMs: 300000 }), undefined],
  ['an idle timeout below timeoutMs', route({ cluster: 'ns/svc:80', idleTimeoutMs: 1 }), undefined],
  ['an idle timeout of 0', route({ cluster: 'ns/svc:80', idleTimeoutMs: 0 }), /idleTimeoutMs: must be a positive integer/],
  ['a negative idle timeout', route({ cluster: 'ns/svc:80', idleTimeoutMs: -5 }), /idleTimeoutMs: must be a positive integer/],
  ['a fractional idle timeout', route({ cluster: 'ns/svc:80', idleTimeoutMs: 2.5 }), /idleTimeoutMs: must be a positive integer/],
  ['an idle timeout given as a string', route({ cluster: 'ns/svc:80', idleTimeoutMs: '5m' }), /idleTimeoutMs: must be a positive integer/],
  ['an idle timeout Node cannot time', route({ cluster: 'ns/svc:80', idleTimeoutMs: 2 ** 31 }), /idleTimeoutMs: must be a positive integer up to/],
  ['a retry that is not an object', route({ cluster: 'ns/svc:80', retry: 3 }), /retry: must be an object/],
  ['11 retry attempts', route({ cluster: 'ns/svc:80', retry: { attempts: 11, on: ['503'], backoffMs: 25 } }), /retry\/attempts: must be an integer in 0\.\.10/],
  ['negative retry attempts', route({ cluster: 'ns/svc:80', retry: { attempts: -1, on: ['503'], backoffMs: 25 } }), /retry\/attempts/],
  ['a missing retry on', route({ cluster: 'ns/svc:80', retry: { attempts: 1, backoffMs: 25 } }), /retry\/on: must be a list/],
  ['an unknown retry condition', route({ cluster: 'ns/svc:80', retry: { attempts: 1, on: ['500'], backoffMs: 25 } }), /retry\/on\/0: must be one of/],
  ['a numeric retry condition', route({ cluster: 'ns/svc:80', retry: { attempts: 1, on: [503], backoffMs: 25 } }), /retry\/on\/0: must be one of/],
  ['a retry condition listed twice', route({ cluster: 'ns/svc:80', retry: { attempts: 1, on: ['503', '503'], backoffMs: 25 } }), /retry\/on\/1: "503" is listed twice/],
  ['a per-try timeout of 0', route({ cluster: 'ns/svc:80', retry: { attempts: 1, on: ['503'], perTryTimeoutMs: 0, backoffMs: 25 } }), /retry\/perTryTimeoutMs/],
  ['a negative backoff', route({ cluster: 'ns/svc:80', retry: { attempts: 1, on: ['503'], backoffMs: -5 } }), /retry\/backoffMs: must be an integer/],
  ['a missing backoff', route({ cluster: 'ns/svc:80', retry: { attempts: 1, on: ['503'] } }), /retry\/backoffMs: must be an integer/],
  ['a mirror without percent', route({ cluster: 'ns/svc:80', mirror: { cluster: 'ns/svc:80' } }), /mirror\/percent: must be an integer/],
  ['a mirror that is not an object', route({ cluster: 'ns/svc:80', mirror: 'ns/svc:80' }), /mirror: must be an object/],
];

for (const [name, r, want] of cases) {
  test(`validateRoute: ${name}`, () => {
    const got = problems(r);
    if (want === undefined) assert.deepEqual(got, []);
    else assert.ok(got.some((p) => want.test(p)), got.join('\n'));
  });
}

test('routeKey: plain matches keep the short form; conditions make distinct, unambiguous keys', () => {
  assert.equal(routeKey('Prefix', '/api'), 'Prefix:/api');
  const a = routeKey('Prefix', '/api', { headers: [{ name: 'x', type: 'Exact', value: 'a"],["b' }] });
  const b = routeKey('Prefix', '/api', { headers: [{ name: 'x', type: 'Exact', value: 'a' }], queryParams: [{ name: 'b', type: 'Exact', value: '' }] });
  assert.notEqual(a, b);
  assert.notEqual(routeKey('Prefix', '/api', { method: 'GET' }), routeKey('Prefix', '/api'));
});
