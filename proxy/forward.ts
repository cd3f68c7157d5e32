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
// - Response header names reach the client lower-case, as HAProxy and Envoy
//   send them (undici's parsed names; field names are case-insensitive),
//   repeated fields in their order; request headers keep the client's spelling.
// - Websocket upgrades never reach this handler: the listeners send them to
//   upgrade.ts, which tunnels them. Other Upgrade requests (h2c, unknown
//   protocols) are forwarded as plain requests without Upgrade, which RFC 9110
//   §7.8 allows; the upstream answers them like any other request.
// - 1xx interim responses from the upstream (e.g. 103) are not relayed.
//   Response trailers are relayed to HTTP/2 clients (gRPC's grpc-status) and
//   dropped for HTTP/1.1 clients (TE/Trailer are hop-by-hop there).
// - HTTP/2 clients (https listeners, Node's stream API: h2-stream.ts): :authority
//   is the Host for routing and upstream (a Host header that differs is a
//   400); pseudo-headers are not forwarded; `te: trailers` is; the body is
//   whatever DATA frames follow unless HEADERS ended the stream. Response
//   headers are held until the first body byte, the end, or the next turn of
//   the event loop, so a "trailers-only" answer (gRPC errors) stays a single
//   HEADERS frame with END_STREAM (h2-stream.ts H2Response).
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
import type { BlockList } from 'node:net';
import type { Readable } from 'node:stream';
import type { H2Request } from './h2-stream.ts';
import { decide } from './decide.ts';
import type { ClientProtocol, ClientRequest, ClientResponse, DecisionForward } from './decide.ts';
import { sendClientError } from './errors.ts';
import { Exchange } from './exchange.ts';
import type { ExchangeShared } from './exchange.ts';
import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import { startMirror } from './mirror.ts';
import { RetryBudget } from './retry.ts';
import type { RoutingTable } from './routing/table.ts';

/** Re-exported: listeners.ts names the protocol from here, where handlers are typed. */
export type { ClientProtocol, ClientRequest, ClientResponse } from './decide.ts';

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

/** Builds the data-plane request handler over a table source (normally the applier). */
export function createForwarder(options: ForwarderOptions): ProxyHandler {
  const shared: ExchangeShared = {
    maxAttempts: options.maxAttempts ?? 3,
    sendTimeoutMs: options.sendTimeoutMs ?? 60_000,
    budget: new RetryBudget(),
  };
  const log = options.log ?? silentLogger;
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
    if (!hasBody(req)) {
      // The common case, without the closure a body needs ('close' is
      // emitted once: on(), not once(), spares the wrapper).
      const exchange = start(req, res, d, null, shared, log);
      res.on('close', () => {
        exchange?.clientClosed();
        table.leave();
      });
      return;
    }
    let exchange: Exchange | undefined;
    res.on('close', () => {
      exchange?.clientClosed();
      table.leave();
    });
    // A body is buffered only when a retry policy or a mirror could send it
    // again, and only when small and of known length; otherwise it streams.
    if ((d.retry === undefined && d.mirror === undefined) || !replayableLength(req, replayBodyLimit)) {
      exchange = start(req, res, d, bodyOf(req), shared, log);
      return;
    }
    readBody(bodyOf(req), (body) => { exchange = start(req, res, d, body, shared, log); });
  };
}

/** Sends the request upstream once its body is known: none, buffered (replayable) or streamed. */
function start(req: ClientRequest, res: ClientResponse, d: DecisionForward, body: Buffer | Readable | null, shared: ExchangeShared, log: Logger): Exchange | undefined {
  // The client left while its body was being buffered.
  if (res.destroyed) return undefined;
  const streamed = body !== null && !Buffer.isBuffer(body);
  const method = req.method ?? 'GET';
  const exchange = new Exchange(req, res, d, {
    path: d.path,
    method,
    headers: d.headers,
    body,
    // Both bounds are the Exchange's own timers (exchange.ts: UNDICI_TIMERS_OFF).
    headersTimeout: 0,
    bodyTimeout: 0,
  }, streamed, shared);
  exchange.send(d.endpoint);
  // After the main dispatch, never awaited; a streamed body is not copied (mirror.ts).
  if (d.mirror !== undefined && !streamed) startMirror(d.table, d.mirror, { method, path: d.path, headers: d.headers, body, timeoutMs: d.timeoutMs }, log);
  return exchange;
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
function readBody(body: Readable, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  body.on('data', (c: Buffer) => {
    chunks.push(c);
    size += c.length;
  });
  body.once('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
}

/** The request body as a stream: an HTTP/1.1 request is one, an HTTP/2 request's is its stream. */
function bodyOf(req: ClientRequest): Readable {
  return req.httpVersionMajor === 2 ? (req as H2Request).body : (req as Exclude<ClientRequest, H2Request>);
}

/** Whether the request carries a body to stream (Node has already enforced framing). */
function hasBody(req: ClientRequest): boolean {
  // HTTP/2 frames the body itself: there is one unless HEADERS ended the stream.
  if (req.httpVersionMajor === 2) return !(req as H2Request).stream.endAfterHeaders;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}
