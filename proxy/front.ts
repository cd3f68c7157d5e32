// The front of a listener: the socket clients connect to, in front of the
// HTTP(S) server, for what must be read before the server sees a byte:
//
// PROXY protocol (a listener's `proxyProtocol`, proxy-protocol.ts): the
// header a load balancer sends first is read and removed; its source address
// becomes the connection's client address (client-address.ts), used for
// X-Forwarded-For and X-Real-IP. A connection without a valid header is
// closed: on such a listener, every peer is the balancer.
//
// TLS passthrough (https listeners): the ClientHello's server name (sni.ts) is
// read before anything is decrypted, to decide per connection, in the CURRENT
// table:
// - a server name of a passthrough host (a Route with tls.mode Passthrough)
//   → the connection, ClientHello included, is spliced undecrypted to an
//   endpoint of the host's backends (tcp.ts splice): the client sees the
//   backend's certificate and the proxy never holds its key;
// - anything else (other names, no SNI, not TLS at all) → the bytes are put
//   back and the socket is handed to the TLS server, exactly as if it had
//   accepted it: its SNI callback, certificates, ALPN and HTTP handling apply.
//
// The peek is bounded in bytes (sni.ts MAX_HELLO_BYTES, proxy-protocol.ts)
// and in time (the TLS handshake timeout): a client that sends nothing, or a
// header or hello that never completes, is closed without an answer, as the
// TLS server would do. An http listener without PROXY protocol has no front.
//
// The front owns the listening socket, so it tracks every accepted socket
// (terminated or spliced) for the drain: stop accepting, let them finish, cut
// what is left at the deadline.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { readClientHello } from './sni.ts';
import { readProxyHeader } from './proxy-protocol.ts';
import { noteClient } from './client-address.ts';
import { splice } from './tcp.ts';
import type { LongLivedSet } from './long-lived.ts';

/** Options of a ListenerFront. */
export interface FrontOptions {
  /** The server is a TLS server: peek at the ClientHello for passthrough. */
  readonly tls: boolean;
  /** Read and strip a PROXY protocol header first. */
  readonly proxyProtocol: boolean;
  readonly getTable: () => RoutingTable | undefined;
  /** The whole peek (first byte to a complete header and ClientHello) must fit in it. */
  readonly peekTimeoutMs: number;
  /** Connect timeout per endpoint for a passed-through connection. */
  readonly connectTimeoutMs: number;
  /** Where passed-through connections are registered, to be closed after a drain when their host or backend goes. */
  readonly longLived?: LongLivedSet;
  readonly log: Logger;
}

/** The listening socket of a listener that needs one; see the top of the file. */
export class ListenerFront {
  readonly server: net.Server;
  readonly #inner: net.Server;
  readonly #opts: FrontOptions;
  readonly #sockets = new Set<net.Socket>();

  constructor(inner: net.Server, opts: FrontOptions) {
    this.#inner = inner;
    this.#opts = opts;
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Sockets open now: terminated, passed through or still being peeked at. */
  get connections(): number {
    return this.#sockets.size;
  }

  #track(s: net.Socket): void {
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
  }

  #accept(socket: net.Socket): void {
    this.#track(socket);
    socket.on('error', () => {});
    let data: Buffer = Buffer.alloc(0);
    let proxied = !this.#opts.proxyProtocol;
    const timer = setTimeout(() => {
      this.#opts.log.debug('connection closed: no complete PROXY header or ClientHello in time', { remote: socket.remoteAddress });
      socket.destroy();
    }, this.#opts.peekTimeoutMs);
    const done = () => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      clearTimeout(timer);
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      const chunks = [data];
      while ((chunk = socket.read() as Buffer | null) !== null) chunks.push(chunk);
      data = chunks.length === 1 ? data : Buffer.concat(chunks);
      if (!proxied) {
        const header = readProxyHeader(data);
        if (header.kind === 'partial') return;
        if (header.kind === 'invalid') {
          done();
          this.#opts.log.debug('connection closed: PROXY protocol expected', { remote: socket.remoteAddress, reason: header.reason });
          socket.destroy();
          return;
        }
        if (header.source !== undefined) noteClient(socket, header.source.address);
        data = data.subarray(header.length);
        proxied = true;
        if (!this.#opts.tls) return this.#handOver(socket, data, done);
        if (data.length === 0) return;
      }
      const hello = readClientHello(data);
      if (hello.kind === 'partial') return;
      const backends = hello.kind === 'hello' && hello.serverName !== undefined
        ? this.#opts.getTable()?.passthroughFor(hello.serverName) : undefined;
      if (backends === undefined) return this.#handOver(socket, data, done);
      done();
      const name = (hello as { serverName: string }).serverName;
      splice(socket, backends, data, this.#opts, (s) => this.#track(s), (t) => this.#opts.longLived?.add({
        kind: 'passthrough', cluster: t.cluster, endpoint: t.endpoint, close: () => t.close(), closed: t.closed,
        routed: (table) => table.passthroughFor(name)?.some((b) => b.cluster === t.cluster) === true,
      }));
    };
    const onEnd = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
  }

  /**
   * Gives the socket to the server as if it had accepted it, with the bytes
   * read so far put back first (a TLSSocket and the HTTP parser both consume
   * what their socket already buffered).
   */
  #handOver(socket: net.Socket, data: Buffer, done: () => void): void {
    done();
    if (data.length > 0) socket.unshift(data);
    this.#inner.emit('connection', socket);
    // Accepted paused (pauseOnConnect): the HTTP server reads once resumed; a
    // TLS server's socket takes the handle over and reads by itself.
    if (!this.#opts.tls) socket.resume();
  }

  /** Cuts every socket now. */
  cutAll(): void {
    for (const s of this.#sockets) s.destroy();
  }
}
