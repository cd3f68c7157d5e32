// One websocket handshake of the Upgrader (upgrade.ts): connect to the
// endpoint (retrying another after a connect failure), send the request, read
// the response head with Node's strict parser, then either splice the two
// sockets into a Tunnel (tunnel.ts) or relay the refusal and close. The rules
// are at the top of upgrade.ts.
import { STATUS_CODES, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ClientError } from './errors.ts';
import type { ClientErrorKind } from './errors.ts';
import type { HeaderFilter } from '../api/snapshot.ts';
import { applyHeaderFilter } from './filters.ts';
import { downstreamRawHeaders } from './response-headers.ts';
import { errorFields } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { lingerThenDestroy, refuse, responseHead } from './raw-response.ts';
import type { RouteIdentity } from './long-lived.ts';
import type { ClusterBalancer, UpstreamEndpoint } from './upstream/balancer.ts';
import { Tunnel, type TunnelInfo } from './tunnel.ts';
import type { Upgrader } from './upgrade.ts';

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
export class Handshake {
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
