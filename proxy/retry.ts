// The retry policy of forward.ts: which outcome of an attempt may be retried,
// how long to wait before the next one, and the per-cluster budget that keeps
// retries from multiplying load during an outage.
//
// - Without a route `retry` policy, only connect failures (nothing was sent)
//   are retried, at once, on another endpoint: the proxy's behaviour before
//   policies existed (forward.ts, maxAttempts).
// - With a policy, an outcome is retried when its condition is listed in `on`
//   and the request can be replayed: without a body or with a body forward.ts
//   buffered (known length up to its replay limit) always; with a streamed
//   body only after a connect failure (once a byte was sent it is gone). A per-attempt
//   timeout counts as '504'. At most `attempts` retries, each after a backoff
//   with full jitter (random in [0, min(10 × backoffMs, backoffMs × 2^n)]),
//   on another endpoint when there is one, and all within requestTimeoutMs.
// - Retry budget (Envoy's retry_budget with its defaults): per cluster, the
//   retries in flight (from the decision to retry, backoff included, to the
//   end of that attempt) may be at most max(3, 20 % of the requests in flight
//   to that cluster). Beyond it the outcome at hand is the answer.
import type { RetryOn, RetryPolicy } from '../api/snapshot.ts';

/** What an attempt ended with, as far as retrying is concerned. */
export type AttemptOutcome =
  /** Refused or unreachable: nothing was sent. */
  | 'connect-failure'
  /** The connection was reset or closed after the request began, before response headers. */
  | 'reset'
  /** The attempt got no response headers within its timeout. */
  | 'timeout'
  /** Response headers with this status. */
  | number;

/** Socket errors that mean "the upstream went away" after the request began. */
export const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED']);

/** The condition of `on` an outcome falls under, if any. */
export function conditionOf(outcome: AttemptOutcome): RetryOn | undefined {
  if (outcome === 'connect-failure' || outcome === 'reset') return outcome;
  if (outcome === 'timeout' || outcome === 504) return '504';
  if (outcome === 502) return '502';
  if (outcome === 503) return '503';
  return undefined;
}

/**
 * Whether `policy` retries `outcome` of a request (`hasBody`: it streams a
 * body, replayable only when nothing was sent, i.e. after a connect failure).
 */
export function retryable(policy: RetryPolicy, outcome: AttemptOutcome, hasBody: boolean): boolean {
  const c = conditionOf(outcome);
  if (c === undefined || !policy.on.includes(c)) return false;
  return !hasBody || outcome === 'connect-failure';
}

/** Full-jitter exponential backoff before retry number `retry` (0 for the first retry). */
export function backoffDelay(backoffMs: number, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(backoffMs * 10, backoffMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * ceiling);
}

/** Budget defaults (Envoy's): a share of the requests in flight, and a floor. */
export const BUDGET_PERCENT = 20;
export const BUDGET_MIN_RETRIES = 3;

interface ClusterLoad {
  requests: number;
  retries: number;
}

/** Requests and retries in flight per cluster key; one per forwarder. */
export class RetryBudget {
  readonly #loads = new Map<string, ClusterLoad>();
  readonly #percent: number;
  readonly #min: number;

  constructor(percent = BUDGET_PERCENT, minRetries = BUDGET_MIN_RETRIES) {
    this.#percent = percent;
    this.#min = minRetries;
  }

  /** A request to `cluster` began. */
  requestStarted(cluster: string): void {
    this.#load(cluster).requests++;
  }

  /** A request to `cluster` ended (pair of requestStarted). */
  requestEnded(cluster: string): void {
    const l = this.#load(cluster);
    l.requests--;
    this.#drop(cluster, l);
  }

  /** Takes one retry from the budget; false (nothing taken) when it is spent. */
  tryRetry(cluster: string): boolean {
    const l = this.#load(cluster);
    if (l.retries >= Math.max(this.#min, (l.requests * this.#percent) / 100)) {
      this.#drop(cluster, l);
      return false;
    }
    l.retries++;
    return true;
  }

  /** A retry taken with tryRetry ended. */
  retryEnded(cluster: string): void {
    const l = this.#load(cluster);
    l.retries--;
    this.#drop(cluster, l);
  }

  /** Retries in flight to `cluster` (tests, admin). */
  retriesInFlight(cluster: string): number {
    return this.#loads.get(cluster)?.retries ?? 0;
  }

  #load(cluster: string): ClusterLoad {
    let l = this.#loads.get(cluster);
    if (l === undefined) this.#loads.set(cluster, (l = { requests: 0, retries: 0 }));
    return l;
  }

  #drop(cluster: string, l: ClusterLoad): void {
    if (l.requests <= 0 && l.retries <= 0) this.#loads.delete(cluster);
  }
}
