// Websockets through any HTTP route: the listeners' 'upgrade' event lands here
// (listeners.ts), for requests isWebSocketUpgrade() accepted.
//
// A handshake is routed exactly like a request, by the same function
// (decide.ts, shared with forward.ts): it pins the current table once, needs
// an origin-form target and a valid Host, matches host, path and conditions,
// applies the route's actions (a redirect is answered; weighted backends,
// rewrites and header filters apply as they do to requests), and picks the
// cluster's next endpoint round-robin. It then
// opens its own TCP connection to the endpoint (never an undici pool: a
// tunnel owns its socket for its whole life; TLS for a 'tls' cluster, HTTP/1.1
// for every cluster, an h2c one included: websockets over HTTP/2 are not
// served, and h2c servers commonly accept HTTP/1.1 too), sends the request with the
// headers forward.ts would send plus `Connection: Upgrade` and
// `Upgrade: websocket`, and reads the answer with Node's strict response
// parser (bounded head size, the route's timeoutMs from arrival):
// - 101 with `Upgrade: websocket`: the 101 is relayed, then the two sockets
//   are spliced both ways. Bytes the client sent after its request head, and
//   bytes the upstream sent after its 101, are relayed first, in order.
// - any other final status: relayed (hop-by-hop headers stripped, body
//   delimited by Content-Length or by closing) with `Connection: close`, then
//   the connection closes. The client's early bytes are never sent upstream
//   in that case: an upstream that refused the upgrade would read them as a
//   second request that the proxy never routed (request smuggling).
// - errors, as raw responses followed by a close: 400 bad target or Host,
//   404 no route, 500 a weighted backend that does not resolve, 503 no
//   endpoint (or no table yet), 502 connect failure (retried on another
//   endpoint, like forward.ts, since nothing was sent), reset or invalid
//   response, 504 no response head within timeoutMs.
//
// Only websocket upgrades of GET requests without a body come here. Other
// Upgrade requests (h2c, unknown protocols) stay plain requests (forward.ts
// strips Upgrade, RFC 9110 §7.8 allows it): a tunnel to a backend that speaks
// HTTP again after its 101 (h2c) would let the client send requests the proxy
// never routed, a known way around path-based routing ("h2c smuggling").
//
// Lifetime. A handshake counts against the table it pinned (enter/leave)
// until the upstream's response head arrives (or it fails): that is as long as
// it routes. An established tunnel never looks at a table again and needs
// nothing from one: it holds its two sockets, not a pool, and its endpoint
// reference is not needed to keep the socket open. So a websocket that lives
// for days does not keep its first table, that table's balancers, or the pool
// references it held alive; old tables close as soon as their HTTP requests
// end. A tunnel keeps its upstream through every swap that still matches its
// handshake to the same route and still lists its endpoint; after one that
// does not, it is closed at the drain timeout (long-lived.ts). Listeners track
// upgraded client sockets themselves and cut them at their drain deadline
// (listeners.ts).
import { STATUS_CODES, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { NetRequest } from './http1/messages.ts';
import net from 'node:net';
import type { BlockList } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ClientError } from './errors.ts';
import type { ClientErrorKind } from './errors.ts';
import type { HeaderFilter } from '../api/snapshot.ts';
import { applyHeaderFilter } from './filters.ts';
import { decide } from './decide.ts';
import type { ClientProtocol } from './decide.ts';
import { downstreamRawHeaders } from './response-headers.ts';
import type { Logger } from '../lib/log.ts';
import { errorFields, silentLogger } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { answer, lingerThenDestroy, refuse, responseHead } from './raw-response.ts';
import { routeIdentity, sameRoute } from './long-lived.ts';
import type { LongLivedSet, RouteIdentity } from './long-lived.ts';
import type { ClusterBalancer, UpstreamEndpoint } from './upstream/balancer.ts';
import { Tunnel, type TunnelInfo } from './tunnel.ts';

/** Options of Upgrader; every field but getTable has a default. */
export interface UpgraderOptions {
  /** The table to pin for a new handshake; undefined before the first apply (503). */
  readonly getTable: () => RoutingTable | undefined;
  /** TCP connect timeout per attempt, as the pools' (upstream/pools.ts). Default 3 s. */
  readonly connectTimeoutMs?: number;
  /** Attempts per handshake including the first; only connect failures are retried. Default 3. */
  readonly maxAttempts?: number;
  /** Largest upstream response head. Default 16 KiB, the listeners' request limit. */
  readonly maxResponseHeaderSize?: number;
  /**
   * How long a tunnel stays half-closed (one side sent FIN, the other has not
   * yet) before both sockets are cut. A websocket closes with a close frame
   * exchange before either FIN, so this only bounds peers that never close
   * (HAProxy's `timeout client-fin`). Default 10 s.
   */
  readonly halfCloseTimeoutMs?: number;
  /** Longest silence while relaying the body of a refused upgrade (forward.ts uses 5 min). Default 300 s. */
  readonly bodyIdleTimeoutMs?: number;
  /**
   * TCP keep-alive probe delay on both sockets of a tunnel, so a peer that
   * vanished without a FIN (a node lost, a NAT entry expired) is noticed
   * without imposing an idle timeout on quiet websockets. Default 60 s.
   */
  readonly keepAliveMs?: number;
  /** Where established tunnels are registered, to be closed after a drain when their route or endpoint goes (long-lived.ts). */
  readonly longLived?: LongLivedSet;
  readonly log?: Logger;
}

