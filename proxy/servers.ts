// The HTTP servers behind the listeners (listeners.ts), built with limits set
// on purpose: HTTP/1.1 on the http listener, HTTP/2 and HTTP/1.1 (ALPN) on
// the https one. Construction only; reconciliation and draining are in
// listeners.ts, HTTP/2 sessions in h2-sessions.ts.
import http from 'node:http';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Http2SecureServer, Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { H2Request, H2Response } from './h2-stream.ts';
import { h2ServerOptions } from './h2-sessions.ts';
import type { RoutingTable } from './routing/table.ts';
import { isWebSocketUpgrade } from './upgrade.ts';
import { Http1Server } from './http1/server.ts';
import type { NetRequest, NetResponse } from './http1/messages.ts';
import type { Http1Engine } from './http1/engine.ts';

export { DEFAULT_HTTP1_ENGINE } from './http1/engine.ts';
export type { Http1Engine } from './http1/engine.ts';

/** Server limits, set on purpose rather than inherited from Node's defaults. */
export interface ServerLimits {
  /**
   * Time to receive a request's headers. Bounds slowloris-style clients
   * without hurting real ones (a browser sends headers in one packet). 30 s.
   */
  readonly headersTimeoutMs: number;
  /**
   * Time to receive a whole request, body included. Bounds slow uploads; large
   * uploads over slow links need more (raise it, or 0 to disable). 300 s.
   */
  readonly requestTimeoutMs: number;
  /**
   * Idle time of a client keep-alive connection. Longer than what load
   * balancers in front commonly use (AWS ALB 60 s), so the client side, not
   * the proxy, closes idle connections and never races a close. 75 s (nginx's).
   */
  readonly keepAliveTimeoutMs: number;
  /** Largest request head. 16 KiB, Node's default, stated so it does not drift. */
  readonly maxHeaderSize: number;
  /** Time to finish a TLS handshake. 10 s. */
  readonly handshakeTimeoutMs: number;
  /** HTTP/2: streams open at once per client connection (h2-sessions.ts). 100. */
  readonly h2MaxConcurrentStreams: number;
  /** HTTP/2: memory one client connection may buffer, in MB (h2-sessions.ts). 10, Node's default. */
  readonly h2MaxSessionMemoryMb: number;
}

/** Defaults of ServerLimits (see each field). */
export const DEFAULT_LIMITS: ServerLimits = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 75_000,
  maxHeaderSize: 16 * 1024,
  handshakeTimeoutMs: 10_000,
  h2MaxConcurrentStreams: 100,
  h2MaxSessionMemoryMb: 10,
};

/**
 * HTTP/1.1 server options of both HTTP listeners: limits from ServerLimits,
 * and the strict parser.
 */
export function http1Options(limits: ServerLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderSize,
    // How often those two timeouts are checked: Node's default (30 s) lets
    // a 30 s headersTimeout hold a slow client for up to a minute.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 2) || 1_000)),
    // The strict parser rejects request smuggling vectors (CL+TE, obs-fold,
    // bare LF); never trade that for leniency.
    insecureHTTPParser: false,
    // Node's default; stated because a later HTTP/1.0 knob must not lose it.
    requireHostHeader: true,
    // Which upgrades reach the 'upgrade' event (the rest are plain requests).
    shouldUpgradeCallback: isWebSocketUpgrade,
  };
}

/**
 * The server of an http listener, by engine. Both read the same limits
 * (http1Options); the net engine's own rules are in http1/server.ts.
 * `upgrades`: websocket upgrades go to the 'upgrade' event (a listener has
 * an upgrader; a test server without one serves them as plain requests).
 */
export function http1Server(
  engine: Http1Engine,
  limits: ServerLimits,
  onRequest: (req: http.IncomingMessage | NetRequest, res: http.ServerResponse | NetResponse) => void,
  upgrades = true,
): http.Server | Http1Server {
  const options = { ...http1Options(limits), shouldUpgradeCallback: upgrades ? isWebSocketUpgrade : () => false };
  if (engine === 'net') return new Http1Server(options, onRequest);
  const server = http.createServer(options, onRequest);
  setHttp1Counts(server);
  return server;
}

