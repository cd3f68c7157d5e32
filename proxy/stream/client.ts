// The proxy's end of the snapshot stream (protocol in api/stream.ts): connect,
// say hello with the version being served, apply what arrives strictly in
// order, answer each with ACK or NACK, and reconnect forever. While
// disconnected the applier is left alone, so the proxy keeps routing with its
// last good table; the hello on reconnect lets the controller answer with a
// delta, or with nothing when the proxy is already current.
//
// The proxy offers every protocol version it speaks; a controller that speaks
// none of them refuses the upgrade with an HTTP answer naming its own, which
// comes out in the 'disconnected' event (as does a refused token). The token
// is fetched again before every connection, so a rotated projected
// ServiceAccount token is picked up on the next reconnect.
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import { WebSocket } from 'ws';
import type { ClientOptions } from 'ws';
import type { Version } from '../../api/snapshot.ts';
import { parseControllerMessage, STREAM_PATH, STREAM_PROTOCOLS, StreamProtocolError } from '../../api/stream.ts';
import type { AckMessage, ControllerMessage, HelloMessage, NackMessage } from '../../api/stream.ts';
import type { ApplyOutcome, SnapshotApplier } from '../applier.ts';
import { applyDelta } from './delta.ts';

/**
 * Default cap on one controller message: 256 MiB. A 10k-Ingress snapshot is a
 * few MB, but each TLS Secret adds ~5 KB of PEM, so 10k TLS hosts approach
 * 50 MB; ws buffers a whole message and JSON.parse needs several times that,
 * and V8 strings stop near 512 MiB anyway. Beyond this, fail loudly (close 1009)
 * rather than run out of memory.
 */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;

/** Options of StreamClient. */
export interface StreamClientOptions {
  /** The controller: "ws://host:port" or "wss://host:port" (http(s) is accepted too); the path is STREAM_PATH. */
  readonly url: string;
  /**
   * The bearer token, or a function that yields it: called before every
   * connection attempt, so a token file that rotates (a projected
   * ServiceAccount token) is re-read. A rejection counts as a failed attempt.
   */
  readonly token: string | (() => string | Promise<string>);
  /** Protocol versions offered, preferred first (default STREAM_PROTOCOLS); tests play other proxies with it. */
  readonly protocols?: readonly string[];
  /** Names this proxy in the controller's logs and admin page (pod name). */
  readonly proxyId: string;
  readonly applier: SnapshotApplier;
  readonly maxPayload?: number;
  /** Reconnect backoff with full jitter: a random delay in [0, min(maxMs, initialMs·2^attempt)]. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Drop the connection when neither a ping nor any message arrived for this long (default 30 s). */
  readonly heartbeatTimeoutMs?: number;
  /** Give up on a connection attempt after this long (default 10 s). */
  readonly handshakeTimeoutMs?: number;
  /**
   * Deltas copy the large virtual hosts and clusters maps as overlays
   * (stream/delta.ts, overlay.ts) instead of whole: for an applier that keeps
   * the candidate in this process (a DataPlane) or copies it plain before it
   * sends it whole anywhere (proxy/workers.ts). Default false.
   */
  readonly overlays?: boolean;
  /** TLS settings for wss:// (CA bundle, client certificate, servername, ...). */
  readonly tls?: Pick<ClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> & { readonly servername?: string };
}

/** Event payloads, for logs, metrics and tests. */
export interface StreamClientEvents {
  /** `protocol`: the version the controller picked. */
  connected: [{ readonly url: string; readonly protocol: string }];
  /**
   * `code` and `reason` of the close frame (1006 when there was none). When
   * the controller refused the upgrade, `status` is its HTTP status and
   * `reason` its answer, e.g. "HTTP 400 Bad Request: unsupported snapshot
   * stream protocol: ...; this controller speaks turnout.snapshot.v1".
   */
  disconnected: [{ readonly code: number; readonly reason: string; readonly status?: number; readonly error?: Error; readonly retryInMs?: number }];
  applied: [{ readonly version: Version; readonly kind: 'snapshot' | 'delta'; readonly bytes: number }];
  nacked: [{ readonly version: Version; readonly kind: 'snapshot' | 'delta'; readonly code: string; readonly reason: string }];
}

/** NACK code when the applier broke its contract and threw. */
const APPLY_THREW = 'APPLY_THREW';
/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 10_000;
/** Most of a refusal's body kept for the 'disconnected' event. */
const MAX_REFUSAL_BYTES = 1024;

