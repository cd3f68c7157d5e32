// One listener of a ListenerSet (listeners.ts): the server that speaks its
// protocol (HTTP/1.1 on either engine, HTTPS with HTTP/2, or tcp), the front
// that owns its socket when it has one, and the bookkeeping to drain it
// (requests in flight, upgraded sockets, HTTP/2 sessions). The rules for when
// listeners are bound, kept and drained are at the top of listeners.ts.
import http from 'node:http';
import type { Http2SecureServer, ServerHttp2Session } from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Listener } from '../api/snapshot.ts';
import { ClientError, sendClientError } from './errors.ts';
import type { ClientProtocol, ProxyHandler } from './forward.ts';
import { H2Sessions } from './h2-sessions.ts';
import { createHttpsServer, DEFAULT_HTTP1_ENGINE, http1Server } from './servers.ts';
import type { ServerLimits } from './servers.ts';
import type { Http1Server } from './http1/server.ts';
import { NetResponse } from './http1/messages.ts';
import type { NetRequest } from './http1/messages.ts';
import type { ClientRequest, ClientResponse } from './decide.ts';
import type { Logger } from '../lib/log.ts';
import { errorFields, silentLogger } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { Upgrader } from './upgrade.ts';
import { TcpListener } from './tcp.ts';
import { ListenerFront } from './front.ts';
import type { BlockList } from 'node:net';
import { trustedList } from './client-address.ts';
import { Slots } from './inflight.ts';
import type { ListenerInfo, ListenerSetOptions } from './listeners.ts';

/** How long a draining listener lets an idle keep-alive connection be reused (to be answered with Connection: close) before closing it. */
const DRAIN_IDLE_GRACE_MS = 1_000;

/** One server socket and the bookkeeping to drain it. */
export class ManagedListener {
  readonly id: string;
  name: string;
  readonly protocol: Listener['protocol'];
  readonly address: string;
  readonly port: number;
  /**
   * The connection handler: http.Server, Http2SecureServer (https, behind
   * `#front`) or the tcp listener's net.Server. See #listening for the socket
   * bound to the port.
   */
  readonly server: net.Server;
  /** Set for an http listener. */
  readonly #http: http.Server | Http1Server | undefined;
  /** Set for an https listener (HTTP/2 and HTTP/1.1 by ALPN). */
  readonly #https: Http2SecureServer | undefined;
  /** An https listener's HTTP/1.1 connections (servers.ts takeHttp1Connections). */
  readonly #tlsHttp1: http.Server | Http1Server | undefined;
  /** The HTTP/2 sessions of an https listener. */
  readonly #sessions: H2Sessions | undefined;
  /** Set for a tcp listener; `server` is then its net.Server (no HTTP method of it is used). */
  readonly #tcp: TcpListener | undefined;
  /**
   * Set for an https listener: it owns the listening socket and hands the
   * connections it does not pass through (passthrough.ts) to `server`.
   */
  readonly #front: ListenerFront | undefined;
  /** Responses in flight, for drain(): slots, not a Set (inflight.ts says why). */
  readonly #inflight = new Slots<ClientResponse>();
  /** Client sockets handed to the upgrader (handshaking or tunnelled), until they close. */
  readonly #upgraded = new Set<Duplex>();
  #draining = false;
  /** The table this listener was prepared with, until the swap (see the constructor). */
  #pending: RoutingTable | undefined;
  /** Its trusted proxies (client-address.ts), replaced when a snapshot changes them. */
  #trusted: BlockList | undefined;
  #defaultFingerprint: string | undefined;
  readonly #log: Logger;

