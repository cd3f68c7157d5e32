// An established tunnel: the client's and the upstream's sockets spliced both
// ways, after a websocket's 101 (upgrade.ts), or at once for a tcp or TLS
// passthrough connection (tcp.ts).
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** What the drain (long-lived.ts) needs to know about an open tunnel; no table or pool reference. */
export interface TunnelInfo {
  /** The Host header as the client sent it. */
  readonly host: string | undefined;
  /** The normalised path the handshake was routed on. */
  readonly path: string;
  /** The cluster key of the route it was routed to. */
  readonly cluster: string;
  /** The endpoint key ("ip:port") it is connected to. */
  readonly endpoint: string;
  /** When the upgrade completed (Date.now()). */
  readonly openedAt: number;
}

/**
 * Two sockets spliced both ways. It holds no table, balancer or pool, only
 * what TunnelInfo says; long-lived.ts closes it at the drain timeout once its
 * route or endpoint left the table.
 */
export class Tunnel implements TunnelInfo {
  readonly host: string | undefined;
  readonly path: string;
  readonly cluster: string;
  readonly endpoint: string;
  readonly openedAt: number;
  /** Resolves once both sockets have closed. */
  readonly closed: Promise<void>;
  readonly #client: Duplex;
  readonly #upstream: net.Socket;

  constructor(client: Duplex, upstream: net.Socket, responseHead: string, clientHead: Buffer, upstreamHead: Buffer,
    info: TunnelInfo, opts: { halfCloseTimeoutMs: number; keepAliveMs: number }) {
    this.host = info.host;
    this.path = info.path;
    this.cluster = info.cluster;
    this.endpoint = info.endpoint;
    this.openedAt = info.openedAt;
    this.#client = client;
    this.#upstream = upstream;

    const both = Promise.withResolvers<void>();
    this.closed = both.promise;
    let open = 2;
    let halfClose: NodeJS.Timeout | undefined;
    const onClose = (other: Duplex) => (hadError: boolean) => {
      if (hadError) other.destroy();
      else if (!other.destroyed) {
        // One side is fully gone: finish the other, but not forever.
        other.end();
        startHalfClose();
      }
      if (--open === 0) {
        clearTimeout(halfClose);
        both.resolve();
      }
    };
    const startHalfClose = () => {
      halfClose ??= setTimeout(() => this.close(), opts.halfCloseTimeoutMs);
    };
    client.once('close', onClose(upstream));
    upstream.once('close', onClose(client));
    client.once('end', startHalfClose);
    upstream.once('end', startHalfClose);
    for (const s of [client, upstream]) {
      if (s instanceof net.Socket) s.setKeepAlive(true, opts.keepAliveMs);
    }
    if (client.destroyed || upstream.destroyed) {
      // A 'close' may be past already: do not wait for it.
      this.close();
      both.resolve();
      return;
    }

    // Order matters: the 101 and what followed it before the upstream's
    // stream; the client's early bytes before its stream.
    client.write(responseHead);
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (clientHead.length > 0) upstream.write(clientHead);
    // pipe() ends the destination when the source ends (a FIN is relayed as
    // a FIN) and applies backpressure both ways.
    upstream.pipe(client);
    client.pipe(upstream);
  }

  /** Cuts both sockets now. */
  close(): void {
    this.#client.destroy();
    this.#upstream.destroy();
  }
}
