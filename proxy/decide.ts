// The routing decision, written once for the two ways a request enters the
// proxy: plain requests (forward.ts) and websocket handshakes (upgrade.ts).
// Both need the same answer to "what does this request get?", and two copies
// of it drift apart (a check added to one and not the other is a way around
// it). What differs between them is only how the answer is carried out:
// forward.ts relays through an undici pool, upgrade.ts opens its own socket.
//
// decide() does not touch the request or its socket and does not pin the
// table (the caller calls table.enter() once it acts on a 'forward'). Its only
// side effects are the balancers' own: a weighted split and the cluster's
// round-robin each advance by one pick, exactly as when the callers did it.
//
// Steps, in order; the first that fails is the answer:
// 1. a table has been applied (else 503 not configured), and an HTTP/1
//    request does not claim version 2 (else 400);
// 2. the target is origin-form ("/path?query"), else 400;
// 3. Host, if sent, is host[:port], else 400;
// 4. the upstream header list can be built (one Host at most), else 400;
// 5. table.match() on host, normalised path, method, headers and query
//    (else 404);
// 6. a redirect route is answered without going upstream;
// 7. weighted backends pick a cluster (500 if it does not resolve), else the
//    route's own cluster; the cluster picks an endpoint (else 503);
// 8. the upstream path (rewrite) and request headers (filters) are built.
// The route's mirror is handed over as written: forward.ts carries it out
// (mirror.ts), upgrade.ts ignores it (handshakes are not mirrored).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NetRequest, NetResponse } from './http1/messages.ts';
import type { H2Request, H2Response } from './h2-stream.ts';
import type { HeaderFilter, Mirror, RetryPolicy, Route } from '../api/snapshot.ts';
import type { BlockList } from 'node:net';
import { peerAddress, realClient } from './client-address.ts';
import { ClientError } from './errors.ts';
import { lowerName } from './http1/llhttp.ts';
import type { ClientErrorKind } from './errors.ts';
import { applyHeaderFilter, redirectLocation, upstreamPath, upstreamRequestHeaders } from './filters.ts';
import { parseRequestTarget } from './routing/paths.ts';
import type { RoutingTable } from './routing/table.ts';
import type { ClusterBalancer, UpstreamEndpoint } from './upstream/balancer.ts';
import { pickBackend } from './upstream/split.ts';

/** The protocol a listener speaks to clients, reported in X-Forwarded-Proto and used by redirects. */
export type ClientProtocol = 'http' | 'https';

/**
 * A client request as a listener hands it over: HTTP/1.1 (node:http, or the
 * net-level engine's NetRequest, http1/), or HTTP/2 (https listeners, ALPN
 * h2; Node's stream API, h2-stream.ts). Tell them apart with
 * `httpVersionMajor === 2`.
 */
export type ClientRequest = IncomingMessage | NetRequest | H2Request;

/** The response to a ClientRequest, of the same protocol. */
export type ClientResponse = ServerResponse | NetResponse | H2Response;

/**
 * What a request gets; the callers only carry it out. A tagged union so each
 * caller must handle every outcome (the type checker sees a missing kind).
 */
export type Decision = DecisionError | DecisionRedirect | DecisionForward;

/** One of the proxy's own error answers; nothing goes upstream. */
export interface DecisionError {
  readonly kind: 'error';
  readonly error: ClientErrorKind;
}

/** A redirect route's answer; nothing goes upstream. */
export interface DecisionRedirect {
  readonly kind: 'redirect';
  readonly status: number;
  /** Flat [name, value, ...]: Location and `content-length: 0`, the route's response filter applied. */
  readonly headers: string[];
}