/**
 * Whether a request with an upgrade goes to the 'upgrade' event (the
 * listeners' `shouldUpgradeCallback`): a GET without a body asking for
 * exactly `websocket` (RFC 6455 §4.1; every client sends that one token).
 * Node asks only for requests with both `Connection: upgrade` and `Upgrade`.
 */
export function isWebSocketUpgrade(req: IncomingMessage | NetRequest): boolean {
  if (req.method !== 'GET') return false;
  const proto = req.headers.upgrade;
  if (typeof proto !== 'string' || proto.trim().toLowerCase() !== 'websocket') return false;
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0');
}

/** The listeners' upgrade handler; one per ListenerSet, see the top of the file. */
export class Upgrader {
  readonly #getTable: () => RoutingTable | undefined;
  readonly connectTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxResponseHeaderSize: number;
  readonly halfCloseTimeoutMs: number;
  readonly bodyIdleTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly log: Logger;
  readonly #tunnels = new Set<Tunnel>();
  readonly #longLived: LongLivedSet | undefined;

  constructor(options: UpgraderOptions) {
    this.#getTable = options.getTable;
    this.#longLived = options.longLived;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.maxResponseHeaderSize = options.maxResponseHeaderSize ?? 16 * 1024;
    this.halfCloseTimeoutMs = options.halfCloseTimeoutMs ?? 10_000;
    this.bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? 300_000;
    this.keepAliveMs = options.keepAliveMs ?? 60_000;
    this.log = options.log ?? silentLogger;
  }

  /** Established tunnels (admin, tests). */
  get open(): number {
    return this.#tunnels.size;
  }

  /** The open tunnels (admin, tests). */
  tunnels(): IterableIterator<Tunnel> {
    return this.#tunnels.values();
  }

  /**
   * The listeners' 'upgrade' event: `socket` is the client's, `head` what it
   * sent after the request head; `table` replaces the current one for a
   * listener not swapped in yet (listeners.ts); `trusted` are its trusted
   * proxies (client-address.ts).
   */
  handle(req: IncomingMessage | NetRequest, socket: Duplex, head: Buffer, proto: ClientProtocol, table?: RoutingTable, trusted?: BlockList): void {
    // Node removed its own listeners from the socket before the event: without
    // one, a reset would be an uncaught exception. Errors end in 'close'.
    socket.on('error', ignore);
    // One load per handshake, as forward.ts does per request.
    // A handshake is a GET like any other: the route's actions apply as to requests.
    const d = decide(table ?? this.#getTable(), req, proto, trusted);
    if (d.kind === 'error') return refuse(socket, d.error, this.halfCloseTimeoutMs);
    if (d.kind === 'redirect') return answer(socket, d.status, d.headers, '', this.halfCloseTimeoutMs);
    // upstreamHeaders (decide.ts) dropped both as hop-by-hop; here they are
    // the point. Added after the route's filters, which cannot name them anyway.
    const headers = [...d.headers, 'Connection', 'Upgrade', 'Upgrade', 'websocket'];
    d.table.enter();
    const identity = routeIdentity(d.route, req.headers.host, d.routedPath, { method: req.method, headers: req.headers, query: d.query });
    const info = { host: req.headers.host, path: d.routedPath, cluster: d.cluster.key, identity };
    new Handshake(this, d.table, d.cluster, socket, head, info, d.path, headers, d.responseHeaders, d.timeoutMs)
      .start(d.endpoint);
  }

  /** Registers a tunnel until both its sockets closed (Handshake only). */
  adopt(tunnel: Tunnel, identity: RouteIdentity): void {
    this.#tunnels.add(tunnel);
    tunnel.closed.then(() => this.#tunnels.delete(tunnel), ignore);
    this.#longLived?.add({
      kind: 'websocket', cluster: tunnel.cluster, endpoint: tunnel.endpoint,
      routed: (table) => sameRoute(table, identity), close: () => tunnel.close(), closed: tunnel.closed,
    });
  }
}

function ignore(): void {}

const EMPTY = Buffer.alloc(0);

