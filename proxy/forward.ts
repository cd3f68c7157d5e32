// The request handler: pin the current table, route, pick an endpoint, relay
// the exchange through the endpoint's undici pool with `dispatch` (a handler
// object, no intermediate streams: measured faster than `pool.request`, see
// pitfalls.md).
//
// Decisions a client can notice:
// - Only origin-form targets ("/path?query") are routed; "*", absolute-form and
//   authority-form get 400. CONNECT never reaches this handler (Node closes it).
// - The upstream gets the normalised path (routing/paths.ts) and the query as
//   sent; Host as the client sent it (a Host that is not host[:port] is a 400);
//   X-Forwarded-For with the client address appended; X-Forwarded-Proto,
//   -Host, -Port and X-Real-IP set by the proxy (client-sent values are
//   replaced: the proxy is the edge and is the only one who knows them);
//   Forwarded and any header with "_" in its name dropped (CGI-style servers
//   read X_Forwarded_Proto as X-Forwarded-Proto; nginx drops them too).
// - Hop-by-hop headers are stripped both ways: Connection and every token it
//   lists, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
//   Upgrade. Expect is stripped too: Node already answered "100 Continue".
// - Websocket upgrades never reach this handler: the listeners send them to
//   upgrade.ts, which tunnels them. Other Upgrade requests (h2c, unknown
//   protocols) are forwarded as plain requests without Upgrade, which RFC 9110
//   §7.8 allows; the upstream answers them like any other request.
// - 1xx interim responses from the upstream (e.g. 103) are not relayed.
//   Response trailers are relayed to HTTP/2 clients (gRPC's grpc-status) and
//   dropped for HTTP/1.1 clients (TE/Trailer are hop-by-hop there).
// - HTTP/2 clients (https listeners, Node's compatibility API): :authority
//   is the Host for routing and upstream (a Host header that differs is a
//   400); pseudo-headers are not forwarded; `te: trailers` is; the body is
//   whatever DATA frames follow unless HEADERS ended the stream. Response
//   headers are held until the first body byte, the end, or the next turn of
//   the event loop, so a "trailers-only" answer (gRPC errors) stays a single
//   HEADERS frame with END_STREAM (holdHeaders below). The HTTP/1.1 path
//   pays one boolean test per step for this, no allocation.
// - Upstreams speak what their cluster's protocol says (appProtocol):
//   HTTP/1.1, h2c or TLS (upstream/pools.ts); the client's protocol and the
//   upstream's are independent (HTTP/2 client to HTTP/1.1 upstream and back).
// - Errors: 404 no route, 503 no endpoint, 502 connect failure or invalid
//   response, 504 no response headers within the route's timeoutMs, counted
//   from when the request arrived (time queued for an upstream connection
//   counts). Once the response has started, a failure cuts the client
//   connection, and so does a client that reads nothing for sendTimeoutMs.
// - Without a route retry policy, a request is retried on another endpoint (at
//   most 2 more) only when the connection failed before any byte was sent
//   (refused, unreachable, connect timeout): then no body byte was consumed
//   either, so it is always safe. A route's `retry` policy and
//   `requestTimeoutMs` change this (rules in retry.ts): each attempt then has
//   its own timeout (perTryTimeoutMs, else timeoutMs, from its dispatch),
//   requestTimeoutMs bounds the whole exchange from arrival (504 before
//   response headers, a cut after), and a retried status response is
//   discarded (its connection closed), never relayed. For such a route (or
//   one that mirrors) a body of known length up to replayBodyLimit (64 KiB)
//   is read whole before the first attempt, so every attempt and the mirror
//   send the same bytes; larger or chunked bodies stream (and are retried
//   only after connect failures, and not mirrored).
// - Route actions (rules in filters.ts and upstream/split.ts): `redirect`
//   answers without going upstream; `backends` splits by weight (500 for an
//   unresolved share or all weights 0); `rewrite` and `requestHeaders` change
//   the final upstream request, forwarding headers included; `responseHeaders`
//   edits upstream responses and redirects, not the proxy's own errors;
//   `mirror` sends a fire-and-forget copy of requests without a body or with
//   a buffered one to another cluster after the request is dispatched (rules
//   in mirror.ts).
// Everything up to "which endpoint, which path, which headers" is decided in
// decide.ts, shared with websocket handshakes (upgrade.ts); this file carries
// the decision out.
import type { ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Dispatcher } from 'undici';
import type { BlockList } from 'node:net';
import type { HeaderFilter, RetryPolicy } from '../api/snapshot.ts';
import { decide } from './decide.ts';
import type { ClientProtocol, ClientRequest, ClientResponse } from './decide.ts';
import { ClientError, sendClientError } from './errors.ts';
import { Attempt, classify, CONNECT_FAILURES, errorCode } from './attempt.ts';
import type { AttemptOwner } from './attempt.ts';
import { applyHeaderFilter } from './filters.ts';
import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import { startMirror } from './mirror.ts';
import { downstreamHeaders } from './response-headers.ts';
import { backoffDelay, RESET_CODES, RetryBudget, retryable } from './retry.ts';
import type { AttemptOutcome } from './retry.ts';
import type { RoutingTable } from './routing/table.ts';
import type { ClusterBalancer, UpstreamEndpoint } from './upstream/balancer.ts';