/** Send the request to `endpoint` of `cluster`. */
export interface DecisionForward {
  readonly kind: 'forward';
  /** The snapshot route matched (its identity outlives the request: upgrade.ts re-matches tunnels). */
  readonly route: Route;
  /** The raw query the route was matched with, "" for none. */
  readonly query: string;
  /** The table decided in (the caller's), for the caller to pin with enter()/leave() while it routes. */
  readonly table: RoutingTable;
  /** The cluster the endpoint came from; retries pick from it too. */
  readonly cluster: ClusterBalancer;
  /** The first endpoint to try. */
  readonly endpoint: UpstreamEndpoint;
  /** The upstream request target: the (rewritten) normalised path plus the query as sent. */
  readonly path: string;
  /** The normalised path the route matched (before any rewrite); a tunnel records it. */
  readonly routedPath: string;
  /** Flat [name, value, ...] for the upstream: forwarding headers set, the route's request filter applied. */
  readonly headers: string[];
  /** The route's bound on waiting for response headers, counted from arrival. */
  readonly timeoutMs: number;
  /** The route's bound on the whole exchange, retries included, counted from arrival. */
  readonly requestTimeoutMs: number | undefined;
  /** The route's longest quiet time between two chunks of the response body; undefined: the proxy's default. */
  readonly idleTimeoutMs: number | undefined;
  /** The route's retry policy (proxy/retry.ts); undefined: connect-failure retries only. */
  readonly retry: RetryPolicy | undefined;
  /** The route's filter for upstream response headers. */
  readonly responseHeaders: HeaderFilter | undefined;
  /** The route's mirror, if any (only plain forwarded requests without a body are mirrored: mirror.ts). */
  readonly mirror: Mirror | undefined;
}

/** Routes one request in `table` (the one the caller pinned for it); see the top of the file. */
export function decide(table: RoutingTable | undefined, req: ClientRequest, proto: ClientProtocol, trusted?: BlockList): Decision {
  if (table === undefined) return refused(ClientError.NOT_CONFIGURED);
  // "GET / HTTP/2.0" on an HTTP/1.1 connection: node:http parses it as
  // version 2, and everything below would take it for an HTTP/2 stream.
  if (req.httpVersionMajor === 2 && !('stream' in req)) return refused(ClientError.BAD_REQUEST);
  const target = parseRequestTarget(req.url);
  if (target === undefined) return refused(ClientError.BAD_REQUEST);
  // HTTP/2 names the host in :authority (a Host header is allowed too; when
  // both are sent upstreamHeaders() refuses them if they differ).
  const host = req.httpVersionMajor === 2 ? authority(req) : req.headers.host;
  if (host !== undefined && !validHost(host)) return refused(ClientError.BAD_REQUEST);
  const forwarded = upstreamHeaders(req, proto, trusted);
  if (forwarded === undefined) return refused(ClientError.BAD_REQUEST);
  const hit = table.match(host, target.path, { method: req.method, headers: req.headers, query: target.query });
  if (hit === undefined) return refused(ClientError.NO_ROUTE);
  const route = hit.route;
  if (route.redirect !== undefined) {
    const { localAddress, localPort } = req.socket;
    const location = redirectLocation(route.redirect, route.match, { proto, host, localAddress, localPort, ...target });
    const headers = applyHeaderFilter(['location', location, 'content-length', '0'], route.responseHeaders);
    return { kind: 'redirect', status: route.redirect.statusCode, headers };
  }
  const cluster = route.backends === undefined ? hit.cluster : pickBackend(route.backends, table);
  if (cluster === undefined && route.backends !== undefined) return refused(ClientError.NO_BACKEND);
  const endpoint = cluster?.pick();
  if (cluster === undefined || endpoint === undefined) return refused(ClientError.NO_ENDPOINT);
  const path = upstreamPath(route, target.path);
  return {
    kind: 'forward',
    route,
    query: target.query,
    table,
    cluster,
    endpoint,
    path: target.query === '' ? path : path + target.query,
    routedPath: target.path,
    headers: upstreamRequestHeaders(route, forwarded),
    timeoutMs: hit.timeoutMs,
    requestTimeoutMs: route.requestTimeoutMs,
    idleTimeoutMs: route.idleTimeoutMs,
    retry: route.retry,
    responseHeaders: route.responseHeaders,
    mirror: route.mirror,
  };
}

function refused(error: ClientErrorKind): DecisionError {
  return { kind: 'error', error };
}