/** Where a handshake was routed, kept by its tunnel. */
interface RouteInfo {
  readonly host: string | undefined;
  readonly path: string;
  readonly cluster: string;
  /** The route matched, re-matched after each swap (long-lived.ts). */
  readonly identity: RouteIdentity;
}

/**
 * Codes of response failures that mean "the upstream sent something unusable"
 * rather than "it went away". Not forward.ts's list on purpose: handshakes are
 * read by Node's http client, whose parser (llhttp) reports every malformed or
 * oversized head (maxResponseHeaderSize included) as an HPE_* code, and which
 * has none of undici's UND_ERR_* codes; resets and timeouts (ECONNRESET, ...)
 * stay 502 connect errors, as in forward.ts.
 */
const INVALID_RESPONSE = /^HPE_/;

/** One handshake: connect (with retries), send, read the head, then tunnel or relay. */
class Handshake {
  readonly #up: Upgrader;
  /** Pinned until settled, then dropped so a tunnel never reaches it. */
  #table: RoutingTable | undefined;
  #cluster: ClusterBalancer | undefined;
  readonly #client: Duplex;
  /** What the client sent after its request head; handed to the tunnel, never upstream otherwise. */
  #head: Buffer;
  readonly #route: RouteInfo;
  readonly #path: string;
  readonly #headers: string[];
  readonly #responseHeaders: HeaderFilter | undefined;
  readonly #timeoutMs: number;
  readonly #tried = new Set<UpstreamEndpoint>();
  #endpoint: UpstreamEndpoint | undefined;
  #socket: net.Socket | undefined;
  #request: ClientRequest | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #settled = false;
  readonly #onClientClose = () => this.#clientGone();

  constructor(up: Upgrader, table: RoutingTable, cluster: ClusterBalancer, client: Duplex, head: Buffer,
    route: RouteInfo, path: string, headers: string[], responseHeaders: HeaderFilter | undefined, timeoutMs: number) {
    this.#up = up;
    this.#table = table;
    this.#cluster = cluster;
    this.#client = client;
    this.#head = head;
    this.#route = route;
    this.#path = path;
    this.#headers = headers;
    this.#responseHeaders = responseHeaders;
    this.#timeoutMs = timeoutMs;
  }