/** Re-exported: listeners.ts names the protocol from here, where handlers are typed. */
export type { ClientProtocol, ClientRequest, ClientResponse } from './decide.ts';
/** Re-exported: upgrade.ts relays a 101's headers the same way. */
export { downstreamHeaders } from './response-headers.ts';

/**
 * What a listener calls per request. `table`, when given, is routed on
 * instead of the current one (a listener bound for a snapshot not swapped in
 * yet, listeners.ts); `trusted` are the listener's trusted proxies
 * (client-address.ts).
 */
export type ProxyHandler = (req: ClientRequest, res: ClientResponse, proto: ClientProtocol, table?: RoutingTable, trusted?: BlockList) => void;

/** Options of createForwarder. */
export interface ForwarderOptions {
  /** The table to pin for a new request; undefined before the first apply (503). */
  readonly getTable: () => RoutingTable | undefined;
  /** Attempts per request including the first; only connect failures are retried. Default 3. */
  readonly maxAttempts?: number;
  /**
   * How long a client may leave a response unread (nginx's send_timeout,
   * default 60 s) before both sides are cut: a stalled reader must not hold
   * an upstream connection forever.
   */
  readonly sendTimeoutMs?: number;
  /** Debug log of mirrored copies (failures and timeouts are reported nowhere else). Default silent. */
  readonly log?: Logger;
  /**
   * Largest request body (by Content-Length) buffered so that a route's retry
   * policy or mirror can send it again. Larger or chunked bodies stream to the
   * upstream, and are then retried only after connect failures and not
   * mirrored. Default 64 KiB.
   */
  readonly replayBodyLimit?: number;
}

/**
 * Upper bound of silence between two body chunks from the upstream when the
 * route sets no idleTimeoutMs (Gateway API timeouts.idle); Envoy's stream idle
 * timeout is 5 min too: long polls and event streams live, a dead upstream is
 * noticed. Once the response has started, expiry cuts the client connection
 * (the body is truncated). Websocket tunnels (tunnel.ts) are not bounded by it.
 */
const UPSTREAM_BODY_IDLE_MS = 300_000;

