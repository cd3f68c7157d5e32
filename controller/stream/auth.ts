// Who may open the snapshot stream. The stream carries every TLS private key,
// so the upgrade is refused unless the bearer token checks out. Two ways:
//
// - a shared static token (`--auth token`, the default; local mode), compared
//   in constant time;
// - Kubernetes ServiceAccount tokens (`--auth serviceaccount`): each proxy pod
//   presents its projected token (audience "turnout"); the controller asks the
//   API server with a TokenReview and accepts listed ServiceAccounts only.
//
// Results are cached briefly by a hash of the token (never the token itself),
// so a fleet reconnecting after a controller restart costs one review per pod,
// not one per attempt.
import { createHash, timingSafeEqual } from 'node:crypto';
import { TurnoutError } from '../errors.ts';

/** The outcome of checking a bearer token. */
export type AuthResult =
  | { readonly ok: true; readonly identity: string }
  /**
   * 401: not authenticated (wrong token, expired, wrong audience);
   * 403: authenticated but not allowed;
   * 503: could not be checked now (the API server did not answer): not the
   * proxy's fault, not cached, and the proxy retries with backoff.
   */
  | { readonly ok: false; readonly status: 401 | 403 | 503; readonly reason: string };

/** Checks the bearer token of a stream upgrade. Never rejects: failures are results. */
export interface Authenticator {
  authenticate(bearer: string): Promise<AuthResult>;
}

/** Audience proxies' projected ServiceAccount tokens must be issued for. */
export const TOKEN_AUDIENCE = 'turnout';

/** The shared-token check: constant time over equal-length digests, so timing reveals neither content nor length. */
export class StaticTokenAuthenticator implements Authenticator {
  readonly #digest: Buffer;

  constructor(token: string) {
    if (typeof token !== 'string' || token.length === 0) {
      throw new TurnoutError('INVALID_ARGUMENT', 'the snapshot stream needs a non-empty token');
    }
    this.#digest = sha256(token);
  }

  authenticate(bearer: string): Promise<AuthResult> {
    return Promise.resolve(timingSafeEqual(sha256(bearer), this.#digest)
      ? { ok: true, identity: 'token' }
      : { ok: false, status: 401, reason: 'wrong bearer token' });
  }
}

/** The fields of an authentication.k8s.io/v1 TokenReview status the decision reads. */
export interface TokenReviewStatus {
  readonly authenticated?: boolean;
  readonly audiences?: readonly string[];
  readonly user?: { readonly username?: string };
  readonly error?: string;
}

/** Posts a TokenReview for `token` with `audiences` and resolves with the API server's answer; rejects if it could not. */
export type TokenReviewer = (token: string, audiences: readonly string[]) => Promise<{ readonly status?: TokenReviewStatus }>;

/** Options of ServiceAccountAuthenticator. */
export interface ServiceAccountAuthenticatorOptions {
  readonly review: TokenReviewer;
  /** ServiceAccounts allowed to connect, as "namespace/name". */
  readonly allowed: readonly string[];
  /** Default TOKEN_AUDIENCE. */
  readonly audience?: string;
  /** How long an accepted token is trusted without asking again (default 30 s; never past the token's own `exp`). */
  readonly successTtlMs?: number;
  /** How long a refused token is refused without asking again (default 5 s). */
  readonly failureTtlMs?: number;
  /** Most cached tokens (default 10,000); the oldest go first. */
  readonly maxEntries?: number;
  /** A review slower than this counts as "API server unavailable" (default 5 s). */
  readonly reviewTimeoutMs?: number;
  /**
   * Most reviews in flight at once (default 32); beyond that the upgrade gets
   * 503 without asking, so a flood of made-up tokens cannot turn into a flood
   * of API requests.
   */
  readonly maxConcurrentReviews?: number;
  /** Wall clock in ms (tests); token `exp` is wall-clock time. */
  readonly now?: () => number;
}

interface CacheEntry {
  readonly result: Promise<AuthResult>;
  /** Wall-clock ms; Infinity while the review is in flight (callers share it). */
  expires: number;
}

/** ServiceAccount tokens checked with a TokenReview, with a short cache. */
export class ServiceAccountAuthenticator implements Authenticator {
  readonly #review: TokenReviewer;
  readonly #allowed: ReadonlySet<string>;
  readonly #audience: string;
  readonly #successTtlMs: number;
  readonly #failureTtlMs: number;
  readonly #maxEntries: number;
  readonly #reviewTimeoutMs: number;
  readonly #maxConcurrent: number;
  readonly #now: () => number;
  /** Keyed by SHA-256 of the token; insertion order is age. */
  readonly #cache = new Map<string, CacheEntry>();
  #inFlight = 0;
  /** Reviews actually sent (for tests and metrics). */
  reviews = 0;

