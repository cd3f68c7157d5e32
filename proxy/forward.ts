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
// - 1xx interim responses from the upstream (e.g. 103) are not relayed;
//   response trailers are dropped (TE/Trailer are hop-by-hop here).
// - Errors: 404 no route, 503 no endpoint, 502 connect failure or invalid
//   response, 504 no response headers within the route's timeoutMs, counted
//   from when the request arrived (time queued for an upstream connection
//   counts). Once the response has started, a failure cuts the client
//   connection, and so does a client that reads nothing for sendTimeoutMs.
// - A request is retried on another endpoint (at most 2 more) only when the
//   connection failed before any byte was sent (refused, unreachable, connect
//   timeout): then no body byte was consumed either, so it is always safe.
// - Route actions (rules in filters.ts and upstream/split.ts): `redirect`
//   answers without going upstream; `backends` splits by weight (500 for an
//   unresolved share or all weights 0); `rewrite` and `requestHeaders` change
//   the final upstream request, forwarding headers included; `responseHeaders`
//   edits upstream responses and redirects, not the proxy's own errors;
//   `mirror` sends a fire-and-forget copy of requests without a body to
//   another cluster after the request is dispatched (rules in mirror.ts).
// Everything up to "which endpoint, which path, which headers" is decided in
// decide.ts, shared with websocket handshakes (upgrade.ts); this file carries
// the decision out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { HeaderFilter } from '../api/snapshot.ts';
import { connectionTokens, decide } from './decide.ts';
import type { ClientProtocol } from './decide.ts';
import { ClientError, sendClientError } from './errors.ts';
import type { ClientErrorKind } from './errors.ts';
import { applyHeaderFilter } from './filters.ts';
import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import { startMirror } from './mirror.ts';
import type { RoutingTable } from './routing/table.ts';
import type { ClusterBalancer, UpstreamEndpoint } from './upstream/balancer.ts';

/** Re-exported: listeners.ts names the protocol from here, where handlers are typed. */
export type { ClientProtocol } from './decide.ts';

/** What a listener calls per request. */
export type ProxyHandler = (req: IncomingMessage, res: ServerResponse, proto: ClientProtocol) => void;

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
}

/**
 * Upper bound of silence between two body chunks from the upstream (Envoy's
 * stream idle timeout is 5 min too): long polls and event streams live, a
 * dead upstream is noticed.
 */
const UPSTREAM_BODY_IDLE_MS = 300_000;

/** Builds the data-plane request handler over a table source (normally the applier). */
export function createForwarder(options: ForwarderOptions): ProxyHandler {
  const maxAttempts = options.maxAttempts ?? 3;
  const sendTimeoutMs = options.sendTimeoutMs ?? 60_000;
  const log = options.log ?? silentLogger;
  return (req, res, proto) => {
    // One load per request: everything below uses this table, whatever swaps.
    const d = decide(options.getTable(), req, proto);
    if (d.kind === 'error') return sendClientError(res, d.error);
    if (d.kind === 'redirect') {
      // A route's redirect: answered here, nothing goes upstream.
      res.writeHead(d.status, d.headers);
      res.end();
      return;
    }
    const table = d.table;
    table.enter();
    const method = req.method ?? 'GET';
    const body = hasBody(req) ? req : null;
    const exchange = new Exchange(req, res, d.cluster, {
      path: d.path,
      method,
      headers: d.headers,
      body,
      headersTimeout: d.timeoutMs,
      bodyTimeout: UPSTREAM_BODY_IDLE_MS,
    }, d.responseHeaders, maxAttempts, d.timeoutMs, sendTimeoutMs);
    res.once('close', () => {
      exchange.clientClosed();
      table.leave();
    });
    exchange.send(d.endpoint);
    // After the main dispatch, never awaited; a body is not copied (mirror.ts).
    if (d.mirror !== undefined && body === null) startMirror(table, d.mirror, { method, path: d.path, headers: d.headers, timeoutMs: d.timeoutMs }, log);
  };
}

// Hop-by-hop headers (RFC 9110 §7.6.1), never relayed to the client. The
// request side's list is in decide.ts (upstreamHeaders).
const DROP_RESPONSE = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/** Whether the request carries a body to stream (Node has already enforced framing). */
function hasBody(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

/** The response headers relayed to the client, as flat [name, value, ...] (upgrade.ts relays a 101's the same way). */
export function downstreamHeaders(raw: DispatcherRawHeaders, parsed: Record<string, string | string[] | undefined>): string[] {
  const listed = connectionTokens(parsed.connection);
  const out: string[] = [];
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = String(raw[i] instanceof Buffer ? (raw[i] as Buffer).toString('latin1') : raw[i]);
      const lower = name.toLowerCase();
      if (DROP_RESPONSE.has(lower) || listed?.has(lower)) continue;
      const v = raw[i + 1];
      out.push(name, v instanceof Buffer ? v.toString('latin1') : String(v));
    }
    return out;
  }
  for (const [name, v] of Object.entries(parsed)) {
    if (v === undefined || DROP_RESPONSE.has(name) || listed?.has(name)) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push(name, one);
  }
  return out;
}

type DispatcherRawHeaders = Dispatcher.DispatchController['rawHeaders'];

// Errors raised before the connection existed: nothing was written, so another
// endpoint may be tried whatever the method and body.
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL',
]);

