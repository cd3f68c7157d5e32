// The authenticators on their own. There is no kube-apiserver in this
// environment: the TokenReview decision is tested on TokenReview answers
// written after the authentication.k8s.io/v1 API (the shapes an API server
// returns for these cases), handed to the authenticator by a fake reviewer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../cli/flags.ts';
import { StartupError } from '../../cli/startup.ts';
import {
  decideTokenReview, kubeTokenReviewer, parseServiceAccountList, ServiceAccountAuthenticator, StaticTokenAuthenticator,
  TOKEN_AUDIENCE, type TokenReviewer, type TokenReviewStatus,
} from './auth.ts';
import { streamAuthFromFlags } from './auth-flags.ts';
import { fakeJwt } from './testing.ts';

const PROXY_SA = 'system:serviceaccount:turnout-system:turnout-proxy';

/** TokenReview answers, as an API server sends them back (spec.token elided). */
const REVIEWS = {
  proxy: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null },
    spec: { token: '<elided>', audiences: ['turnout'] },
    status: {
      authenticated: true,
      user: {
        username: PROXY_SA, uid: '0c5f0f8e-6f5b-4bd5-9d6c-1c7d2f0c9a31',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:turnout-system', 'system:authenticated'],
        extra: {
          'authentication.kubernetes.io/credential-id': ['JTI=7a0e2c7d-52f2-4b7c-a1d4-1a0c0c4f3a11'],
          'authentication.kubernetes.io/node-name': ['worker-1'],
          'authentication.kubernetes.io/pod-name': ['turnout-proxy-7d9c5b6f4-x2kqz'],
          'authentication.kubernetes.io/pod-uid': ['3f9f5b0e-2f8e-4c38-9a4b-52c4a1f7d2e0'],
        },
      },
      audiences: ['turnout'],
    },
  },
  /** The pod's default token (audience: the API server), replayed at us. */
  apiAudience: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null },
    spec: { token: '<elided>', audiences: ['turnout'] },
    status: { user: {}, error: '[invalid bearer token, token audiences ["https://kubernetes.default.svc.cluster.local"] is invalid for the target audiences ["turnout"]]' },
  },
  expired: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null },
    spec: { token: '<elided>', audiences: ['turnout'] },
    status: { user: {}, error: '[invalid bearer token, service account token has expired]' },
  },
  /** A bound token whose pod was deleted. */
  podGone: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null },
    spec: { token: '<elided>', audiences: ['turnout'] },
    status: { user: {}, error: '[invalid bearer token, pod "turnout-proxy-7d9c5b6f4-x2kqz" not found]' },
  },
  /** Authenticated, but by an authenticator that says nothing about audiences. */
  noAudiences: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null },
    spec: { token: '<elided>', audiences: ['turnout'] },
    status: { authenticated: true, user: { username: PROXY_SA, groups: ['system:authenticated'] } },
  },
  otherSa: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null },
    spec: { token: '<elided>', audiences: ['turnout'] },
    status: {
      authenticated: true, audiences: ['turnout'],
      user: { username: 'system:serviceaccount:default:default', groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'] },
    },
  },
  /** A person's OIDC token minted for our audience: authenticated, not a ServiceAccount. */
  person: {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null },
    spec: { token: '<elided>', audiences: ['turnout'] },
    status: { authenticated: true, audiences: ['turnout'], user: { username: 'oidc:jane@example.com', groups: ['system:authenticated'] } },
  },
} as const;

const ALLOWED = new Set(['turnout-system/turnout-proxy']);

test('TokenReview decisions: 401 unless authenticated for our audience, 403 unless an allowed ServiceAccount', () => {
  const cases: [keyof typeof REVIEWS, number | 'ok', RegExp][] = [
    ['proxy', 'ok', /^system:serviceaccount:turnout-system:turnout-proxy$/],
    ['apiAudience', 401, /^the API server did not authenticate the token$/],
    ['expired', 401, /^the API server did not authenticate the token$/],
    ['podGone', 401, /^the API server did not authenticate the token$/],
    ['noAudiences', 401, /not issued for audience "turnout"/],
    ['otherSa', 403, /ServiceAccount default\/default is not allowed/],
    ['person', 403, /"oidc:jane@example.com" is not a ServiceAccount/],
  ];
  for (const [name, want, text] of cases) {
    const r = decideTokenReview(REVIEWS[name].status as TokenReviewStatus, ALLOWED, TOKEN_AUDIENCE);
    if (want === 'ok') {
      assert.ok(r.ok, name);
      assert.match(r.identity, text, name);
    } else {
      assert.ok(!r.ok, name);
      assert.equal(r.status, want, name);
      assert.match(r.reason, text, name);
    }
  }
  assert.equal(decideTokenReview(undefined, ALLOWED, TOKEN_AUDIENCE).ok, false);
  const weird = decideTokenReview({ authenticated: true, audiences: ['turnout'], user: { username: 'system:serviceaccount:a:b:c' } }, ALLOWED, TOKEN_AUDIENCE);
  assert.equal(weird.ok ? 0 : weird.status, 403);
});