/** The controller answered the upgrade with an HTTP status instead of a websocket. */
export class StreamRefusedError extends Error {
  readonly code = 'STREAM_REFUSED';
  readonly status: number;
  /** "HTTP <status> <text>: <the controller's answer>". */
  readonly reason: string;
  constructor(status: number, reason: string) {
    super(`controller refused the stream: ${reason}`);
    this.status = status;
    this.reason = reason;
  }
}

/** Keeps one proxy subscribed to the controller's snapshots. */
export class StreamClient extends EventEmitter<StreamClientEvents> {
  readonly #opts: StreamClientOptions;
  readonly #url: string;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #heartbeatMs: number;
  #ws: WebSocket | undefined;
  #queue: Promise<void> = Promise.resolve();
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;

  constructor(opts: StreamClientOptions) {
    super();
    if (!opts.token) throw new TypeError('StreamClient needs a token');
    if (opts.protocols !== undefined && opts.protocols.length === 0) throw new TypeError('StreamClient needs at least one protocol version');
    if (!opts.proxyId) throw new TypeError('StreamClient needs a proxyId');
    const url = new URL(STREAM_PATH, opts.url);
    if (url.protocol === 'http:') url.protocol = 'ws:';
    if (url.protocol === 'https:') url.protocol = 'wss:';
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`unsupported controller URL ${opts.url}`);
    this.#url = url.href;
    this.#opts = opts;
    this.#initialMs = opts.backoff?.initialMs ?? 100;
    this.#maxMs = opts.backoff?.maxMs ?? 10_000;
    this.#heartbeatMs = opts.heartbeatTimeoutMs ?? 30_000;
  }

  /** The stream URL in use. */
  get url(): string {
    return this.#url;
  }

  /** True while a websocket to the controller is open. */
  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Connects, and keeps reconnecting until close(). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#connect();
  }

  /**
   * Stops reconnecting and closes the connection. An apply already running is
   * not interrupted (the applier finishes or refuses it on its own).
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.close(1000, 'proxy shutting down');
    const timer = setTimeout(() => ws.terminate(), 2_000);
    await closed;
    clearTimeout(timer);
  }

  #connect(): void {
    if (this.#closed) return;
    const source = this.#opts.token;
    void (async () => (typeof source === 'string' ? source : await source()))().then(
      (token) => {
        if (typeof token !== 'string' || !/^\S+$/.test(token)) throw new TypeError('the token is empty or contains whitespace');
        this.#open(token);
      },
    ).catch((err: unknown) => {
      if (this.#closed) return;
      const error = err instanceof Error ? err : new Error(String(err));
      const retryInMs = this.#scheduleReconnect();
      this.emit('disconnected', { code: 1006, reason: `no token: ${error.message}`, error, retryInMs });
    });
  }

  #open(token: string): void {
    if (this.#closed) return;
    const ws = new WebSocket(this.#url, [...(this.#opts.protocols ?? STREAM_PROTOCOLS)], {
      ...this.#opts.tls,
      headers: { Authorization: `Bearer ${token}` },
      maxPayload: this.#opts.maxPayload ?? DEFAULT_MAX_SNAPSHOT_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: this.#opts.handshakeTimeoutMs ?? 10_000,
    });
    this.#ws = ws;
    let openedAt: number | undefined;
    let error: Error | undefined;
    let refusal: StreamRefusedError | undefined;
    // Without this listener ws reports only "Unexpected server response: 400";
    // the body says why (which versions the controller speaks, which token check failed).
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () => {
        if (refusal !== undefined) return;
        const body = Buffer.concat(chunks).toString('utf8').slice(0, MAX_REFUSAL_BYTES).trim();
        refusal = new StreamRefusedError(status, `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trim() + (body === '' ? '' : `: ${body}`));
        ws.terminate();
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_REFUSAL_BYTES) finish();
      });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    });
    ws.on('open', () => {
      openedAt = performance.now();
      this.#armHeartbeat(ws);
      this.emit('connected', { url: this.#url, protocol: ws.protocol });
      // Queued behind any apply still running, so the hello names the newest version.
      this.#enqueue(() => this.#hello(ws));
    });
    ws.on('message', (data, isBinary) => {
      this.#armHeartbeat(ws);
      const buf = data as Buffer;
      if (isBinary) return void ws.close(1002, 'binary frames are not part of the protocol');
      // Only the text and its size go into the queue: a closure over `buf`
      // would keep the whole message's Buffer (5 MB at 10k routes) alive
      // through the apply, long enough to be promoted and wait for a full GC.
      const text = buf.toString('utf8');
      const bytes = buf.length;
      this.#enqueue(() => this.#handle(ws, text, bytes));
    });
    ws.on('ping', () => this.#armHeartbeat(ws));
    ws.on('pong', () => this.#armHeartbeat(ws));
    ws.on('error', (err) => (error ??= err));
    ws.on('close', (code, reason) => {
      clearTimeout(this.#heartbeatTimer);
      if (this.#ws === ws) this.#ws = undefined;
      if (openedAt !== undefined && performance.now() - openedAt >= STABLE_MS) this.#attempt = 0;
      const retryInMs = this.#closed ? undefined : this.#scheduleReconnect();
      const why = refusal === undefined
        ? { reason: reason.toString('utf8'), ...(error ? { error } : {}) }
        : { reason: refusal.reason, status: refusal.status, error: refusal };
      this.emit('disconnected', { code, ...why, ...(retryInMs === undefined ? {} : { retryInMs }) });
    });
  }

  /** Full-jitter exponential backoff (AWS architecture blog): spreads a fleet's reconnects after a controller restart. */
  #scheduleReconnect(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const delay = Math.floor(Math.random() * ceiling);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
    return delay;
  }

  /** The controller pings every ~10 s; silence for the heartbeat timeout means a dead path. */
  #armHeartbeat(ws: WebSocket): void {
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(() => {
      if (this.#ws === ws) ws.terminate();
    }, this.#heartbeatMs);
  }

  /** Messages are handled one at a time, in arrival order, across connections. */
  #enqueue(fn: () => Promise<void> | void): void {
    this.#queue = this.#queue.then(fn).catch((err: unknown) => {
      // Only a bug lands here; drop the connection so the next one starts clean.
      this.#ws?.close(1011, truncate(`proxy error: ${(err as Error)?.message ?? err}`));
    });
  }

  #hello(ws: WebSocket): void {
    const version = this.#opts.applier.current?.version;
    const hello: HelloMessage = { type: 'hello', protocol: ws.protocol, proxyId: this.#opts.proxyId, ...(version === undefined ? {} : { version }) };
    this.#send(ws, hello);
  }

  async #handle(ws: WebSocket, text: string, bytes: number): Promise<void> {
    if (ws !== this.#ws || ws.readyState !== WebSocket.OPEN) return; // from a connection that is gone
    let msg: ControllerMessage;
    try {
      msg = parseControllerMessage(text);
      // Not needed past the parse: dropped so a young-generation collection
      // during the apply can free it (a 10k-route full message is a 5 MB string).
      text = '';
    } catch (err) {
      ws.close(1002, truncate(err instanceof StreamProtocolError ? err.message : String(err)));
      return;
    }
    const applier = this.#opts.applier;
    let version: Version;
    let outcome: ApplyOutcome;
    if (msg.type === 'snapshot') {
      const v = (msg.snapshot as { version?: unknown }).version;
      version = typeof v === 'string' && v !== '' ? v : 'unknown';
      outcome = await this.#apply(msg.snapshot);
    } else {
      version = msg.version;
      const result = applyDelta(applier.current, msg, { overlays: this.#opts.overlays === true });
      outcome = result.ok ? await this.#apply(result.candidate) : { ok: false, version, code: result.code, reason: result.reason };
    }
    if (outcome.ok) {
      this.#send(ws, { type: 'ack', version: outcome.version } satisfies AckMessage);
      this.emit('applied', { version: outcome.version, kind: msg.type, bytes });
    } else {
      const current = applier.current?.version;
      const nack: NackMessage = { type: 'nack', version, code: outcome.code, reason: outcome.reason, ...(current === undefined ? {} : { current }) };
      this.#send(ws, nack);
      this.emit('nacked', { version, kind: msg.type, code: outcome.code, reason: outcome.reason });
    }
  }

  async #apply(candidate: unknown): Promise<ApplyOutcome> {
    try {
      return await this.#opts.applier.apply(candidate);
    } catch (err) {
      return { ok: false, code: APPLY_THREW, reason: `the applier threw: ${(err as Error)?.message ?? err}` };
    }
  }

  #send(ws: WebSocket, msg: HelloMessage | AckMessage | NackMessage): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }
}

/** Close reasons are limited to 123 bytes. */
function truncate(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}