// undici's codes for "the upstream sent something unusable" (as opposed to "it
// went away"). undici reports llhttp failures as HTTPParserError (code
// HPE_*; classify() also checks the name) and enforces the limits and framing
// itself with UND_ERR_* codes that Node's parser never raises. upgrade.ts reads
// responses with Node's own parser, whose failures are all HPE_*, so its test
// is /^HPE_/: the two lists differ because the parsers do.
const INVALID_RESPONSE = new Set([
  'HPE_INVALID_CONSTANT', 'UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE',
]);

function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}

/** The client response for an upstream failure that happened before the response started. */
function classify(err: Error): ClientErrorKind {
  const code = errorCode(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return ClientError.UPSTREAM_TIMEOUT;
  if (INVALID_RESPONSE.has(code) || err.name === 'HTTPParserError') return ClientError.UPSTREAM_INVALID;
  return ClientError.UPSTREAM_CONNECT;
}

/** One client request relayed to one or more endpoints in turn; the undici handler. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #cluster: ClusterBalancer;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #responseHeaders: HeaderFilter | undefined;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  readonly #sendTimeoutMs: number;
  readonly #tried = new Set<UpstreamEndpoint>();
  /** Fires 504 when no response headers arrived in time, queueing included. */
  #deadline: NodeJS.Timeout | undefined;
  /** Fires when a paused client has not drained for sendTimeoutMs. */
  #sendTimer: NodeJS.Timeout | undefined;
  /** We answered (504) or gave up: whatever undici reports later is ignored. */
  #abandoned = false;
  #controller: Dispatcher.DispatchController | undefined;
  /** The current attempt reached a connection and began writing (body may be consumed). */
  #started = false;
  #responded = false;
  #clientGone = false;
  #waitingDrain = false;

  constructor(
    req: IncomingMessage, res: ServerResponse, cluster: ClusterBalancer, opts: Dispatcher.DispatchOptions,
    responseHeaders: HeaderFilter | undefined, maxAttempts: number, timeoutMs: number, sendTimeoutMs: number,
  ) {
    this.#req = req;
    this.#res = res;
    this.#cluster = cluster;
    this.#opts = opts;
    this.#responseHeaders = responseHeaders;
    this.#maxAttempts = maxAttempts;
    this.#timeoutMs = timeoutMs;
    this.#sendTimeoutMs = sendTimeoutMs;
  }

  /** Starts one attempt on `endpoint`. */
  send(endpoint: UpstreamEndpoint): void {
    // undici's headersTimeout starts once the request is written; a request
    // queued behind busy connections needs its own deadline.
    this.#deadline ??= setTimeout(() => this.#giveUp(), this.#timeoutMs);
    this.#tried.add(endpoint);
    this.#controller = undefined;
    this.#started = false;
    try {
      endpoint.dispatcher.dispatch(this.#opts, this);
    } catch (err) {
      // Synchronous refusals are argument errors (a header value undici
      // rejects that Node's parser let through): the request itself is bad.
      void err;
      sendClientError(this.#res, ClientError.BAD_REQUEST);
    }
  }

  /** The client response closed (finished, or the client went away). */
  clientClosed(): void {
    this.#clearTimers();
    if (this.#res.writableFinished) return;
    this.#clientGone = true;
    this.#controller?.abort(new Error('client disconnected'));
  }

  #clearTimers(): void {
    clearTimeout(this.#deadline);
    clearTimeout(this.#sendTimer);
  }

  // The deadline passed before response headers: answer 504 now, and abort the
  // attempt (or, if it is still queued, abort it as soon as it starts).
  #giveUp(): void {
    if (this.#responded || this.#clientGone) return;
    this.#abandoned = true;
    this.#controller?.abort(new Error('upstream timeout'));
    sendClientError(this.#res, ClientError.UPSTREAM_TIMEOUT);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    this.#started = true;
    if (this.#clientGone || this.#abandoned) controller.abort(new Error(this.#abandoned ? 'upstream timeout' : 'client disconnected'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200 || this.#clientGone || this.#abandoned) return;
    clearTimeout(this.#deadline);
    const res = this.#res;
    try {
      res.writeHead(statusCode, applyHeaderFilter(downstreamHeaders(controller.rawHeaders, headers), this.#responseHeaders));
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

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#clientGone || this.#abandoned) return;
    if (!this.#res.write(chunk) && !this.#waitingDrain) {
      // Backpressure: stop reading the upstream socket until the client drains,
      // but not forever: undici's body timeout is suspended while paused.
      this.#waitingDrain = true;
      controller.pause();
      this.#sendTimer = setTimeout(() => {
        this.#abandoned = true;
        controller.abort(new Error('client send timeout'));
        this.#res.destroy();
      }, this.#sendTimeoutMs);
      this.#res.once('drain', () => {
        clearTimeout(this.#sendTimer);
        this.#waitingDrain = false;
        controller.resume();
      });
    }
  }

  onResponseEnd(): void {
    this.#clearTimers();
    if (this.#clientGone || this.#abandoned) return;
    this.#res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#clientGone || this.#abandoned) return;
    if (this.#responded) {
      // Mid-body failure: cut the client connection so the truncation is visible.
      this.#res.destroy();
      return;
    }
    if (!this.#started && CONNECT_FAILURES.has(errorCode(err)) && this.#tried.size < this.#maxAttempts && !this.#req.destroyed) {
      const next = this.#cluster.pickRetry(this.#tried);
      if (next !== undefined) {
        this.send(next);
        return;
      }
    }
    this.#clearTimers();
    sendClientError(this.#res, classify(err));
  }
}