/** A reviewer answering from REVIEWS by token, counting calls and checking what it is asked. */
function recordedReviewer(answers: Record<string, keyof typeof REVIEWS | Error | 'hang'>) {
  const calls: { token: string; audiences: readonly string[] }[] = [];
  const review: TokenReviewer = async (token, audiences) => {
    calls.push({ token, audiences });
    const a = answers[token];
    if (a === undefined) throw new Error('unexpected token');
    if (a instanceof Error) throw a;
    if (a === 'hang') return new Promise(() => {});
    return structuredClone(REVIEWS[a]) as { status?: TokenReviewStatus };
  };
  return { review, calls };
}

const NOW = 1_800_000_000_000;
const good = fakeJwt({ sub: PROXY_SA, aud: ['turnout'], exp: NOW / 1000 + 3600 });
const bad = fakeJwt({ sub: 'x', exp: NOW / 1000 + 3600 });

test('accepted tokens are cached 30 s, refused ones 5 s; a review is asked for the turnout audience', async () => {
  let now = NOW;
  const { review, calls } = recordedReviewer({ [good]: 'proxy', [bad]: 'apiAudience' });
  const auth = new ServiceAccountAuthenticator({ review, allowed: ['turnout-system/turnout-proxy'], now: () => now });
  assert.deepEqual(await auth.authenticate(good), { ok: true, identity: PROXY_SA });
  assert.deepEqual(calls[0]!.audiences, ['turnout']);
  assert.equal((await auth.authenticate(bad)).ok, false);
  now += 4_000;
  await auth.authenticate(good);
  await auth.authenticate(bad);
  assert.equal(calls.length, 2, 'both answered from the cache');
  now += 2_000; // 6 s: the refusal expired, the acceptance did not
  assert.equal((await auth.authenticate(bad)).ok, false);
  await auth.authenticate(good);
  assert.equal(calls.length, 3);
  now += 25_000; // 31 s
  await auth.authenticate(good);
  assert.equal(calls.length, 4, 'the acceptance expired after 30 s');
});

test('an accepted token is never trusted past its own exp', async () => {
  let now = NOW;
  const soon = fakeJwt({ sub: PROXY_SA, exp: NOW / 1000 + 10 });
  const { review, calls } = recordedReviewer({ [soon]: 'proxy' });
  const auth = new ServiceAccountAuthenticator({ review, allowed: ['turnout-system/turnout-proxy'], now: () => now });
  assert.equal((await auth.authenticate(soon)).ok, true);
  now += 9_000;
  await auth.authenticate(soon);
  assert.equal(calls.length, 1);
  now += 2_000;
  await auth.authenticate(soon);
  assert.equal(calls.length, 2, 'asked again once exp passed');
});

test('concurrent checks of one token share one review; an unavailable API server is 503 and not cached', async () => {
  const { review, calls } = recordedReviewer({ [good]: 'proxy', [bad]: new Error('connect ECONNREFUSED 10.96.0.1:443') });
  const auth = new ServiceAccountAuthenticator({ review, allowed: ['turnout-system/turnout-proxy'] });
  const results = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(good)));
  assert.ok(results.every((r) => r.ok));
  assert.equal(calls.length, 1);
  assert.deepEqual(await auth.authenticate(bad), { ok: false, status: 503, reason: 'TokenReview failed: connect ECONNREFUSED 10.96.0.1:443' });
  await auth.authenticate(bad);
  assert.equal(calls.length, 3, 'a failure to ask is asked again next time');
});

test('a review that does not answer in time is 503; too many in flight are 503 without asking', async () => {
  const tokens = Array.from({ length: 3 }, (_, i) => fakeJwt({ sub: `t${i}` }));
  const { review, calls } = recordedReviewer(Object.fromEntries(tokens.map((t) => [t, 'hang' as const])));
  const auth = new ServiceAccountAuthenticator({ review, allowed: ['a/b'], reviewTimeoutMs: 50, maxConcurrentReviews: 2 });
  const pending = [auth.authenticate(tokens[0]!), auth.authenticate(tokens[1]!)];
  assert.deepEqual(await auth.authenticate(tokens[2]!), { ok: false, status: 503, reason: 'too many token reviews in flight; retry' });
  assert.equal(calls.length, 2);
  for (const r of await Promise.all(pending)) assert.deepEqual(r, { ok: false, status: 503, reason: 'TokenReview failed: no answer within 50 ms' });
  assert.equal(auth.cacheSize, 0);
});