/**
 * Sends an https listener's HTTP/1.1 connections (ALPN http/1.1, or no ALPN)
 * to `h1`, the same HTTP/1.1 server an http listener has (node:http or the
 * net engine), as if `h1` had accepted them. Http2SecureServer would hand
 * them to node:http itself, from its one 'secureConnection' listener (Node's
 * http2 connectionListener), which is replaced here by one that keeps h2
 * connections and passes the others on. Why not let Node do it: its HTTP/1.1
 * path needs a 'request' listener on the TLS server, and any 'request'
 * listener turns on the compatibility objects for every HTTP/2 stream too
 * (h2-stream.ts says why the proxy avoids them). TLS, SNI, ALPN and the
 * handshake timeout stay the TLS server's.
 */
export function takeHttp1Connections(server: Http2SecureServer, h1: http.Server | Http1Server, onSession?: (session: Http2Session, socket: TLSSocket) => void): void {
  const listeners = server.listeners('secureConnection') as Array<(this: Http2SecureServer, socket: TLSSocket) => void>;
  if (listeners.length !== 1) throw new Error(`expected node:http2's one secureConnection listener, found ${listeners.length}`);
  const h2 = listeners[0]!;
  server.removeAllListeners('secureConnection');
  // `onSession` learns each HTTP/2 session's TLS socket: Node creates the
  // session and emits 'session' synchronously inside its listener, and
  // offers the socket afterwards only through a Proxy (H2Request says why
  // that matters).
  let accepting: TLSSocket | undefined;
  if (onSession !== undefined) {
    server.on('session', (session: Http2Session) => {
      if (accepting !== undefined) onSession(session, accepting);
    });
  }
  server.on('secureConnection', function (this: Http2SecureServer, socket: TLSSocket) {
    if (socket.alpnProtocol !== 'h2') return void h1.emit('connection', socket);
    accepting = socket;
    try {
      h2.call(this, socket);
    } finally {
      accepting = undefined;
    }
  });
}

/** Settings that apply to HTTP/1.1 connections after construction (both listener kinds). */
function setHttp1Counts(s: http.Server): void {
  // Unlimited requests per keep-alive connection: recycling connections
  // costs clients a reconnect and buys nothing here.
  s.maxRequestsPerSocket = 0;
  // A cap on the header count silently DROPS the extra headers (Node does not
  // reject); maxHeaderSize already bounds them, so no count limit.
  s.maxHeadersCount = 0;
}

/**
 * The server of an https listener, in one function so that a front (a TLS
 * passthrough SNI peek) can wrap it. ALPN offers h2 then http/1.1; a client
 * that offers neither, or no ALPN at all, gets HTTP/1.1, served by `http1`
 * (takeHttp1Connections): HTTP/1.1 over TLS behaves exactly as on the http
 * listener. HTTP/2 streams are served through the stream API (h2-stream.ts);
 * HTTP/2 limits: h2-sessions.ts.
 */
export function createHttpsServer(
  limits: ServerLimits,
  creds: { readonly cert: string; readonly key: string } | undefined,
  getTable: () => RoutingTable | undefined,
  onRequest: (req: H2Request, res: H2Response) => void,
  http1: http.Server | Http1Server,
): Http2SecureServer {
  const server = http2.createSecureServer({
    ...h2ServerOptions({
      maxConcurrentStreams: limits.h2MaxConcurrentStreams,
      maxSessionMemoryMb: limits.h2MaxSessionMemoryMb,
      maxHeaderListSize: limits.maxHeaderSize,
      idleMs: limits.keepAliveTimeoutMs,
    }),
    allowHTTP1: true,
    cert: creds?.cert,
    key: creds?.key,
    handshakeTimeout: limits.handshakeTimeoutMs,
    SNICallback: (servername, cb) => {
      // Undefined falls back to the server's default context (defaultSecret).
      let ctx;
      try {
        ctx = getTable()?.secureContextFor(servername);
      } catch {
        ctx = undefined;
      }
      cb(null, ctx);
    },
  });
  // allowHTTP1 stays on: it is what makes ALPN offer http/1.1 (and accept no ALPN).
  const sockets = new WeakMap<Http2Session, Socket>();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    onRequest(new H2Request(stream, headers, rawHeaders, sockets.get(stream.session!)), new H2Response(stream));
  });
  takeHttp1Connections(server, http1, (session, socket) => sockets.set(session, socket));
  return server;
}
