// One proxy's connection to the snapshot stream: the per-proxy half of the
// protocol documented in api/stream.ts. The session remembers what the proxy
// acknowledged and never has more than one snapshot or delta outstanding, so a
// slow proxy is coalesced onto the newest version instead of queueing every
// version in between (pitfalls.md: ws send() does not report backpressure).
import type { WebSocket } from 'ws';
import type { Version } from '../../api/snapshot.ts';
import { parseProxyMessage, RESYNC_NACK_CODES, RETRY_NACK_CODES, StreamProtocolError } from '../../api/stream.ts';
import type { AckMessage, ControllerMessage, HelloMessage, NackMessage } from '../../api/stream.ts';
import { childLogger, type Logger } from '../../lib/log.ts';
import type { SnapshotStore } from '../snapshot/store.ts';

/** Close code for protocol violations (RFC 6455). */
export const CLOSE_PROTOCOL_ERROR = 1002;

/** A proxy's last refusal, as the admin page shows it. */
export interface NackRecord {
  readonly version: Version;
  readonly code: string;
  readonly reason: string;
  /** ISO time of the NACK. */
  readonly at: string;
}

/** What the admin page and logs know about one connected proxy. */
export interface SessionInfo {
  readonly id: number;
  /** From the hello; undefined until it arrives. */
  readonly proxyId: string | undefined;
  readonly remoteAddress: string;
  /** Who the bearer token belongs to ("token" for the shared token, else the ServiceAccount user). */
  readonly identity: string;
  /** The protocol version negotiated for this connection. */
  readonly protocol: string;
  readonly connectedAt: string;
  /** The version the proxy serves (its hello, last ACK, or the `current` of its last NACK). */
  readonly ackedVersion: Version | undefined;
  /** The version sent and not yet acknowledged. */
  readonly inFlightVersion: Version | undefined;
  readonly lastNack: NackRecord | undefined;
  readonly messagesSent: number;
  readonly bytesSent: number;
  /**
   * Bytes handed to the socket and not yet taken by the kernel. With one
   * message in flight this never exceeds one message, and the bytes are shared
   * with every other proxy receiving the same message.
   */
  readonly bufferedBytes: number;
  /**
   * How long this proxy has been behind (ms): 0 when it serves the newest
   * version, else the time since the first version it has not acknowledged
   * was published (since it connected, when that is not known).
   */
  readonly lagMs: number;
}

/** Options of StreamSession; the server fills them in. */
export interface StreamSessionOptions {
  readonly id: number;
  readonly store: SnapshotStore;
  readonly remoteAddress: string;
  readonly identity: string;
  readonly helloTimeoutMs: number;
  readonly log: Logger;
  /** The bytes of a message, shared by every session it goes to (default: the store's text). */
  readonly encode?: (msg: ControllerMessage) => Buffer | string;
  /** When a remembered version was published (performance.now() ms), for the lag. */
  readonly publishedAt?: (version: Version) => number | undefined;
  /** Called after the proxy's served version may have changed (hello, ACK, NACK); Programmed status follows it. */
  readonly changed?: () => void;
}

const MAX_PROXY_ID = 253;
const MAX_LOGGED_REASON = 2048;
/** Backoff of re-offering a version refused for a passing reason (RETRY_NACK_CODES). */
const RETRY_INITIAL_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** Drives the protocol for one websocket. The server owns accept, heartbeat timing and shutdown. */
export class StreamSession {
  readonly #ws: WebSocket;
  readonly #opts: StreamSessionOptions;
  readonly #log: Logger;
  readonly #connectedAt = new Date().toISOString();
  #helloTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = RETRY_INITIAL_MS;
  #proxyId: string | undefined;
  #acked: Version | undefined;
  #inFlight: { version: Version; full: boolean } | undefined;
  /** A version the proxy refused: not sent again while it stays current. */
  #refused: Version | undefined;
  #forceFull = false;
  #lastNack: NackRecord | undefined;
  #missedPongs = 0;
  #sent = 0;
  #bytes = 0;
  /** performance.now() since when the proxy has not served the newest version; undefined while current. */
  #behindSince: number | undefined;
  #closed = false;
  #ending = false;
  #resolveClosed!: () => void;
  /** Resolves when the socket is closed. */
  readonly closed: Promise<void>;