  start(endpoint: UpstreamEndpoint): void {
    if (this.#client.destroyed) return this.#clientGone();
    // Counted from arrival, connect attempts included, as in forward.ts.
    this.#deadline = setTimeout(() => this.#fail(ClientError.UPSTREAM_TIMEOUT), this.#timeoutMs);
    this.#client.once('close', this.#onClientClose);
    this.#connect(endpoint);
  }

  #connect(endpoint: UpstreamEndpoint): void {
    this.#tried.add(endpoint);
    this.#endpoint = endpoint;
    // allowHalfOpen: a FIN from the upstream is relayed as a FIN, and the
    // client may still finish sending (the tunnel bounds how long).
    // A 'tls' cluster (appProtocol https or kubernetes.io/wss) gets the
    // handshake over TLS, unverified as its pools are (upstream/pools.ts).
    const secure = endpoint.protocol === 'tls';
    const socket = secure
      ? tls.connect({ host: endpoint.address, port: endpoint.port, allowHalfOpen: true, noDelay: true, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] } as tls.ConnectionOptions)
      : net.connect({ host: endpoint.address, port: endpoint.port, allowHalfOpen: true, noDelay: true });
    this.#socket = socket;
    const onError = (err: Error) => {
      clearTimeout(this.#connectTimer);
      socket.destroy();
      this.#connectFailed(err, endpoint);
    };
    socket.once('error', onError);
    this.#connectTimer = setTimeout(() => onError(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), this.#up.connectTimeoutMs);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(this.#connectTimer);
      socket.off('error', onError);
      // The request reports errors from here on; this one only keeps a late
      // error (after the upgrade hand-off) from being uncaught.
      socket.on('error', ignore);
      this.#send(socket);
    });
  }

  // Nothing was written: another endpoint may be tried, as forward.ts does.
  #connectFailed(err: Error, endpoint: UpstreamEndpoint): void {
    if (this.#settled) return;
    this.#up.log.debug('upgrade: upstream connect failed', { endpoint: endpoint.key, ...errorFields(err) });
    if (this.#tried.size < this.#up.maxAttempts && !this.#client.destroyed) {
      const next = this.#cluster?.pickRetry(this.#tried);
      if (next !== undefined) return this.#connect(next);
    }
    this.#fail(ClientError.UPSTREAM_CONNECT);
  }

  #send(socket: net.Socket): void {
    if (this.#settled) {
      socket.destroy();
      return;
    }
    let req: ClientRequest;
    try {
      req = httpRequest({
        method: 'GET',
        path: this.#path,
        headers: this.#headers,
        setHost: false,
        createConnection: () => socket,
        maxHeaderSize: this.#up.maxResponseHeaderSize,
        insecureHTTPParser: false,
      });
    } catch {
      // Node's client refused a header or the path that its server parser let
      // through: the request itself is bad, as forward.ts answers.
      socket.destroy();
      this.#fail(ClientError.BAD_REQUEST);
      return;
    }
    this.#request = req;
    // The socket Node hands back with the 101 is `socket` itself.
    req.on('upgrade', (res: IncomingMessage, _socket: Duplex, upstreamHead: Buffer) => this.#upgraded(res, socket, upstreamHead));
    req.on('response', (res: IncomingMessage) => this.#relay(res, socket));
    req.on('error', (err: Error) => {
      const code = (err as { code?: unknown }).code;
      this.#up.log.debug('upgrade: upstream request failed', { endpoint: this.#endpoint?.key, ...errorFields(err) });
      this.#fail(typeof code === 'string' && INVALID_RESPONSE.test(code) ? ClientError.UPSTREAM_INVALID : ClientError.UPSTREAM_CONNECT);
    });
    req.end();
  }

  /**
   * Ends the routing part: timers off, the table left and forgotten. True the
   * first time only. From here on nothing refers to the table.
   */
  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    clearTimeout(this.#deadline);
    clearTimeout(this.#connectTimer);
    this.#client.off('close', this.#onClientClose);
    const table = this.#table;
    this.#table = undefined;
    this.#cluster = undefined;
    table?.leave();
    return true;
  }

  #fail(err: ClientErrorKind): void {
    if (!this.#settle()) return;
    this.#request?.destroy();
    this.#socket?.destroy();
    refuse(this.#client, err, this.#up.halfCloseTimeoutMs);
  }

  #clientGone(): void {
    if (!this.#settle()) return;
    this.#request?.destroy();
    this.#socket?.destroy();
  }

  #upgraded(res: IncomingMessage, upstream: net.Socket, upstreamHead: Buffer): void {
    const proto = res.headers.upgrade;
    if (typeof proto !== 'string' || proto.trim().toLowerCase() !== 'websocket') {
      // Switched to something the client did not ask for.
      upstream.destroy();
      this.#fail(ClientError.UPSTREAM_INVALID);
      return;
    }
    const head = this.#responseHead(res, ['Connection', 'Upgrade', 'Upgrade', proto]);
    if (head === undefined || !this.#settle()) {
      upstream.destroy();
      return;
    }
    const endpoint = this.#endpoint as UpstreamEndpoint;
    const { identity, ...where } = this.#route;
    const info: TunnelInfo = { ...where, endpoint: endpoint.key, openedAt: Date.now() };
    const clientHead = this.#head;
    this.#head = EMPTY;
    this.#up.adopt(new Tunnel(this.#client, upstream, head, clientHead, upstreamHead, info, this.#up), identity);
  }

  /**
   * The upstream's head as relayed: hop-by-hop headers stripped, the route's
   * response filter applied, then `extra`. Undefined (and a 502 sent) when a
   * header cannot be written.
   */
  #responseHead(res: IncomingMessage, extra: readonly string[]): string | undefined {
    try {
      const headers = applyHeaderFilter(downstreamRawHeaders(res.rawHeaders, res.headers.connection), this.#responseHeaders);
      return responseHead(res.statusCode ?? 502, res.statusMessage || (STATUS_CODES[res.statusCode ?? 502] ?? ''), [...headers, ...extra]);
    } catch {
      this.#fail(ClientError.UPSTREAM_INVALID);
      return undefined;
    }
  }

  // Any final status but 101: relay it and close. The body is what Node's
  // parser decoded, so chunked framing is dropped and the close delimits it.
  #relay(res: IncomingMessage, upstream: net.Socket): void {
    // A 101 without `Connection: upgrade` and `Upgrade` is no upgrade to Node
    // and comes here: the upstream switched to who knows what.
    if ((res.statusCode ?? 0) < 200) {
      res.destroy();
      this.#fail(ClientError.UPSTREAM_INVALID);
      return;
    }
    const head = this.#responseHead(res, ['connection', 'close']);
    const client = this.#client;
    if (head === undefined || !this.#settle() || client.destroyed) {
      res.destroy();
      return;
    }
    client.write(head);
    upstream.setTimeout(this.#up.bodyIdleTimeoutMs, () => upstream.destroy());
    const cut = () => {
      res.destroy();
      client.destroy();
    };
    client.once('close', () => res.destroy());
    res.once('aborted', cut);
    res.once('error', cut);
    res.once('end', () => lingerThenDestroy(client, this.#up.halfCloseTimeoutMs));
    res.pipe(client);
  }
}