// host[:port]: a DNS-ish name, an IPv4 address or a bracketed IPv6 literal.
// Anything else (userinfo "@", spaces, a second colon) could make the backend
// build links to another host (RFC 9112 §3.2: answer 400).
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::(\d{1,5}))?$/;

// The last Host found valid: a keep-alive client sends the same one on every
// request (the parser hands back the same string), and the regexp with its
// port capture was ~1 % of the proxy's user time per request.
let lastValidHost: string | undefined;

/** Whether a Host header value is host[:port] with a port in range (step 3; also used by tests). */
export function validHost(host: string): boolean {
  if (host === lastValidHost) return true;
  const m = HOST_RE.exec(host);
  const valid = m !== null && (m[1] === undefined || Number(m[1]) <= 65535);
  if (valid) lastValidHost = host;
  return valid;
}

/** The host an HTTP/2 request names: :authority, else a Host header. */
function authority(req: ClientRequest): string | undefined {
  const a = req.headers[':authority'];
  return typeof a === 'string' ? a : req.headers.host;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) plus the ones the proxy sets itself or
// that Node already acted on.
const DROP_REQUEST = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'expect', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded',
]);

/**
 * Tokens named by Connection headers, which are hop-by-hop too ("close" and
 * "keep-alive" are not header names). Exported because responses need the
 * same rule (response-headers.ts).
 */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  // The values nearly every request and response carry, without splitting.
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined;
  let out: Set<string> | undefined;
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(',')) {
      const token = t.trim().toLowerCase();
      if (token === '' || token === 'close' || token === 'keep-alive') continue;
      (out ??= new Set()).add(token);
    }
  }
  return out;
}

/**
 * The header list sent upstream before route filters, as flat [name, value,
 * ...] (the client's spelling and order kept; rules at the top of forward.ts).
 * Undefined means a request to refuse with 400: more than one Host header
 * (RFC 9112 §3.2), or an HTTP/2 Host header that differs from :authority
 * (RFC 9113 §8.3.1). Exported for header-level tests.
 *
 * HTTP/2 requests: pseudo-headers are not forwarded, :authority becomes Host
 * (first in the list, where HTTP/2 puts it), and `te: trailers` (the only TE
 * HTTP/2 allows, which gRPC servers expect) is forwarded because the proxy
 * relays response trailers to HTTP/2 clients. HTTP/1.1 clients' TE is
 * dropped: their trailers are not relayed (forward.ts).
 */
export function upstreamHeaders(req: ClientRequest, proto: ClientProtocol, trusted?: BlockList): string[] | undefined {
  const raw = req.rawHeaders;
  const listed = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let host: string | undefined;
  let xff: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    // 58 is ":": HTTP/2 pseudo-headers (Node already validated them).
    if (name.charCodeAt(0) === 58) {
      if (name !== ':authority') continue;
      if (host !== undefined && host !== value) return undefined;
      host = value;
      out.push('host', value);
      continue;
    }
    // The parser's names come back as the same strings: their lower case is memoized.
    const lower = lowerName(name);
    if (lower === 'host') {
      if (host !== undefined) {
        // HTTP/2 may carry both Host and :authority; the same value is one host.
        if (req.httpVersionMajor === 2 && host === value) continue;
        return undefined;
      }
      host = value;
    } else if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    } else if (DROP_REQUEST.has(lower) || listed?.has(lower) || lower.includes('_')) {
      if (lower === 'te' && req.httpVersionMajor === 2 && value.trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      continue;
    }
    out.push(name, value);
  }
  // The peer, or the client a PROXY header named (client-address.ts).
  const client = peerAddress(req.socket);
  const received = xff;
  if (client !== undefined) xff = xff === undefined ? client : `${xff}, ${client}`;
  if (xff !== undefined) out.push('x-forwarded-for', xff);
  if (client !== undefined) out.push('x-real-ip', realClient(client, received, trusted));
  out.push('x-forwarded-proto', proto);
  if (req.socket.localPort !== undefined) out.push('x-forwarded-port', String(req.socket.localPort));
  if (host !== undefined) out.push('x-forwarded-host', host);
  return out;
}
