// The front of an HTTPS listener: the socket clients connect to, which reads
// the ClientHello's server name (sni.ts) before anything is decrypted and
// decides per connection, in the CURRENT table:
// - a server name of a passthrough host (a Route with tls.mode Passthrough)
//   → the connection, ClientHello included, is spliced undecrypted to an
//   endpoint of the host's backends (tcp.ts splice): the client sees the
//   backend's certificate and the proxy never holds its key;
// - anything else (other names, no SNI, not TLS at all) → the bytes are put
//   back and the socket is handed to the TLS server, exactly as if it had
//   accepted it: its SNI callback, certificates, ALPN and HTTP handling apply.
//
// The peek is bounded in bytes (sni.ts MAX_HELLO_BYTES) and in time (the TLS
// handshake timeout): a client that sends nothing, or a hello that never
// completes, is closed without an answer, as the TLS server would do.
//
// The front owns the listening socket, so it tracks every accepted socket
// (terminated or spliced) for the drain: stop accepting, let them finish, cut
// what is left at the deadline.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { readClientHello } from './sni.ts';
import { splice } from './tcp.ts';
import type { LongLivedSet } from './long-lived.ts';

/** Options of a TlsFront. */
export interface TlsFrontOptions {
  readonly getTable: () => RoutingTable | undefined;
  /** The whole peek (first byte to a complete ClientHello) must fit in it. */
  readonly peekTimeoutMs: number;
  /** Connect timeout per endpoint for a passed-through connection. */
  readonly connectTimeoutMs: number;
  /** Where passed-through connections are registered, to be closed after a drain when their host or backend goes. */
  readonly longLived?: LongLivedSet;
  readonly log: Logger;
}

/** The listening socket of an HTTPS listener; see the top of the file. */
export class TlsFront {
  readonly server: net.Server;
  readonly #tls: tls.Server;
  readonly #opts: TlsFrontOptions;
  readonly #sockets = new Set<net.Socket>();

  constructor(tlsServer: tls.Server, opts: TlsFrontOptions) {
    this.#tls = tlsServer;
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
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      this.#opts.log.debug('tls connection closed: no ClientHello in time', { remote: socket.remoteAddress });
      socket.destroy();
    }, this.#opts.peekTimeoutMs);
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        size += chunk.length;
      }
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      const hello = readClientHello(data);
      if (hello.kind === 'partial') return;
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      clearTimeout(timer);
      const backends = hello.kind === 'hello' && hello.serverName !== undefined
        ? this.#opts.getTable()?.passthroughFor(hello.serverName) : undefined;
      if (backends !== undefined) {
        const name = (hello as { serverName: string }).serverName;
        splice(socket, backends, data, this.#opts, (s) => this.#track(s), (t) => this.#opts.longLived?.add({
          kind: 'passthrough', cluster: t.cluster, endpoint: t.endpoint, close: () => t.close(), closed: t.closed,
          routed: (table) => table.passthroughFor(name)?.some((b) => b.cluster === t.cluster) === true,
        }));
        return;
      }
      // Not ours to pass through: the TLS server reads these bytes first
      // (a TLSSocket consumes what its socket already buffered).
      socket.unshift(data);
      this.#tls.emit('connection', socket);
    };
    const onEnd = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
  }

  /** Cuts every socket now. */
  cutAll(): void {
    for (const s of this.#sockets) s.destroy();
  }
}
