// One client request carried out upstream: attempts on endpoints in turn
// (attempt.ts, retry rules in retry.ts), timeouts, backpressure both ways, and
// the response relayed to an HTTP/1.1 or HTTP/2 client (headers held briefly
// and trailers relayed for HTTP/2). forward.ts decides and creates one per
// request; the rules are listed at the top of forward.ts.
import type { ServerResponse } from 'node:http';
import type { H2Response } from './h2-stream.ts';
import type { Dispatcher } from 'undici';
import type { ClientRequest, ClientResponse, DecisionForward } from './decide.ts';
import { ClientError, sendClientError } from './errors.ts';
import { Attempt, classify, CONNECT_FAILURES, errorCode } from './attempt.ts';
import type { AttemptOwner } from './attempt.ts';
import { deadlines } from './deadlines.ts';
import type { Ticking } from './deadlines.ts';
import { applyHeaderFilter } from './filters.ts';
import { NetResponse } from './http1/messages.ts';
import type { RawHead } from './http1/llhttp.ts';
import { downstreamHeaders, relayRawHead } from './response-headers.ts';
import { rawFields } from './upstream/h1-fields.ts';
import { backoffDelay, RESET_CODES, RetryBudget, retryable } from './retry.ts';
import type { AttemptOutcome } from './retry.ts';
import type { ClusterBalancer, UpstreamEndpoint } from './upstream/balancer.ts';

/**
 * What every Exchange of one forwarder shares (created once per forwarder,
 * not per request: the hot path allocates no options object).
 */
export interface ExchangeShared {
  /** Attempts including the first when the route has no retry policy (connect failures only). */
  readonly maxAttempts: number;
  readonly sendTimeoutMs: number;
  readonly budget: RetryBudget;
}

/** The routing decision's part an Exchange reads (decide.ts's DecisionForward is one). */
export type ExchangeRoute = Pick<DecisionForward, 'cluster' | 'responseHeaders' | 'timeoutMs' | 'requestTimeoutMs' | 'idleTimeoutMs' | 'retry'>;

/**
 * Upper bound of silence between two body chunks from the upstream when the
 * route sets no idleTimeoutMs (Gateway API timeouts.idle); Envoy's stream idle
 * timeout is 5 min too: long polls and event streams live, a dead upstream is
 * noticed. Once the response has started, expiry cuts the client connection
 * (the body is truncated). Websocket tunnels (tunnel.ts) are not bounded by it.
 */
export const UPSTREAM_BODY_IDLE_MS = 300_000;

// UNDICI_TIMERS_OFF: forward.ts dispatches with undici's headersTimeout and
// bodyTimeout at 0 (off), and this class bounds both itself. The wait for
// response headers was already bounded here, from earlier (arrival or
// dispatch, never later than undici's start, the end of the request write),
// so undici's bound could never fire first. The body idle bound moved here
// because of how undici keeps timers above 1 s: as "fast timers" that a
// clear only marks, left in a list until a tick every ~0.5 s. Each request
// made two of them (headers, body), which outlived the request, survived the
// next scavenge and were often promoted: measured 2026-11-26 (40k requests,
// --trace-gc-nvp), young-generation survivors per scavenge ~400 → ~180 KiB
// and promotion ~110 → 28 B per request (docs/performance.md). A Node timer
// cleared when the response ends dies young instead. The keep-alive timer
// of an idle upstream connection (pools.ts) is still undici's.
//
// Both bounds are ticked by the process's deadline sweep (deadlines.ts), not
// Node timers: a Node timer per bound cost ~13 % of the CPU per request. They
// fire up to one tick (TICK_MS) late. The rarer timers (per attempt, backoff,
// the client's send timeout) stay Node timers.

/** A route filter that changes nothing (or none). */
function noFilter(f: ExchangeRoute['responseHeaders']): boolean {
  return f === undefined || (!f.remove?.length && !f.set?.length && !f.add?.length);
}

