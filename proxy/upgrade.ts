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
import type { IncomingMessage } from 'node:http';
import type { NetRequest } from './http1/messages.ts';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import { decide } from './decide.ts';
import type { ClientProtocol } from './decide.ts';
import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { answer, refuse } from './raw-response.ts';
import { routeIdentity, sameRoute } from './long-lived.ts';
import type { LongLivedSet, RouteIdentity } from './long-lived.ts';
import type { Tunnel } from './tunnel.ts';
import { Handshake } from './upgrade-handshake.ts';

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
