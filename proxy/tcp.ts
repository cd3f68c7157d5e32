// A tcp listener (a tcp Route): each accepted connection picks a backend of
// the listener's weighted split, then an endpoint of its cluster in turn, in
// the CURRENT table; a connect failure or timeout retries the next endpoint
// not tried yet. Bytes are spliced both ways by a Tunnel (tunnel.ts). The
// listener's identity is protocol + address + port (listeners.ts), so a
// snapshot that keeps it changes only `backends` and open connections never
// notice; a removed listener stops accepting and cuts its connections at the
// drain deadline, like websockets.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Listener, WeightedBackend } from '../api/snapshot.ts';
import type { Logger } from '../lib/log.ts';
import { errorFields } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { Tunnel } from './tunnel.ts';
import type { LongLivedSet } from './long-lived.ts';
import type { UpstreamEndpoint } from './upstream/balancer.ts';
import { pickBackend } from './upstream/split.ts';

/** Options of a TcpListener. */
export interface TcpOptions {
  readonly getTable: () => RoutingTable | undefined;
  readonly connectTimeoutMs: number;
  /** Where spliced connections are registered, to be closed after a drain when their backend goes. */
  readonly longLived?: LongLivedSet;
  readonly log: Logger;
}

/** One tcp server socket and its spliced connections. */
export class TcpListener {
  readonly server: net.Server;
  #backends: readonly WeightedBackend[];
  readonly #sockets = new Set<net.Socket>();
  readonly #opts: TcpOptions;

  constructor(spec: Listener, opts: TcpOptions) {
    this.#backends = spec.backends ?? [];
    this.#opts = opts;
    this.server = net.createServer((socket) => this.#accept(socket));
  }

  /** Adopts the backends of a later snapshot that keeps this listener. */
  update(spec: Listener): void {
    this.#backends = spec.backends ?? [];
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  #track(s: net.Socket): void {
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
  }

  #accept(client: net.Socket): void {
    this.#track(client);
    splice(client, this.#backends, Buffer.alloc(0), this.#opts, (s) => this.#track(s), (t) => this.#opts.longLived?.add({
      kind: 'tcp', cluster: t.cluster, endpoint: t.endpoint, close: () => t.close(), closed: t.closed,
      // Still this listener's (removal drains it anyway) and still one of its backends.
      routed: () => this.#backends.some((b) => b.cluster === t.cluster),
    }));
  }

  /** Stops accepting; cuts the open connections at the deadline. */
  async drain(timeoutMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const timer = setTimeout(() => this.cutAll(), timeoutMs);
    await closed;
    clearTimeout(timer);
  }

  /** Cuts every connection now. */
  cutAll(): void {
    for (const s of this.#sockets) s.destroy();
  }
}

/**
 * Splices `client` (paused) to an endpoint of `backends` in the current table:
 * a weighted pick, then the endpoints of that cluster in turn while connects
 * fail or time out. `head` is what was already read from the client (the
 * ClientHello a passthrough listener peeked at); `track` sees the upstream
 * socket so the caller can cut it at its drain deadline.
 */
export function splice(client: net.Socket, backends: readonly WeightedBackend[], head: Buffer, opts: TcpOptions, track: (s: net.Socket) => void,
  register: (tunnel: Tunnel) => void): void {
  client.on('error', () => {});
  client.pause();
  const table = opts.getTable();
  const balancer = table === undefined ? undefined : pickBackend(backends, table);
  if (balancer === undefined) {
    // An unresolved backend's share (or every weight 0): nothing to connect to.
    opts.log.debug('tcp connection closed: no backend', { port: client.localPort });
    client.destroy();
    return;
  }
  const tried = new Set<UpstreamEndpoint>();
  const attempt = (ep: UpstreamEndpoint | undefined): void => {
    if (ep === undefined && !client.destroyed) opts.log.warn('tcp connection closed: no endpoint left to try', { port: client.localPort, tried: tried.size });
    if (ep === undefined || client.destroyed) { client.destroy(); return; }
    tried.add(ep);
    const upstream = net.connect({ host: ep.address, port: ep.port });
    track(upstream);
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), opts.connectTimeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      opts.log.warn('tcp connect failed', { endpoint: ep.key, ...errorFields(err) });
      upstream.destroy();
      attempt(balancer.pickRetry(tried));
    };
    upstream.once('error', onError);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', onError);
      upstream.on('error', () => {});
      if (client.destroyed) { upstream.destroy(); return; }
      register(new Tunnel(client, upstream, '', head, Buffer.alloc(0),
        { host: undefined, path: '', cluster: balancer.key, endpoint: ep.key, openedAt: Date.now() },
        { halfCloseTimeoutMs: 30_000, keepAliveMs: 60_000 }));
      client.resume();
    });
  };
  attempt(balancer.pick());
}