  static async open(id: string, name: string, spec: Listener, table: RoutingTable, opts: ListenerSetOptions, limits: ServerLimits, upgrader: Upgrader): Promise<ManagedListener> {
    const l = new ManagedListener(id, name, spec, table, opts, limits, upgrader);
    const socket = l.#listening;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      socket.once('error', onError);
      socket.listen({ host: spec.address, port: spec.port, reusePort: opts.reusePort === true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    // An HTTP server behind a front, and an https listener's HTTP/1.1
    // server, never listen themselves, but node:http checks request and
    // headers timeouts with a timer it starts on 'listening'
    // (setupConnectionsTracking); the net engine's sweep needs no event.
    if (l.#front !== undefined) l.server.emit('listening');
    l.#tlsHttp1?.emit('listening');
    socket.on('error', (err) => (opts.log ?? silentLogger).error('listener error', { listener: l.name, ...errorFields(err) }));
    return l;
  }

  private constructor(id: string, name: string, spec: Listener, table: RoutingTable, opts: ListenerSetOptions, limits: ServerLimits, upgrader: Upgrader) {
    this.id = id;
    this.name = name;
    // Bound before the swap (prepare), a new listener already gets
    // connections: with SO_REUSEPORT the kernel sends them as soon as it
    // listens, and with workers the commit is an IPC round trip away. Until
    // commit() it routes on the table it was prepared with, not on the current
    // one (which may not exist yet: a new process's first snapshot).
    this.#pending = table;
    const getTable = () => this.#pending ?? opts.getTable();
    this.#log = opts.log ?? silentLogger;
    this.protocol = spec.protocol;
    this.address = spec.address;
    this.port = spec.port;
    if (spec.protocol === 'tcp') {
      this.#tcp = new TcpListener(spec, { getTable, connectTimeoutMs: opts.tcpConnectTimeoutMs ?? 5_000, longLived: opts.longLived, log: this.#log });
      this.server = this.#tcp.server;
      this.#front = undefined;
      this.#http = undefined;
      this.#https = undefined;
      this.#sessions = undefined;
      return;
    }
    this.#tcp = undefined;
    const clientProtocol: ClientProtocol = spec.protocol;
    const onRequest = (req: ClientRequest, res: ClientResponse) => this.#onRequest(req, res, opts.handler);
    let server: http.Server | Http1Server | Http2SecureServer;
    if (spec.protocol === 'https') {
      const creds = spec.defaultSecret === undefined ? undefined : table.credentials(spec.defaultSecret);
      this.#defaultFingerprint = creds?.fingerprint;
      const sessions = new H2Sessions(limits.keepAliveTimeoutMs);
      // HTTP/1.1 over TLS goes to an HTTP/1.1 server of its own, as on an http listener.
      this.#tlsHttp1 = http1Server(opts.http1Engine ?? DEFAULT_HTTP1_ENGINE, limits, onRequest);
      server = createHttpsServer(limits, creds, getTable, onRequest, this.#tlsHttp1);
      server.on('session', (session: ServerHttp2Session) => sessions.add(session, this.#draining));
      this.#https = server;
      this.#sessions = sessions;
      this.#http = undefined;
      this.#front = new ListenerFront(server, {
        tls: true, proxyProtocol: spec.proxyProtocol === true,
        getTable, peekTimeoutMs: limits.handshakeTimeoutMs, connectTimeoutMs: opts.tcpConnectTimeoutMs ?? 5_000, longLived: opts.longLived, log: this.#log,
      });
    } else {
      const http1 = http1Server(opts.http1Engine ?? DEFAULT_HTTP1_ENGINE, limits, onRequest);
      server = http1;
      this.#http = http1;
      this.#https = undefined;
      this.#sessions = undefined;
      // Cleartext needs a front only to read a PROXY header.
      this.#front = spec.proxyProtocol === true ? new ListenerFront(server, {
        tls: false, proxyProtocol: true,
        getTable, peekTimeoutMs: limits.headersTimeoutMs, connectTimeoutMs: opts.tcpConnectTimeoutMs ?? 5_000, longLived: opts.longLived, log: this.#log,
      }) : undefined;
    }
    this.#trusted = trustedList(spec.trustedProxies);
    this.server = server;
    const onUpgrade = (req: http.IncomingMessage | NetRequest, socket: Duplex, head: Buffer) => {
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      try {
        upgrader.handle(req, socket, head, clientProtocol, this.#pending, this.#trusted);
      } catch (err) {
        this.#log.error('upgrade handler threw', errorFields(err));
        socket.destroy();
      }
    };
    server.on('upgrade', onUpgrade);
    this.#tlsHttp1?.on('upgrade', onUpgrade);
  }

  /** The socket bound to the port: the front's for https, else the server's own. */
  get #listening(): net.Server {
    return this.#front?.server ?? this.server;
  }

  /**
   * Stops accepting; resolves once every accepted connection has closed.
   * net.Server's close, not http.Server's: that one also closes every idle
   * keep-alive connection at once (see drain()). The HTTP server's own close
   * runs at the end, to stop its timeout checks.
   */
  async #stopAccepting(): Promise<void> {
    const listening = this.#listening;
    await new Promise<void>((resolve) => net.Server.prototype.close.call(listening, () => resolve()));
    this.server.close();
    this.#tlsHttp1?.close();
  }

  /** Closes idle HTTP/1.1 keep-alive connections (HTTP/2 sessions get GOAWAY in drain()). */
  #closeIdle(): void {
    this.#http?.closeIdleConnections();
    this.#tlsHttp1?.closeIdleConnections();
  }