/** Builds the data-plane request handler over a table source (normally the applier). */
export function createForwarder(options: ForwarderOptions): ProxyHandler {
  const maxAttempts = options.maxAttempts ?? 3;
  const sendTimeoutMs = options.sendTimeoutMs ?? 60_000;
  const log = options.log ?? silentLogger;
  const budget = new RetryBudget();
  const replayBodyLimit = options.replayBodyLimit ?? 64 * 1024;
  return (req, res, proto, pinned, trusted) => {
    // One load per request: everything below uses this table, whatever swaps.
    const d = decide(pinned ?? options.getTable(), req, proto, trusted);
    if (d.kind === 'error') return sendClientError(res, d.error);
    if (d.kind === 'redirect') {
      // A route's redirect: answered here, nothing goes upstream. (Both
      // response kinds take writeHead(status, flat list); only their types differ.)
      (res as ServerResponse).writeHead(d.status, d.headers);
      res.end();
      return;
    }
    const table = d.table;
    table.enter();
    let exchange: Exchange | undefined;
    res.once('close', () => {
      exchange?.clientClosed();
      table.leave();
    });
    const method = req.method ?? 'GET';
    /** Sends the request upstream once its body is known: none, buffered (replayable) or streamed. */
    const start = (body: Buffer | ClientRequest | null): void => {
      // The client left while its body was being buffered.
      if (res.destroyed) return;
      const streamed = body !== null && !Buffer.isBuffer(body);
      exchange = new Exchange(req, res, d.cluster, {
        dispatch: {
          path: d.path,
          method,
          headers: d.headers,
          body,
          headersTimeout: d.retry?.perTryTimeoutMs ?? d.timeoutMs,
          bodyTimeout: d.idleTimeoutMs ?? UPSTREAM_BODY_IDLE_MS,
        },
        responseHeaders: d.responseHeaders,
        maxAttempts,
        timeoutMs: d.timeoutMs,
        requestTimeoutMs: d.requestTimeoutMs,
        retry: d.retry,
        hasBody: streamed,
        sendTimeoutMs,
        budget,
      });
      exchange.send(d.endpoint);
      // After the main dispatch, never awaited; a streamed body is not copied (mirror.ts).
      if (d.mirror !== undefined && !streamed) startMirror(table, d.mirror, { method, path: d.path, headers: d.headers, body, timeoutMs: d.timeoutMs }, log);
    };
    if (!hasBody(req)) return start(null);
    // A body is buffered only when a retry policy or a mirror could send it
    // again, and only when small and of known length; otherwise it streams.
    if ((d.retry === undefined && d.mirror === undefined) || !replayableLength(req, replayBodyLimit)) return start(req);
    readBody(req, start);
  };
}

/**
 * Whether the body can be buffered for a replay: a Content-Length of at most
 * `limit` (and no Transfer-Encoding: the parser refused both together, but
 * chunked alone has no length to bound in advance).
 */
function replayableLength(req: ClientRequest, limit: number): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return false;
  const n = Number(req.headers['content-length']);
  return Number.isInteger(n) && n >= 0 && n <= limit;
}

/** Reads the whole body (the parser bounds it by Content-Length); an aborted request never calls `done`. */
function readBody(req: ClientRequest, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    chunks.push(c);
    size += c.length;
  });
  req.once('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
}