  constructor(ws: WebSocket, opts: StreamSessionOptions) {
    this.#ws = ws;
    this.#opts = opts;
    this.#log = childLogger(opts.log, () => ({ session: opts.id, proxyId: this.#proxyId, remote: opts.remoteAddress }));
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#helloTimer = setTimeout(
      () => this.#protocolError(`no hello within ${opts.helloTimeoutMs} ms`, 'STREAM_HELLO_TIMEOUT'),
      opts.helloTimeoutMs,
    );
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.on('pong', () => (this.#missedPongs = 0));
    ws.on('close', () => this.#onClose());
    ws.on('error', (err) => this.#log.warn('proxy connection error', { err }));
  }

  info(): SessionInfo {
    return {
      id: this.#opts.id, proxyId: this.#proxyId, remoteAddress: this.#opts.remoteAddress,
      identity: this.#opts.identity, protocol: this.#ws.protocol,
      connectedAt: this.#connectedAt, ackedVersion: this.#acked, inFlightVersion: this.#inFlight?.version,
      lastNack: this.#lastNack, messagesSent: this.#sent, bytesSent: this.#bytes,
      bufferedBytes: this.#ws.bufferedAmount,
      lagMs: this.#behindSince === undefined ? 0 : Math.max(0, Math.round(performance.now() - this.#behindSince)),
    };
  }

  /** The store published a new version: note the lag, send it if the proxy is idle. */
  published(): void {
    if (this.#proxyId !== undefined) this.#updateLag();
    this.pump();
  }

  /**
   * Sends the newest version if the proxy is idle and does not have it: the full
   * snapshot, or a delta from the acknowledged version when the store still has
   * that version. Called on hello, ACK, NACK and every publish.
   */
  pump(): void {
    if (this.#closed || this.#ending || this.#proxyId === undefined || this.#inFlight !== undefined) return;
    const current = this.#opts.store.current;
    if (current === undefined || current.version === this.#acked || current.version === this.#refused) return;
    const msg = this.#forceFull || this.#acked === undefined
      ? this.#opts.store.full(current)
      : this.#opts.store.delta(this.#acked, current);
    const data = this.#opts.encode?.(msg) ?? this.#opts.store.encode(msg);
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.#forceFull = false;
    this.#refused = undefined;
    this.#inFlight = { version: current.version, full: msg.type === 'snapshot' };
    this.#sent++;
    this.#bytes += bytes;
    this.#log.debug('sending', { type: msg.type, version: current.version, base: this.#acked, bytes });
    // A Buffer goes out as a text frame too (binary: false), written by reference.
    this.#ws.send(data, { binary: false }, (err) => {
      if (err && !this.#closed) {
        this.#log.warn('send failed; dropping the connection', { err });
        this.#ws.terminate();
      }
    });
  }

  /**
   * One heartbeat tick: pings, or terminates a proxy that missed two pongs in a
   * row (a half-open TCP connection would otherwise look connected forever).
   */
  heartbeat(): void {
    if (this.#closed) return;
    if (this.#missedPongs >= 2) {
      this.#log.warn('proxy missed 2 pongs; terminating', { code: 'STREAM_HEARTBEAT_TIMEOUT' });
      this.#ws.terminate();
      return;
    }
    this.#missedPongs++;
    this.#ws.ping();
  }

  /** Starts a close handshake (shutdown); `terminate()` if the peer does not answer. */
  close(code: number, reason: string): void {
    this.#ending = true;
    this.#ws.close(code, reason);
  }

  /** Drops the connection without a handshake. */
  terminate(): void {
    this.#ws.terminate();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#closed || this.#ending) return;
    if (isBinary) return this.#protocolError('binary frames are not part of the protocol');
    let msg;
    try {
      msg = parseProxyMessage(data.toString('utf8'));
    } catch (err) {
      return this.#protocolError(err instanceof StreamProtocolError ? err.message : String(err));
    }
    if (msg.type === 'hello') return this.#onHello(msg);
    if (this.#proxyId === undefined) return this.#protocolError(`${msg.type} before hello`);
    if (this.#inFlight === undefined || msg.version !== this.#inFlight.version) {
      return this.#protocolError(`${msg.type} for ${msg.version} but ${this.#inFlight?.version ?? 'nothing'} is outstanding`);
    }
    if (msg.type === 'ack') this.#onAck(msg);
    else this.#onNack(msg);
    this.pump();
  }

  #onHello(msg: HelloMessage): void {
    if (this.#proxyId !== undefined) return this.#protocolError('a second hello');
    // The subprotocol decided how both sides read every message: a hello that
    // claims another version means the proxy would misread what we send.
    if (msg.protocol !== this.#ws.protocol) {
      return this.#protocolError(`hello speaks ${JSON.stringify(msg.protocol.slice(0, 40))} but the connection negotiated ${this.#ws.protocol}`, 'STREAM_PROTOCOL_MISMATCH');
    }
    if (msg.proxyId.length > MAX_PROXY_ID) return this.#protocolError(`proxyId longer than ${MAX_PROXY_ID} characters`);
    clearTimeout(this.#helloTimer);
    this.#proxyId = msg.proxyId;
    this.#acked = msg.version;
    this.#updateLag();
    this.#opts.changed?.();
    this.#log.info('proxy connected', { version: msg.version, protocol: this.#ws.protocol, identity: this.#opts.identity });
    this.pump();
  }

  #onAck(msg: AckMessage): void {
    this.#retryDelayMs = RETRY_INITIAL_MS;
    this.#acked = msg.version;
    this.#inFlight = undefined;
    this.#updateLag();
    this.#opts.changed?.();
    this.#log.debug('proxy acknowledged', { version: msg.version });
  }

  #onNack(msg: NackMessage): void {
    const wasFull = this.#inFlight?.full === true;
    this.#inFlight = undefined;
    this.#acked = msg.current;
    this.#updateLag();
    this.#opts.changed?.();
    const reason = msg.reason.length > MAX_LOGGED_REASON ? `${msg.reason.slice(0, MAX_LOGGED_REASON)}…` : msg.reason;
    this.#lastNack = { version: msg.version, code: msg.code, reason, at: new Date().toISOString() };
    if (RESYNC_NACK_CODES.has(msg.code) && !wasFull) {
      // The proxy's base differed or the patch did not apply: the version itself
      // may be fine, so resend it whole.
      this.#forceFull = true;
      this.#log.info('proxy could not apply a delta; sending the full snapshot', { version: msg.version, nack: msg.code, reason });
      return;
    }
    // Not sent again until a different version is published (go-control-plane #962)...
    this.#refused = msg.version;
    if (RETRY_NACK_CODES.has(msg.code)) {
      // ...unless the refusal is about the proxy's surroundings (a port still
      // held by the process it replaces): then offer it again, backing off.
      const delay = this.#retryDelayMs;
      this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, RETRY_MAX_MS);
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => {
        if (this.#refused !== msg.version) return;
        this.#refused = undefined;
        this.pump();
      }, delay);
      this.#retryTimer.unref();
    }
    this.#log.warn('proxy refused a snapshot and keeps serving its current one', {
      code: 'STREAM_NACK', version: msg.version, current: msg.current, nack: msg.code, reason,
    });
  }

  /**
   * Behind since the publish of the first version after the one served, when
   * the history still has both; else since it was first seen behind.
   */
  #updateLag(): void {
    const current = this.#opts.store.current?.version;
    if (current === undefined || current === this.#acked) {
      this.#behindSince = undefined;
      return;
    }
    const versions = this.#opts.store.versions();
    const i = this.#acked === undefined ? -1 : versions.indexOf(this.#acked);
    const next = i >= 0 ? versions[i + 1] : undefined;
    const since = next === undefined ? undefined : this.#opts.publishedAt?.(next);
    this.#behindSince = since ?? this.#behindSince ?? performance.now();
  }

  #protocolError(reason: string, code = 'STREAM_PROTOCOL'): void {
    this.#ending = true; // ignore whatever else arrives before the close completes
    this.#log.warn(`closing: ${reason}`, { code });
    this.#ws.close(CLOSE_PROTOCOL_ERROR, truncateUtf8(reason, 123));
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#helloTimer);
    clearTimeout(this.#retryTimer);
    this.#log.info('proxy disconnected');
    this.#resolveClosed();
  }

}

/** A websocket close reason is at most 123 bytes of UTF-8. */
function truncateUtf8(text: string, maxBytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
}