/** One client request relayed to one or more endpoints in turn (attempts, retry.ts). */
export class Exchange implements AttemptOwner, Ticking {
  readonly #req: ClientRequest;
  readonly #res: ClientResponse;
  /** The client speaks HTTP/2: trailers are relayed (responseEnded). */
  readonly #h2: boolean;
  readonly #cluster: ClusterBalancer;
  readonly #route: ExchangeRoute;
  readonly #dispatch: Dispatcher.DispatchOptions;
  readonly #hasBody: boolean;
  readonly #shared: ExchangeShared;
  /** The first endpoint tried; #tried is only built when there is a second (retries are rare). */
  #first: UpstreamEndpoint | undefined;
  #tried: Set<UpstreamEndpoint> | undefined;
  /** When (performance.now() ms) to answer 504, or cut a started response when requestTimeoutMs is set. */
  #deadlineAt = Infinity;
  /** The current attempt's own timeout (with a policy or requestTimeoutMs). */
  #attemptTimer: NodeJS.Timeout | undefined;
  /** The wait before the next attempt. */
  #backoff: NodeJS.Timeout | undefined;
  /** Fires when a paused client has not drained for sendTimeoutMs. */
  #sendTimer: NodeJS.Timeout | undefined;
  /** The body idle bound in ms: the upstream sent no chunk for that long (0: off, before headers and while paused). */
  #idleMs = 0;
  /** Since when the body has been idle, as of the last tick (-1: from the next tick). */
  #idleFrom = -1;
  /** A body chunk arrived since the last tick. */
  #touched = false;
  /** The attempt whose body the idle bound watches, and its controller (aborted on expiry). */
  #bodyAttempt: Attempt | undefined;
  #bodyController: Dispatcher.DispatchController | undefined;
  /** This exchange's slot in the deadline sweep (-1: not ticked). */
  #slot = -1;
  /** We answered (504) or gave up: whatever undici reports later is ignored. */
  #abandoned = false;
  #current: Attempt | undefined;
  #retries = 0;
  /** A retry slot of the budget is held (released when the next outcome is known or at the end). */
  #holdingRetry = false;
  #responded = false;
  #clientGone = false;
  #waitingDrain = false;

  /**
   * `dispatch` is undici's request (path, method, headers, body, timeouts);
   * `hasBody`: the request streams a body (retried only after connect failures).
   */
  constructor(req: ClientRequest, res: ClientResponse, route: ExchangeRoute, dispatch: Dispatcher.DispatchOptions, hasBody: boolean, shared: ExchangeShared) {
    this.#req = req;
    this.#res = res;
    this.#h2 = req.httpVersionMajor === 2;
    this.#cluster = route.cluster;
    this.#route = route;
    this.#dispatch = dispatch;
    this.#hasBody = hasBody;
    this.#shared = shared;
    shared.budget.requestStarted(route.cluster.key);
  }