  /** Cuts every HTTP connection: HTTP/1.1 ones, HTTP/2 sessions and upgraded sockets. */
  #closeAll(): void {
    this.#http?.closeAllConnections();
    this.#tlsHttp1?.closeAllConnections();
    this.#sessions?.destroyAll();
    this.#closeUpgraded();
    this.#front?.cutAll();
  }

  /** Cuts every upgraded socket (websockets, and handshakes still waiting for the upstream). */
  #closeUpgraded(): void {
    for (const socket of this.#upgraded) socket.destroy();
  }

  #onRequest(req: ClientRequest, res: ClientResponse, handler: ProxyHandler): void {
    // A draining listener still serves requests on open connections, but asks
    // the client to reconnect (to a listener that stays) afterwards. (An
    // HTTP/2 session already got GOAWAY: no new stream comes on it.)
    if (this.#draining && (res instanceof http.ServerResponse || res instanceof NetResponse)) res.shouldKeepAlive = false;
    const slot = this.#inflight.add(res);
    // 'close' comes once (forward.ts relies on it too): on() spares once()'s wrapper.
    res.on('close', () => this.#inflight.remove(slot));
    try {
      handler(req, res, this.protocol as ClientProtocol, this.#pending, this.#trusted);
    } catch (err) {
      // A bug in routing must cost one request, not the process and every
      // connection on it.
      this.#log.error('request handler threw', errorFields(err));
      sendClientError(res, ClientError.INTERNAL);
    }
  }

  /** The swap happened: route on the current table from now on. */
  adopted(): void {
    this.#pending = undefined;
  }

  /** Address and bound port. */
  info(): ListenerInfo {
    const a = this.#listening.address() as AddressInfo | null;
    return { protocol: this.protocol, address: a?.address ?? this.address, port: a?.port ?? this.port };
  }

  /**
   * Adopts what a later snapshot that keeps this listener says: tcp backends,
   * trusted proxies, and the default certificate (reloaded only if its content
   * changed).
   */
  update(spec: Listener, table: RoutingTable, log: Logger): void {
    this.#tcp?.update(spec);
    this.#trusted = trustedList(spec.trustedProxies);
    if (this.protocol !== 'https' || spec.defaultSecret === undefined) return;
    const creds = table.credentials(spec.defaultSecret);
    if (creds === undefined || creds.fingerprint === this.#defaultFingerprint) return;
    try {
      this.#https?.setSecureContext({ cert: creds.cert, key: creds.key });
      this.#defaultFingerprint = creds.fingerprint;
      log.info('listener default certificate reloaded', { listener: this.name, secret: spec.defaultSecret });
    } catch (err) {
      // Unreachable in practice: the table already loaded the same PEM.
      log.error('listener default certificate reload failed', { listener: this.name, secret: spec.defaultSecret, ...errorFields(err) });
    }
  }

  /** Stops accepting and drains; see the top of the file. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#tcp !== undefined) return this.#tcp.drain(timeoutMs);
    this.#draining = true;
    for (const res of this.#inflight) if ((res instanceof http.ServerResponse || res instanceof NetResponse) && !res.headersSent) res.shouldKeepAlive = false;
    const closed = this.#stopAccepting();
    // GOAWAY on every HTTP/2 session now: the server's own close (which would
    // send it too) runs only once every connection has closed.
    this.#sessions?.closeAll();
    // Idle keep-alive connections are closed after a grace, not at once: a
    // client that just got a response may be sending its next request on the
    // same socket, and a close racing it is a failed request (HTTP/1.1 has no
    // GOAWAY). Within the grace such a client gets its answer with
    // `Connection: close` instead; a connection idle for the whole grace is
    // closed by the next sweep.
    const sweep = setInterval(() => this.#closeIdle(), DRAIN_IDLE_GRACE_MS);
    // A websocket on a removed listener lives until the deadline, like a long
    // response or an HTTP/2 stream: it is cut then (its peers see a TCP close,
    // no close frame).
    const timer = setTimeout(() => this.#closeAll(), timeoutMs);
    await closed;
    clearTimeout(timer);
    clearInterval(sweep);
  }

  /** Closes a listener that never served (refused snapshot). */
  async closeNow(): Promise<void> {
    if (this.#tcp !== undefined) {
      const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.#tcp.cutAll();
      return done;
    }
    const closed = this.#stopAccepting();
    this.#closeAll();
    await closed;
  }
}
