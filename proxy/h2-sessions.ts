// The HTTP/2 side of an HTTPS listener (listeners.ts): the session settings
// chosen on purpose, and the sessions a listener must be able to drain.
//
// Why tracked here: an HTTP/2 session is one TLS connection carrying many
// streams. Node's http2 server has no closeAllConnections() for sessions, and
// its closeIdleConnections() only sees HTTP/1.1 connections, so a listener
// keeps its own set of sessions, as it does for upgraded websocket sockets.
//
// Drain: server.close() sends GOAWAY on every session (session.close(), which
// Node's Http2SecureServer.close() calls): streams already open finish, the
// client opens new ones elsewhere. What is still open at the drain deadline
// is destroyed (destroyAll()).
//
// Idle: a session with no open stream for `idleMs` (the listener's
// keepAliveTimeoutMs, as for HTTP/1.1; counted from the last frame or the
// last stream's end) is closed with GOAWAY. A session with
// an open stream is never closed for idleness: a quiet gRPC stream is not
// idle (route timeouts bound it, forward.ts), and GOAWAY-ing it would make the
// client reconnect for nothing. Open streams are counted by their responses
// (H2Response calls streamOpened), not by listeners of their own.
import type { Http2Session, ServerHttp2Session } from 'node:http2';
import type { SecureServerOptions } from 'node:http2';
import { Slots } from './inflight.ts';

/** The HTTP/2 knobs of an HTTPS listener, each set on purpose (listeners.ts ServerLimits). */
export interface H2Limits {
  /**
   * Streams a client may have open at once on one session (SETTINGS_MAX_
   * CONCURRENT_STREAMS). Node's default is unbounded; RFC 9113 recommends no
   * less than 100; nginx uses 128. 100: one client cannot hold thousands of
   * upstream requests with one connection.
   */
  readonly maxConcurrentStreams: number;
  /**
   * Memory one session may buffer (Node's maxSessionMemory, in MB), beyond
   * which new streams are refused (ENHANCE_YOUR_CALM). Node's default 10,
   * stated so it does not drift.
   */
  readonly maxSessionMemoryMb: number;
  /** The largest request header list, uncompressed (SETTINGS_MAX_HEADER_LIST_SIZE): the HTTP/1.1 maxHeaderSize. */
  readonly maxHeaderListSize: number;
  /** Time a session may have no open stream before GOAWAY: the HTTP/1.1 keepAliveTimeoutMs. */
  readonly idleMs: number;
}

/** The http2.createSecureServer options for `limits` (merged into the TLS and HTTP/1.1 options by listeners.ts). */
export function h2ServerOptions(limits: H2Limits): SecureServerOptions {
  return {
    maxSessionMemory: limits.maxSessionMemoryMb,
    // A stream's headers as a count: RFC 7541 counts 32 octets of overhead per
    // entry, so maxHeaderListSize already bounds the count to size/32; Node's
    // own default (128 pairs) would refuse header lists HTTP/1.1 accepts.
    maxHeaderListPairs: Math.max(128, Math.floor(limits.maxHeaderListSize / 32)),
    // Until the client's SETTINGS arrive; a server opens no streams (no push).
    peerMaxConcurrentStreams: limits.maxConcurrentStreams,
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListSize,
      enablePush: false,
      // No extended CONNECT (RFC 8441): websockets over HTTP/2 are not served;
      // browsers then use HTTP/1.1 for websockets (listeners.ts 'upgrade').
      enableConnectProtocol: false,
    },
  };
}

/** A tracked session's open streams, and what a stream's end calls. */
interface OpenStreams {
  readonly opened: () => void;
  readonly closed: () => void;
}

/** The open-stream counts of tracked sessions (H2Sessions.add), reported by their streams' responses. */
const openStreams = new WeakMap<Http2Session, OpenStreams>();

/**
 * Counts a new stream of `session` as open; returns what to call when it
 * closes (undefined for a session not tracked: draining, or a test's own).
 * Called by H2Response, which listens for the stream's 'close' anyway: a
 * listener added to an http2 stream costs an emitted 'newListener' and, for
 * once(), a 'removeListener' (Node tracks some stream listeners), and a
 * second one per stream measured a few µs per request.
 */
export function streamOpened(session: Http2Session | undefined): (() => void) | undefined {
  const count = session === undefined ? undefined : openStreams.get(session);
  if (count === undefined) return undefined;
  count.opened();
  return count.closed;
}

/** The HTTP/2 sessions of one listener, for idle closing and drain. */
export class H2Sessions {
  /** Open sessions: slots, not a Set (inflight.ts: a Set churned per connection makes scavenges promote). */
  readonly #sessions = new Slots<ServerHttp2Session>();
  readonly #idleMs: number;

  constructor(idleMs: number) {
    this.#idleMs = idleMs;
  }

  /** Number of open sessions (tests, admin). */
  get size(): number {
    return this.#sessions.size;
  }

  /** The server's 'session' listener: tracks `session` until it closes. */
  add(session: ServerHttp2Session, draining: boolean): void {
    const slot = this.#sessions.add(session);
    session.once('close', () => this.#sessions.remove(slot));
    // An 'error' with no listener would throw; the session is destroyed by
    // Node either way, and its streams report to their own handlers.
    session.on('error', () => {});
    if (draining) {
      session.close();
      return;
    }
    const idleMs = this.#idleMs;
    let open = 0;
    const count: OpenStreams = {
      opened: () => {
        // No idle timer while a stream is open: such a session is never idle,
        // and Node refreshes an armed session timer on every frame and stream
        // write (a timer-list insert and a clock read each, several per
        // request); a cleared one is skipped.
        if (open++ === 0 && idleMs > 0) session.setTimeout(0);
      },
      closed: () => {
        open--;
        // The timer starts afresh at the last stream's end: idleness counts from there.
        if (open === 0 && idleMs > 0 && !session.closed && !session.destroyed) session.setTimeout(idleMs);
      },
    };
    openStreams.set(session, count);
    if (idleMs > 0) {
      // One listener; re-arming above passes no callback (each one passed would add a listener).
      session.on('timeout', () => {
        if (open === 0) session.close();
      });
      session.setTimeout(idleMs);
    }
  }

  /** Sends GOAWAY on every session (open streams finish); Http2SecureServer.close() does it too. */
  closeAll(): void {
    for (const s of this.#sessions) s.close();
  }

  /** Destroys every session and its streams (the drain deadline, or a listener that never served). */
  destroyAll(): void {
    for (const s of this.#sessions) s.destroy();
  }
}