  /** Starts one attempt on `endpoint`. */
  send(endpoint: UpstreamEndpoint): void {
    const o = this.#route;
    // The bound on waiting for response headers (undici's own is off:
    // UNDICI_TIMERS_OFF), counted from arrival, so time queued behind busy
    // connections counts.
    const overall = o.requestTimeoutMs ?? (o.retry === undefined ? o.timeoutMs : undefined);
    if (overall !== undefined && this.#deadlineAt === Infinity) {
      this.#deadlineAt = performance.now() + overall;
      this.#ticked();
    }
    if (this.#first === undefined) this.#first = endpoint;
    else this.#triedSet().add(endpoint);
    const attempt = new Attempt(this, endpoint);
    this.#current = attempt;
    if (o.retry !== undefined || o.requestTimeoutMs !== undefined) {
      this.#attemptTimer = setTimeout(() => this.#attemptTimedOut(attempt), o.retry?.perTryTimeoutMs ?? o.timeoutMs);
    }
    try {
      endpoint.dispatcher.dispatch(this.#dispatch, attempt);
    } catch (err) {
      // Synchronous refusals are argument errors (a header value undici
      // rejects that Node's parser let through): the request itself is bad.
      void err;
      this.#clearTimers();
      sendClientError(this.#res, ClientError.BAD_REQUEST);
    }
  }

  /** The endpoints tried so far, as pickRetry() takes them (built on the first retry). */
  #triedSet(): Set<UpstreamEndpoint> {
    return (this.#tried ??= new Set(this.#first === undefined ? [] : [this.#first]));
  }

  /** The client response closed (finished, or the client went away). */
  clientClosed(): void {
    this.#clearTimers();
    this.#releaseRetry();
    this.#shared.budget.requestEnded(this.#cluster.key);
    if (this.#res.writableFinished) return;
    this.#clientGone = true;
    this.#current?.controller?.abort(new Error('client disconnected'));
  }

  #clearTimers(): void {
    this.#deadlineAt = Infinity;
    this.#idleMs = 0;
    if (this.#slot >= 0) {
      deadlines.remove(this.#slot);
      this.#slot = -1;
    }
    clearTimeout(this.#attemptTimer);
    clearTimeout(this.#backoff);
    clearTimeout(this.#sendTimer);
  }

  /** Makes sure the deadline sweep ticks this exchange. */
  #ticked(): void {
    if (this.#slot < 0) this.#slot = deadlines.add(this);
  }

  /** Called by the deadline sweep: the request deadline, then the body idle bound. */
  tick(now: number): void {
    if (now >= this.#deadlineAt) return this.#giveUp();
    if (this.#idleMs === 0) return;
    if (this.#touched || this.#idleFrom < 0) {
      this.#touched = false;
      this.#idleFrom = now;
    } else if (now - this.#idleFrom >= this.#idleMs) this.#bodyIdle();
  }

  /** Arms the body idle bound (from response headers, and again after a backpressure pause). */
  #armBodyTimer(a: Attempt, controller: Dispatcher.DispatchController): void {
    this.#bodyAttempt = a;
    this.#bodyController = controller;
    this.#idleMs = this.#route.idleTimeoutMs ?? UPSTREAM_BODY_IDLE_MS;
    this.#idleFrom = -1;
    this.#ticked();
  }

  #bodyIdle(): void {
    const a = this.#bodyAttempt as Attempt;
    const controller = this.#bodyController as Dispatcher.DispatchController;
    this.#idleMs = 0;
    if (!this.#live(a)) return;
    // As undici's own body timeout did: the response has started, so the
    // client connection is cut and the truncation is visible.
    this.#abandoned = true;
    this.#clearTimers();
    controller.abort(Object.assign(new Error('upstream body idle timeout'), { code: 'UND_ERR_BODY_TIMEOUT' }));
    this.#res.destroy();
  }

  #releaseRetry(): void {
    if (!this.#holdingRetry) return;
    this.#holdingRetry = false;
    this.#shared.budget.retryEnded(this.#cluster.key);
  }

  #live(a: Attempt): boolean {
    return a === this.#current && !this.#abandoned && !this.#clientGone;
  }

  // The request deadline passed: before response headers answer 504 now, and
  // abort the attempt (or, if it is still queued, as soon as it starts);
  // after them (requestTimeoutMs only) cut the client connection.
  #giveUp(): void {
    if (this.#clientGone || this.#abandoned) return;
    this.#abandoned = true;
    this.#clearTimers();
    this.#current?.controller?.abort(new Error('upstream timeout'));
    if (this.#responded) this.#res.destroy();
    else sendClientError(this.#res, ClientError.UPSTREAM_TIMEOUT);
  }

  // The current attempt had no response headers within its own timeout.
  #attemptTimedOut(a: Attempt): void {
    if (!this.#live(a) || this.#responded) return;
    if (!this.#retryAfter('timeout')) {
      this.#abandoned = true;
      this.#clearTimers();
      sendClientError(this.#res, ClientError.UPSTREAM_TIMEOUT);
    }
    a.controller?.abort(new Error('upstream attempt timeout'));
  }

  /**
   * After an attempt ended with `outcome`: starts the next one (at once, or
   * after a backoff) and returns true, or returns false when this outcome is
   * the answer. Makes the ended attempt stale either way it retries.
   */
  #retryAfter(outcome: AttemptOutcome): boolean {
    this.#releaseRetry();
    const p = this.#route.retry;
    const shared = this.#shared;
    if (this.#hasBody && this.#req.destroyed) return false;
    if (p === undefined) {
      // Without a policy: connect failures only, at once, on an endpoint not tried yet.
      if (outcome !== 'connect-failure' || this.#triedSet().size >= shared.maxAttempts) return false;
      const next = this.#cluster.pickRetry(this.#triedSet());
      if (next === undefined) return false;
      clearTimeout(this.#attemptTimer);
      this.send(next);
      return true;
    }
    if (this.#retries >= p.attempts || !retryable(p, outcome, this.#hasBody)) return false;
    if (!shared.budget.tryRetry(this.#cluster.key)) return false;
    this.#holdingRetry = true;
    const next = this.#cluster.pickRetry(this.#triedSet()) ?? this.#current?.endpoint;
    if (next === undefined) return false;
    clearTimeout(this.#attemptTimer);
    this.#current = undefined;
    this.#backoff = setTimeout(() => {
      if (!this.#clientGone && !this.#abandoned) this.send(next);
    }, backoffDelay(p.backoffMs, this.#retries++));
    return true;
  }

  requestStarted(a: Attempt, controller: Dispatcher.DispatchController): void {
    if (!this.#live(a)) controller.abort(new Error(this.#clientGone ? 'client disconnected' : 'upstream timeout'));
  }

  responseStarted(a: Attempt, controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (!this.#startResponse(a, controller, statusCode)) return;
    this.#writeHead(a, controller, statusCode, headers);
  }

  /**
   * The lean client's head as parsed: relayed to an HTTP/1.1 client of the
   * net engine without the fields object (response-headers.ts relayRawHead),
   * when the route edits no response headers; otherwise, and whenever the
   * relay declines, as responseStarted() does.
   */
  responseStartedRaw(a: Attempt, controller: Dispatcher.DispatchController, statusCode: number, head: RawHead): void {
    if (!this.#startResponse(a, controller, statusCode)) return;
    const res = this.#res;
    if (res instanceof NetResponse && noFilter(this.#route.responseHeaders) && relayRawHead(head, statusCode, res)) {
      this.#responded = true;
      this.#armBodyTimer(a, controller);
      return;
    }
    this.#writeHead(a, controller, statusCode, rawFields(head));
  }

  /** What every response head goes through first: false when it is not relayed (interim, stale, retried). */
  #startResponse(a: Attempt, controller: Dispatcher.DispatchController, statusCode: number): boolean {
    if (statusCode < 200 || !this.#live(a)) return false;
    clearTimeout(this.#attemptTimer);
    if (this.#route.retry !== undefined && this.#retryAfter(statusCode)) {
      // Discarded, never relayed: the response body is dropped with its connection.
      controller.abort(new Error('retrying'));
      return false;
    }
    if (this.#route.requestTimeoutMs === undefined) this.#deadlineAt = Infinity;
    return true;
  }

  #writeHead(a: Attempt, controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const res = this.#res;
    try {
      // An HTTP/2 response holds them briefly itself (h2-stream.ts: a
      // trailers-only answer must stay one HEADERS frame).
      (res as ServerResponse).writeHead(statusCode, applyHeaderFilter(downstreamHeaders(headers), this.#route.responseHeaders));
    } catch {
      // Node refused a header the upstream sent (invalid characters): answer
      // 502 with none of them.
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      controller.abort(new Error('invalid upstream response headers'));
      sendClientError(res, ClientError.UPSTREAM_INVALID);
      return;
    }
    this.#responded = true;
    this.#armBodyTimer(a, controller);
  }

  responseData(a: Attempt, controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#live(a)) return;
    this.#touched = true;
    if (!(this.#res as ServerResponse).write(chunk) && !this.#waitingDrain) {
      // Backpressure: stop reading the upstream socket until the client drains,
      // but not forever; the body idle bound is off while paused (the upstream
      // is not the one being slow).
      this.#waitingDrain = true;
      this.#idleMs = 0;
      controller.pause();
      this.#sendTimer = setTimeout(() => {
        this.#abandoned = true;
        controller.abort(new Error('client send timeout'));
        this.#res.destroy();
      }, this.#shared.sendTimeoutMs);
      this.#res.once('drain', () => {
        clearTimeout(this.#sendTimer);
        this.#waitingDrain = false;
        if (this.#live(a)) this.#armBodyTimer(a, controller);
        controller.resume();
      });
    }
  }

  responseEnded(a: Attempt, trailers: Record<string, string | string[] | undefined>): void {
    if (!this.#live(a)) return;
    this.#clearTimers();
    // HTTP/2 relays the upstream's trailers (gRPC's grpc-status); HTTP/1.1 drops them.
    if (this.#h2) (this.#res as H2Response).addTrailers(trailers);
    this.#res.end();
  }

  responseFailed(a: Attempt, err: Error): void {
    if (!this.#live(a)) return;
    if (this.#responded) {
      // Mid-body failure: cut the client connection so the truncation is visible.
      this.#clearTimers();
      this.#res.destroy();
      return;
    }
    const code = errorCode(err);
    const outcome: AttemptOutcome | undefined = !a.started && CONNECT_FAILURES.has(code) ? 'connect-failure'
      : RESET_CODES.has(code) ? 'reset'
        : code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timeout' : undefined;
    if (outcome !== undefined && this.#retryAfter(outcome)) return;
    this.#clearTimers();
    sendClientError(this.#res, classify(err));
  }
}