test('a bearer that is not a JWT is refused without a review; the cache is bounded', async () => {
  const { review, calls } = recordedReviewer({});
  const auth = new ServiceAccountAuthenticator({ review, allowed: ['a/b'], maxEntries: 5 });
  const r = await auth.authenticate('correct-horse-battery-staple');
  assert.equal(r.ok ? 0 : r.status, 401);
  assert.equal(calls.length, 0);

  const many = Array.from({ length: 20 }, (_, i) => fakeJwt({ sub: `s${i}` }));
  const all = recordedReviewer(Object.fromEntries(many.map((t) => [t, 'otherSa' as const])));
  const bounded = new ServiceAccountAuthenticator({ review: all.review, allowed: ['a/b'], maxEntries: 5 });
  for (const t of many) assert.equal((await bounded.authenticate(t)).ok, false);
  assert.equal(bounded.cacheSize, 5);
});

test('the static token: constant-time comparison of digests', async () => {
  const auth = new StaticTokenAuthenticator('the-shared-token-0123456789');
  assert.deepEqual(await auth.authenticate('the-shared-token-0123456789'), { ok: true, identity: 'token' });
  assert.deepEqual(await auth.authenticate('the-shared-token-012345678'), { ok: false, status: 401, reason: 'wrong bearer token' });
  assert.throws(() => new StaticTokenAuthenticator(''), /non-empty token/);
});

test('--allowed-proxy-serviceaccounts takes namespace/name pairs', () => {
  assert.deepEqual(parseServiceAccountList('turnout-system/turnout-proxy, edge/proxy.v2'), ['turnout-system/turnout-proxy', 'edge/proxy.v2']);
  for (const badList of ['turnout-proxy', 'a/b/c', 'Upper/x', 'ns/', '/name', 'ns/under_score']) {
    assert.throws(() => parseServiceAccountList(badList), /is not a ServiceAccount as namespace\/name/, badList);
  }
});

test('controller flags: --auth token needs --token-file; serviceaccount needs an allow-list and a cluster', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'turnout-auth-'));
  try {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'the-shared-token-0123456789\n');
    assert.deepEqual(await streamAuthFromFlags({ auth: 'token', 'token-file': tokenFile }), { token: 'the-shared-token-0123456789' });
    await assert.rejects(streamAuthFromFlags({ auth: 'token' }), (e) => e instanceof UsageError && /--token-file is required/.test(e.message));
    await assert.rejects(streamAuthFromFlags({ auth: 'token', 'token-file': tokenFile, manifests: 'd', kubeconfig: 'x' }), UsageError);
    await assert.rejects(streamAuthFromFlags({ auth: 'token', 'token-file': tokenFile, 'allowed-proxy-serviceaccounts': 'a/b' }), UsageError);
    // The Kubernetes source reads --kubeconfig itself: fine with a shared token.
    assert.deepEqual(await streamAuthFromFlags({ auth: 'token', 'token-file': tokenFile, kubeconfig: 'x' }), { token: 'the-shared-token-0123456789' });

    const fake = async () => recordedReviewer({}).review;
    const sa = { auth: 'serviceaccount', 'allowed-proxy-serviceaccounts': 'turnout-system/turnout-proxy' };
    await assert.rejects(streamAuthFromFlags({ auth: 'serviceaccount' }, fake, {}), /needs --allowed-proxy-serviceaccounts/);
    await assert.rejects(streamAuthFromFlags({ ...sa, 'token-file': tokenFile }, fake, {}), /--token-file goes with --auth token/);
    await assert.rejects(streamAuthFromFlags({ ...sa, 'allowed-proxy-serviceaccounts': 'nope' }, fake, {}), UsageError);
    await assert.rejects(streamAuthFromFlags(sa, fake, {}), (e) => e instanceof StartupError && /KUBERNETES_SERVICE_HOST/.test(e.message));
    await assert.rejects(streamAuthFromFlags({ ...sa, kubeconfig: join(dir, 'missing') }, fake, {}), /--kubeconfig .*ENOENT/);
    const ok = await streamAuthFromFlags(sa, fake, { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    assert.ok('auth' in ok && ok.auth instanceof ServiceAccountAuthenticator);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the client-node reviewer loads a kubeconfig; an unreachable API server is a 503, not a refusal', async () => {
  // A port that was just free: connection refused, no fake API server.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const dir = await mkdtemp(join(tmpdir(), 'turnout-kubeconfig-'));
  try {
    const file = join(dir, 'kubeconfig');
    await writeFile(file, [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      `clusters: [{name: test, cluster: {server: "https://127.0.0.1:${port}"}}]`,
      'users: [{name: test, user: {token: controller-token}}]',
      'contexts: [{name: test, context: {cluster: test, user: test}}]', '',
    ].join('\n'));
    const review = await kubeTokenReviewer(file);
    const auth = new ServiceAccountAuthenticator({ review, allowed: ['turnout-system/turnout-proxy'] });
    const r = await auth.authenticate(good);
    assert.equal(r.ok ? 0 : r.status, 503);
    assert.match(r.ok ? '' : r.reason, /^TokenReview failed: fetch failed \(ECONNREFUSED\)$/);
    assert.ok(!r.ok && !r.reason.includes(good), 'the token is not echoed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
