// The controller's snapshot stream endpoint: proxies connect with a websocket
// on STREAM_PATH and receive every new snapshot (protocol in api/stream.ts).
//
// Everything is decided in the HTTP `upgrade` handler, before ws sees the
// request (pitfalls.md): the path, the protocol version (a proxy that offers
// none we speak gets 400 naming ours) and the bearer token (401/403, or 503
// when it cannot be checked now). A refused client gets a bare HTTP answer and
// its socket is closed, so it never costs a websocket, a session or a snapshot.
// docs/protocol.md describes the whole exchange.
import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { STREAM_PATH, STREAM_PROTOCOLS } from '../../api/stream.ts';
import type { ControllerMessage } from '../../api/stream.ts';
import { TurnoutError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { SnapshotStore } from '../snapshot/store.ts';
import { StaticTokenAuthenticator, type Authenticator, type AuthResult } from './auth.ts';
import { SharedFrames } from './frames.ts';
import { StreamSession } from './session.ts';
import type { SessionInfo } from './session.ts';

/** Options of StreamServer. */
export interface StreamServerOptions {
  readonly store: SnapshotStore;
  /**
   * The shared bearer token proxies present (a StaticTokenAuthenticator).
   * Give this or `auth`: the stream carries TLS private keys.
   */
  readonly token?: string;
  /** How proxies' bearer tokens are checked (e.g. a ServiceAccountAuthenticator); overrides `token`. */
  readonly auth?: Authenticator;
  /**
   * Protocol versions spoken, preferred first (default STREAM_PROTOCOLS).
   * Only tests set this, to play an older or newer controller.
   */
  readonly protocols?: readonly string[];
  /**
   * An http(s) server to attach to (its other requests are left alone; every
   * websocket upgrade on it is handled here). Without one, the stream server
   * creates and owns a plain HTTP server bound by listen().
   */
  readonly server?: Server | HttpsServer;
  /**
   * Certificate and key of the owned server: the stream carries private keys
   * and the bearer token, so anything beyond loopback must use it.
   */
  readonly tls?: StreamTls;
  /** Bind address of the owned server; default "127.0.0.1". */
  readonly host?: string;
  /** Port of the owned server; default 0 (any free port; see `port`). */
  readonly port?: number;
  /**
   * Largest frame accepted from a proxy. Proxies only send hello/ack/nack, so
   * 64 KiB is generous and stops a client from making us buffer megabytes.
   */
  readonly maxPayload?: number;
  /** A proxy must say hello within this time (default 10 s). */
  readonly helloTimeoutMs?: number;
  /** Ping interval (default 10 s); a proxy that misses 2 pongs is terminated. */
  readonly heartbeatIntervalMs?: number;
  /** How long close() waits for proxies to answer the close handshake (default 2 s). */
  readonly closeTimeoutMs?: number;
  readonly log?: Logger;
}

/** PEM certificate chain and key the stream server presents. */
export interface StreamTls {
  readonly cert: string;
  readonly key: string;
}

/** Serves the snapshot stream to proxies and tracks their sessions for the admin page. */
export class StreamServer {
  readonly #store: SnapshotStore;
  readonly #auth: Authenticator;
  readonly #protocols: readonly string[];
  readonly #frames = new SharedFrames();
  /** Sockets waiting for their token to be checked, so close() can drop them. */
  readonly #pending = new Set<Socket>();
  /** When each remembered version was published (monotonic ms), for the lag of each proxy. */
  readonly #publishedAt = new Map<string, number>();
  readonly #server: Server | HttpsServer;
  readonly #owned: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #helloTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #log: Logger;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<number, StreamSession>();
  readonly #changeListeners = new Set<() => void>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  constructor(opts: StreamServerOptions) {
    if (opts.auth === undefined && (typeof opts.token !== 'string' || opts.token.length === 0)) {
      throw new TurnoutError('INVALID_ARGUMENT', 'the snapshot stream needs a non-empty token or an authenticator');
    }
    this.#store = opts.store;
    this.#auth = opts.auth ?? new StaticTokenAuthenticator(opts.token!);
    this.#protocols = opts.protocols ?? STREAM_PROTOCOLS;
    if (this.#protocols.length === 0) throw new TurnoutError('INVALID_ARGUMENT', 'the stream needs at least one protocol version');
    this.#owned = opts.server === undefined;
    this.#server = opts.server ?? ownServer(opts.tls);
    this.#host = opts.host ?? '127.0.0.1';
    this.#port = opts.port ?? 0;
    this.#helloTimeoutMs = opts.helloTimeoutMs ?? 10_000;
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? 2_000;
    this.#log = opts.log ?? createLogger({ level: 'warn' });
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayload ?? 64 * 1024,
      // Deflate fragments memory per connection; snapshots are serialised once
      // and the same string goes to every proxy instead (pitfalls.md).
      perMessageDeflate: false,
      clientTracking: false,
      // The upgrade handler already refused clients without a common version.
      handleProtocols: (offered) => this.#protocols.find((p) => offered.has(p)) ?? false,
    });
    this.#server.on('upgrade', this.#onUpgrade);
    const current = this.#store.current;
    if (current !== undefined) this.#publishedAt.set(current.version, performance.now());
    this.#unsubscribe = this.#store.subscribe((snapshot) => {
      this.#notePublished(snapshot.version);
      for (const s of this.#sessions.values()) s.published();
    });
    this.#heartbeat = setInterval(() => {
      for (const s of this.#sessions.values()) s.heartbeat();
    }, opts.heartbeatIntervalMs ?? 10_000);
    this.#heartbeat.unref();
  }

  /** Binds the owned server (a no-op for an attached one); resolves with the bound port. */
  async listen(): Promise<number> {
    if (this.#owned && !this.#server.listening) {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.#port, this.#host, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    }
    return this.port;
  }

  /** The bound port (after listen(), or once an attached server listens); 0 if not listening. */
  get port(): number {
    const addr = this.#server.address();
    return typeof addr === 'object' && addr !== null ? (addr as AddressInfo).port : 0;
  }

  /** Every connected proxy, for the admin page. */
  sessions(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => s.info());
  }

  /**
   * Stops accepting proxies, closes every session with 1001 (going away), waits
   * up to closeTimeoutMs for the handshakes, then drops whatever remains.
   * Proxies keep serving their last snapshot and reconnect to the next controller.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#server.off('upgrade', this.#onUpgrade);
    this.#unsubscribe();
    clearInterval(this.#heartbeat);
    for (const socket of this.#pending) reject(socket, 503, 'controller shutting down');
    this.#pending.clear();
    const sessions = [...this.#sessions.values()];
    for (const s of sessions) s.close(1001, 'controller shutting down');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#closeTimeoutMs)));
    await Promise.race([Promise.all(sessions.map((s) => s.closed)), timeout]);
    clearTimeout(timer);
    for (const s of sessions) s.terminate();
    await Promise.all(sessions.map((s) => s.closed));
    this.#wss.close();
    if (this.#owned && this.#server.listening) {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      await closed;
    }
  }

  // An arrow property so close() can remove exactly this listener.
  readonly #onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    socket.on('error', () => socket.destroy()); // a reset during the handshake must not crash us
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.#closing !== undefined) return reject(socket, 503, 'controller shutting down');
    const path = (req.url ?? '/').split('?')[0];
    if (path !== STREAM_PATH) {
      this.#refuse('STREAM_NOT_FOUND', remote, `upgrade for ${JSON.stringify(path?.slice(0, 100))}`);
      return reject(socket, 404, `the snapshot stream is at ${STREAM_PATH}`);
    }
    // The version check comes before the token check: it costs nothing, while
    // a token check may cost a request to the API server.
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    if (!this.#protocols.some((p) => offered.includes(p))) {
      const shown = offered.length === 0 ? 'no protocol version' : truncate(offered.join(', '), 200);
      this.#refuse('STREAM_BAD_SUBPROTOCOL', remote, `offered ${JSON.stringify(shown)}`);
      return reject(socket, 400, `unsupported snapshot stream protocol: the proxy offered ${shown}; this controller speaks ${this.#protocols.join(', ')}`);
    }
    const bearer = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) {
      this.#refuse('STREAM_UNAUTHORIZED', remote, 'no bearer token');
      return reject(socket, 401, 'a bearer token is required', { 'WWW-Authenticate': 'Bearer' });
    }
    // Checking the token may take a round trip to the API server: the socket
    // may close meanwhile, or the server start shutting down.
    this.#pending.add(socket);
    socket.once('close', () => this.#pending.delete(socket));
    this.#auth.authenticate(bearer).catch((err: unknown): AuthResult => (
      { ok: false, status: 503, reason: `authentication failed: ${(err as Error)?.message ?? err}` }
    )).then((result) => {
      // Not pending any more: close() answered it, or it closed meanwhile.
      if (!this.#pending.delete(socket)) return;
      if (socket.destroyed || !socket.readable || !socket.writable) {
        this.#log.debug('a proxy went away while its token was checked', { remote });
        return void socket.destroy();
      }
      if (this.#closing !== undefined) return reject(socket, 503, 'controller shutting down');
      if (!result.ok) {
        const code = result.status === 401 ? 'STREAM_UNAUTHORIZED' : result.status === 403 ? 'STREAM_FORBIDDEN' : 'STREAM_AUTH_UNAVAILABLE';
        this.#refuse(code, remote, result.reason);
        return reject(socket, result.status, result.reason, result.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, remote, result.identity));
    }).catch((err: unknown) => {
      this.#log.error('stream upgrade failed', { err, remote });
      socket.destroy();
    });
  };

  #accept(ws: WebSocket, remote: string, identity: string): void {
    if (this.#closing !== undefined) {
      ws.close(1001, 'controller shutting down');
      return;
    }
    const id = this.#nextId++;
    const session = new StreamSession(ws, {
      id, store: this.#store, remoteAddress: remote, identity, helloTimeoutMs: this.#helloTimeoutMs, log: this.#log,
      encode: (msg: ControllerMessage) => this.#frames.get(this.#store, msg),
      publishedAt: (version) => this.#publishedAt.get(version),
      changed: () => this.#proxiesChanged(),
    });
    this.#sessions.set(id, session);
    void session.closed.then(() => {
      this.#sessions.delete(id);
      this.#proxiesChanged();
    });
  }

  /**
   * Calls `listener` whenever a proxy connects, disconnects, or ACKs or NACKs
   * a version (what Programmed depends on). Returns the unsubscribe.
   */
  onProxiesChanged(listener: () => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  #proxiesChanged(): void {
    for (const l of [...this.#changeListeners]) l();
  }

  /** Remembers publish times of the versions the store still remembers (so the map stays bounded). */
  #notePublished(version: string): void {
    this.#publishedAt.delete(version);
    this.#publishedAt.set(version, performance.now());
    const remembered = new Set(this.#store.versions());
    for (const v of this.#publishedAt.keys()) {
      if (!remembered.has(v)) this.#publishedAt.delete(v);
    }
  }

  #refuse(code: ErrorCode, remote: string, detail: string): void {
    this.#log.warn(`refused a stream connection: ${detail}`, { code, remote });
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * A server for the stream alone (TLS when given a certificate): every plain
 * HTTP request gets 426 or 404, with tight timeouts.
 */
function ownServer(tls: StreamTls | undefined): Server | HttpsServer {
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const status = (req.url ?? '').split('?')[0] === STREAM_PATH ? 426 : 404;
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`${STATUS_CODES[status]}\n`);
  };
  const server = tls === undefined ? createServer(answer) : createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, answer);
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return server;
}

/** Answers a refused upgrade with a bare HTTP response and closes the socket once it is written. */
function reject(socket: Socket, status: number, body: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) return void socket.destroy();
  const text = `${body}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`, 'Connection: close', 'Content-Type: text/plain',
    `Content-Length: ${Buffer.byteLength(text)}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
}
