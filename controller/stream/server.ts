// The controller's snapshot stream endpoint: proxies connect with a websocket
// on STREAM_PATH and receive every new snapshot (protocol in api/stream.ts).
//
// Authentication happens in the HTTP `upgrade` handler, before ws sees the
// request (pitfalls.md): an unauthenticated client gets a bare 401 and its
// socket is destroyed, so it never costs a websocket, a session or a snapshot.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { STREAM_PATH, STREAM_PROTOCOL } from '../../api/stream.ts';
import { TurnoutError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { SnapshotStore } from '../snapshot/store.ts';
import { StreamSession } from './session.ts';
import type { SessionInfo } from './session.ts';

/** Options of StreamServer. */
export interface StreamServerOptions {
  readonly store: SnapshotStore;
  /** The shared bearer token proxies present. Required: the stream carries TLS private keys. */
  readonly token: string;
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
  readonly #tokenDigest: Buffer;
  readonly #server: Server | HttpsServer;
  readonly #owned: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #helloTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #log: Logger;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<number, StreamSession>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  constructor(opts: StreamServerOptions) {
    if (typeof opts.token !== 'string' || opts.token.length === 0) {
      throw new TurnoutError('INVALID_ARGUMENT', 'the snapshot stream needs a non-empty token');
    }
    this.#store = opts.store;
    this.#tokenDigest = digest(opts.token);
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
      handleProtocols: (protocols) => (protocols.has(STREAM_PROTOCOL) ? STREAM_PROTOCOL : false),
    });
    this.#server.on('upgrade', this.#onUpgrade);
    this.#unsubscribe = this.#store.subscribe(() => {
      for (const s of this.#sessions.values()) s.pump();
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
    if (!this.#authorized(req.headers.authorization)) {
      this.#refuse('STREAM_UNAUTHORIZED', remote, 'missing or wrong bearer token');
      return reject(socket, 401, 'a valid bearer token is required', { 'WWW-Authenticate': 'Bearer' });
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(STREAM_PROTOCOL)) {
      this.#refuse('STREAM_BAD_SUBPROTOCOL', remote, `offered ${JSON.stringify(offered.join(', ').slice(0, 100))}`);
      return reject(socket, 400, `this controller speaks ${STREAM_PROTOCOL}`);
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, remote));
  };

  #accept(ws: WebSocket, remote: string): void {
    if (this.#closing !== undefined) {
      ws.close(1001, 'controller shutting down');
      return;
    }
    const id = this.#nextId++;
    const session = new StreamSession(ws, { id, store: this.#store, remoteAddress: remote, helloTimeoutMs: this.#helloTimeoutMs, log: this.#log });
    this.#sessions.set(id, session);
    void session.closed.then(() => this.#sessions.delete(id));
  }

  /** Constant-time comparison over equal-length digests, so timing reveals neither content nor length. */
  #authorized(header: string | undefined): boolean {
    const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(digest(m[1]!), this.#tokenDigest);
  }

  #refuse(code: ErrorCode, remote: string, detail: string): void {
    this.#log.warn(`refused a stream connection: ${detail}`, { code, remote });
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
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