  constructor(opts: ServiceAccountAuthenticatorOptions) {
    this.#review = opts.review;
    const allowed = opts.allowed.map((a) => parseServiceAccount(a));
    if (allowed.length === 0) throw new TurnoutError('INVALID_ARGUMENT', 'at least one ServiceAccount must be allowed');
    this.#allowed = new Set(allowed);
    this.#audience = opts.audience ?? TOKEN_AUDIENCE;
    this.#successTtlMs = opts.successTtlMs ?? 30_000;
    this.#failureTtlMs = opts.failureTtlMs ?? 5_000;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#reviewTimeoutMs = opts.reviewTimeoutMs ?? 5_000;
    this.#maxConcurrent = opts.maxConcurrentReviews ?? 32;
    this.#now = opts.now ?? Date.now;
  }

  /** Number of cached tokens (for tests). */
  get cacheSize(): number {
    return this.#cache.size;
  }

  authenticate(bearer: string): Promise<AuthResult> {
    const claims = jwtClaims(bearer);
    // Not a JWT, so not a ServiceAccount token: no need to ask anyone.
    if (claims === undefined) return Promise.resolve({ ok: false, status: 401, reason: 'the bearer token is not a ServiceAccount token (JWT)' });
    const key = sha256(bearer).toString('base64');
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.expires > now) return hit.result;
    if (hit !== undefined) this.#cache.delete(key);
    if (this.#inFlight >= this.#maxConcurrent) {
      return Promise.resolve({ ok: false, status: 503, reason: 'too many token reviews in flight; retry' });
    }
    const entry: CacheEntry = { result: this.#reviewOnce(bearer), expires: Infinity };
    this.#insert(key, entry);
    void entry.result.then((result) => {
      if (this.#cache.get(key) !== entry) return; // evicted meanwhile
      const at = this.#now();
      let expires = result.ok ? at + this.#successTtlMs : result.status === 503 ? at : at + this.#failureTtlMs;
      // Never trust a token past its own expiry, even if the review said yes a moment ago.
      if (result.ok && typeof claims.exp === 'number') expires = Math.min(expires, claims.exp * 1000);
      if (expires <= at) this.#cache.delete(key);
      else entry.expires = expires;
    });
    return entry.result;
  }

  async #reviewOnce(token: string): Promise<AuthResult> {
    this.#inFlight++;
    this.reviews++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.#reviewTimeoutMs} ms`)), this.#reviewTimeoutMs);
      });
      const review = await Promise.race([this.#review(token, [this.#audience]), timeout]);
      return decideTokenReview(review.status, this.#allowed, this.#audience);
    } catch (err) {
      return { ok: false, status: 503, reason: `TokenReview failed: ${describe(err)}` };
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
    }
  }

  #insert(key: string, entry: CacheEntry): void {
    this.#cache.set(key, entry);
    if (this.#cache.size <= this.#maxEntries) return;
    const now = this.#now();
    for (const [k, e] of this.#cache) {
      if (e.expires <= now) this.#cache.delete(k);
    }
    // Still full of live entries: drop the oldest (at most size - max of them).
    for (const k of this.#cache.keys()) {
      if (this.#cache.size <= this.#maxEntries) break;
      this.#cache.delete(k);
    }
  }
}

const SA_PREFIX = 'system:serviceaccount:';

/**
 * The decision on a TokenReview status: 401 unless authenticated for
 * `audience`; 403 unless the user is one of the `allowed` ServiceAccounts
 * ("namespace/name"). Pure, so recorded API server answers can test it.
 */
export function decideTokenReview(status: TokenReviewStatus | undefined, allowed: ReadonlySet<string>, audience: string): AuthResult {
  if (status?.authenticated !== true) {
    // The API server's own error text stays out: the reason is answered to an
    // unauthenticated client, and the text may describe the token.
    return { ok: false, status: 401, reason: 'the API server did not authenticate the token' };
  }
  // An API server answers with the audiences the token is valid for among
  // those asked; an answer without ours means the token was meant for
  // another service (the default API audience, say), and must not be replayed here.
  if (!Array.isArray(status.audiences) || !status.audiences.includes(audience)) {
    return { ok: false, status: 401, reason: `the token is not issued for audience ${JSON.stringify(audience)}` };
  }
  const username = status.user?.username ?? '';
  const parts = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(':') : [];
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    return { ok: false, status: 403, reason: `${JSON.stringify(username.slice(0, 100))} is not a ServiceAccount` };
  }
  const sa = `${parts[0]}/${parts[1]}`;
  if (!allowed.has(sa)) {
    return { ok: false, status: 403, reason: `ServiceAccount ${sa} is not allowed to receive snapshots (--allowed-proxy-serviceaccounts)` };
  }
  return { ok: true, identity: username };
}

// Kubernetes names: a namespace is a DNS-1123 label, a ServiceAccount name a DNS-1123 subdomain.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Validates "namespace/name"; throws INVALID_ARGUMENT naming the entry. */
export function parseServiceAccount(text: string): string {
  const [ns, name, extra] = text.trim().split('/');
  if (extra !== undefined || ns === undefined || name === undefined || !LABEL.test(ns) || !SUBDOMAIN.test(name)) {
    throw new TurnoutError('INVALID_ARGUMENT', `${JSON.stringify(text)} is not a ServiceAccount as namespace/name`);
  }
  return `${ns}/${name}`;
}

/** Splits the value of --allowed-proxy-serviceaccounts ("ns/name,ns/name") and validates each. */
export function parseServiceAccountList(text: string): string[] {
  return text.split(',').filter((s) => s.trim() !== '').map(parseServiceAccount);
}

/**
 * A TokenReviewer backed by @kubernetes/client-node: the in-cluster
 * configuration, or `kubeconfig` when given. The library is loaded only here,
 * so `--auth token` and the proxy never load it. The controller's own
 * ServiceAccount needs `create` on `tokenreviews` (system:auth-delegator).
 */
export async function kubeTokenReviewer(kubeconfig?: string): Promise<TokenReviewer> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  if (kubeconfig !== undefined) config.loadFromFile(kubeconfig);
  else config.loadFromCluster();
  const api = config.makeApiClient(k8s.AuthenticationV1Api);
  return async (token, audiences) => {
    const review = await api.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [...audiences] } },
    });
    return { status: review.status };
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The payload of a compact JWT, unverified (only to bound the cache by `exp`); undefined if not a JWT. */
function jwtClaims(token: string): { exp?: unknown } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? claims as { exp?: unknown } : undefined;
  } catch {
    return undefined;
  }
}

/** An API error without its body (which may echo the request, token included). */
function describe(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'number') return `HTTP ${code}`; // an ApiException: its body is not shown
  const message = err instanceof Error ? err.message : String(err);
  const cause = (err as { cause?: { code?: unknown } })?.cause?.code; // fetch failed (ECONNREFUSED)
  return `${message}${typeof cause === 'string' ? ` (${cause})` : ''}`.slice(0, 200);
}
