// The net-level HTTP/1.1 engine's server (`turnout proxy --http1-engine=net`):
// a net.Server whose connections are parsed by llhttp (llhttp.ts) and handed
// to the proxy as NetRequest/NetResponse pairs (messages.ts), instead of
// node:http's http.Server. Why it exists: docs/data-plane.md measured Node's
// HTTP server as the largest layer of the proxy's cost per request.
//
// What it keeps from node:http, so a client cannot tell them apart except by
// speed (the differential test in differential.test.ts holds it to that):
// - the same strict parser (llhttp, no lenient flag), a request head bounded by
//   maxHeaderSize (431), a parse error answered 400 with Connection: close;
// - Host required on HTTP/1.1 (400), Expect: 100-continue answered "100
//   Continue" before the request is handed over, any other Expect 417;
// - timeouts: headersTimeout from a request's first byte (or the accept) to
//   its complete head, requestTimeout to its complete body (both 408 with
//   Connection: close when no response began, else a cut), keepAliveTimeout
//   between requests (close); checked by one sweep per server, as Node does;
// - keep-alive per HTTP/1.0 and 1.1 rules (messages.ts decides per response),
//   pipelining answered in order: after a complete request the parser stops
//   until its response has ended, and the socket is not read meanwhile, so a
//   client cannot queue unbounded work;
// - upgrades: a request the upgrade callback accepts goes to the 'upgrade'
//   event with the socket and the bytes after its head; other Upgrade
//   requests are ordinary requests. CONNECT is closed without an answer
//   (node:http without a 'connect' listener does the same);
// - closeIdleConnections() and closeAllConnections() for the listeners' drain.
// On https listeners the TLS server keeps TLS, SNI and ALPN, and HTTP/2;
// its HTTP/1.1 connections come here (servers.ts takeHttp1Connections).
import net from 'node:net';
import { Slots } from '../inflight.ts';
import { Connection, FRESH, IDLE } from './connection.ts';
import type { NetRequest, NetResponse } from './messages.ts';

/** The limits node:http's ServerOptions carry, read from servers.ts's http1Options(). */
export interface Http1EngineOptions {
  readonly headersTimeout?: number;
  readonly requestTimeout?: number;
  readonly keepAliveTimeout?: number;
  readonly maxHeaderSize?: number;
  /** Which requests with an upgrade go to the 'upgrade' event. */
  readonly shouldUpgradeCallback?: (req: NetRequest) => boolean;
}

/** An HTTP/1.1 server on llhttp; see the top of the file. */
export class Http1Server extends net.Server {
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  readonly maxHeaderSize: number;
  readonly shouldUpgrade: (req: NetRequest) => boolean;
  /** Open connections: slots, not a Set (../inflight.ts: a Set churned per connection makes scavenges promote). */
  readonly #connections = new Slots<Connection>();
  readonly #onRequest: (req: NetRequest, res: NetResponse) => void;
  #sweep: NodeJS.Timeout | undefined;
  readonly #sweepMs: number;

  constructor(options: Http1EngineOptions, onRequest: (req: NetRequest, res: NetResponse) => void) {
    // Half-open so that #end() decides, as http.Server's socketOnEnd does.
    super({ noDelay: true, allowHalfOpen: true });
    this.headersTimeout = options.headersTimeout ?? 60_000;
    this.requestTimeout = options.requestTimeout ?? 300_000;
    this.keepAliveTimeout = options.keepAliveTimeout ?? 5_000;
    this.maxHeaderSize = options.maxHeaderSize ?? 16 * 1024;
    this.shouldUpgrade = options.shouldUpgradeCallback ?? (() => false);
    this.#onRequest = onRequest;
    const shortest = Math.min(...[this.headersTimeout, this.requestTimeout, this.keepAliveTimeout].filter((t) => t > 0), 4_000);
    this.#sweepMs = Math.max(10, Math.min(1_000, Math.floor(shortest / 4)));
    this.on('connection', (socket: net.Socket) => this.#accept(socket));
  }

  /** Connections open now (tests, admin). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  #accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const c = new Connection(this, socket, this.#onRequest);
    const slot = this.#connections.add(c);
    socket.once('close', () => {
      this.#connections.remove(slot);
      c.closed();
      if (this.#connections.size === 0 && this.#sweep !== undefined) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    });
    this.#sweep ??= setInterval(() => this.#expire(), this.#sweepMs).unref();
  }

  #expire(): void {
    const now = Date.now();
    for (const c of this.#connections) c.expire(now);
  }

  /** Closes connections that wait for a request (drain: their clients reconnect elsewhere). */
  closeIdleConnections(): void {
    for (const c of this.#connections) if (c.state === IDLE || c.state === FRESH) c.socket.destroy();
  }

  /** Cuts every connection. */
  closeAllConnections(): void {
    for (const c of this.#connections) c.socket.destroy();
  }
}