/** Whether the request carries a body to stream (Node has already enforced framing). */
function hasBody(req: ClientRequest): boolean {
  // HTTP/2 frames the body itself: there is one unless HEADERS ended the stream.
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

/** What an Exchange needs beyond the request, the response and the cluster. */
interface ExchangeOptions {
  readonly dispatch: Dispatcher.DispatchOptions;
  readonly responseHeaders: HeaderFilter | undefined;
  /** Attempts including the first when the route has no retry policy (connect failures only). */
  readonly maxAttempts: number;
  /** The route's timeoutMs: per attempt (from arrival when there is neither policy nor requestTimeoutMs). */
  readonly timeoutMs: number;
  readonly requestTimeoutMs: number | undefined;
  readonly retry: RetryPolicy | undefined;
  readonly hasBody: boolean;
  readonly sendTimeoutMs: number;
  readonly budget: RetryBudget;
}

/** One client request relayed to one or more endpoints in turn (attempts, retry.ts). */
class Exchange implements AttemptOwner {
  readonly #req: ClientRequest;
  readonly #res: ClientResponse;
  /** The client speaks HTTP/2: response headers are held briefly and trailers relayed (responseStarted). */
  readonly #h2: boolean;
  readonly #cluster: ClusterBalancer;
  readonly #o: ExchangeOptions;
  readonly #tried = new Set<UpstreamEndpoint>();
  /** Fires 504 (or cuts a started response when requestTimeoutMs is set). */
  #deadline: NodeJS.Timeout | undefined;
  /** The current attempt's own timeout (with a policy or requestTimeoutMs). */
  #attemptTimer: NodeJS.Timeout | undefined;
  /** The wait before the next attempt. */
  #backoff: NodeJS.Timeout | undefined;
  /** Fires when a paused client has not drained for sendTimeoutMs. */
  #sendTimer: NodeJS.Timeout | undefined;
  /** We answered (504) or gave up: whatever undici reports later is ignored. */
  #abandoned = false;
  #current: Attempt | undefined;
  #retries = 0;
  /** A retry slot of the budget is held (released when the next outcome is known or at the end). */
  #holdingRetry = false;
  #responded = false;
  #clientGone = false;
  #waitingDrain = false;

  constructor(req: ClientRequest, res: ClientResponse, cluster: ClusterBalancer, o: ExchangeOptions) {
    this.#req = req;
    this.#res = res;
    this.#h2 = req.httpVersionMajor === 2;
    this.#cluster = cluster;
    this.#o = o;
    o.budget.requestStarted(cluster.key);
  }

  /** Starts one attempt on `endpoint`. */
  send(endpoint: UpstreamEndpoint): void {
    const o = this.#o;
    // undici's headersTimeout starts once the request is written; a request
    // queued behind busy connections needs its own deadline.
    const overall = o.requestTimeoutMs ?? (o.retry === undefined ? o.timeoutMs : undefined);
    if (overall !== undefined) this.#deadline ??= setTimeout(() => this.#giveUp(), overall);
    this.#tried.add(endpoint);
    const attempt = new Attempt(this, endpoint);
    this.#current = attempt;
    if (o.retry !== undefined || o.requestTimeoutMs !== undefined) {
      this.#attemptTimer = setTimeout(() => this.#attemptTimedOut(attempt), o.retry?.perTryTimeoutMs ?? o.timeoutMs);
    }
    try {
      endpoint.dispatcher.dispatch(o.dispatch, attempt);
    } catch (err) {
      // Synchronous refusals are argument errors (a header value undici
      // rejects that Node's parser let through): the request itself is bad.
      void err;
      this.#clearTimers();
      sendClientError(this.#res, ClientError.BAD_REQUEST);
    }
  }

  /** The client response closed (finished, or the client went away). */
  clientClosed(): void {
    this.#clearTimers();
    this.#releaseRetry();
    this.#o.budget.requestEnded(this.#cluster.key);
    if (this.#res.writableFinished) return;
    this.#clientGone = true;
    this.#current?.controller?.abort(new Error('client disconnected'));
  }

  #clearTimers(): void {
    clearTimeout(this.#deadline);
    clearTimeout(this.#attemptTimer);
    clearTimeout(this.#backoff);
    clearTimeout(this.#sendTimer);
  }

  #releaseRetry(): void {
    if (!this.#holdingRetry) return;
    this.#holdingRetry = false;
    this.#o.budget.retryEnded(this.#cluster.key);
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
    const o = this.#o;
    const p = o.retry;
    if (o.hasBody && this.#req.destroyed) return false;
    if (p === undefined) {
      // Without a policy: connect failures only, at once, on an endpoint not tried yet.
      if (outcome !== 'connect-failure' || this.#tried.size >= o.maxAttempts) return false;
      const next = this.#cluster.pickRetry(this.#tried);
      if (next === undefined) return false;
      clearTimeout(this.#attemptTimer);
      this.send(next);
      return true;
    }
    if (this.#retries >= p.attempts || !retryable(p, outcome, o.hasBody)) return false;
    if (!o.budget.tryRetry(this.#cluster.key)) return false;
    this.#holdingRetry = true;
    const next = this.#cluster.pickRetry(this.#tried) ?? this.#current?.endpoint;
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
    if (statusCode < 200 || !this.#live(a)) return;
    clearTimeout(this.#attemptTimer);
    if (this.#o.retry !== undefined && this.#retryAfter(statusCode)) {
      // Discarded, never relayed: the response body is dropped with its connection.
      controller.abort(new Error('retrying'));
      return;
    }
    if (this.#o.requestTimeoutMs === undefined) clearTimeout(this.#deadline);
    const res = this.#res;
    try {
      const list = applyHeaderFilter(downstreamHeaders(controller.rawHeaders, headers), this.#o.responseHeaders);
      if (this.#h2) holdHeaders(res as Http2ServerResponse, statusCode, list);
      else (res as ServerResponse).writeHead(statusCode, list);
    } catch {
      // Node refused a header the upstream sent (invalid characters): answer
      // 502 with none of them.
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      controller.abort(new Error('invalid upstream response headers'));
      sendClientError(res, ClientError.UPSTREAM_INVALID);
      return;
    }
    this.#responded = true;
  }

  responseData(a: Attempt, controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#live(a)) return;
    if (!(this.#res as ServerResponse).write(chunk) && !this.#waitingDrain) {
      // Backpressure: stop reading the upstream socket until the client drains,
      // but not forever: undici's body timeout is suspended while paused.
      this.#waitingDrain = true;
      controller.pause();
      this.#sendTimer = setTimeout(() => {
        this.#abandoned = true;
        controller.abort(new Error('client send timeout'));
        this.#res.destroy();
      }, this.#o.sendTimeoutMs);
      this.#res.once('drain', () => {
        clearTimeout(this.#sendTimer);
        this.#waitingDrain = false;
        controller.resume();
      });
    }
  }

  responseEnded(a: Attempt, trailers: Record<string, string | string[] | undefined>): void {
    if (!this.#live(a)) return;
    this.#clearTimers();
    if (this.#h2) relayTrailers(this.#res as Http2ServerResponse, trailers);
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

/**
 * Sets an HTTP/2 client's response status and headers without sending them
 * yet: the HEADERS frame goes out with the first body chunk, or at the end,
 * or on the next turn of the event loop, whichever comes first. Waiting until
 * the end is what lets an upstream's "trailers-only" response (gRPC's answer
 * without a message: one HEADERS frame with grpc-status and END_STREAM) reach
 * the client as one HEADERS frame with END_STREAM too, which gRPC clients
 * require; the next-turn flush keeps a streaming response's headers from
 * waiting for its first message. Node validates each header here, so a bad
 * one still throws before anything was sent (a 502 in responseStarted).
 */
function holdHeaders(res: Http2ServerResponse, statusCode: number, list: string[]): void {
  res.statusCode = statusCode;
  for (let i = 0; i < list.length; i += 2) res.appendHeader(list[i] as string, list[i + 1] as string);
  setImmediate(() => {
    // flushHeaders() is Node's (http2 compat), missing from @types/node.
    if (!res.headersSent && !res.writableEnded && !res.stream.destroyed) (res as unknown as { flushHeaders(): void }).flushHeaders();
  });
}

/**
 * The upstream's trailers for an HTTP/2 client (gRPC's grpc-status and
 * grpc-message). Names HTTP/2 forbids (connection-specific ones) or Node
 * refuses are left out, one at a time: the rest still go.
 */
function relayTrailers(res: Http2ServerResponse, trailers: Record<string, string | string[] | undefined>): void {
  const out: Record<string, string | string[]> = {};
  let any = false;
  for (const name of Object.keys(trailers)) {
    const v = trailers[name];
    if (v === undefined || DROP_TRAILERS.has(name)) continue;
    out[name] = v;
    any = true;
  }
  if (any) res.addTrailers(out);
}

// Hop-by-hop names (never in HTTP/2) and pseudo-headers.
const DROP_TRAILERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'host']);
