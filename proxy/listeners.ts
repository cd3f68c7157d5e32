// The sockets clients connect to, reconciled against each snapshot so ports
// can change without a restart. A listener's identity is protocol + address +
// port: one that stays the same across snapshots is kept open untouched (its
// connections never notice a swap); new ones are bound BEFORE the swap, so a
// bind failure refuses the snapshot with nothing changed (until the swap a
// new listener routes on the table it was prepared with: with SO_REUSEPORT
// it gets connections as soon as it is bound); removed ones stop
// accepting after the swap and drain (Connection: close on responses still to
// come, idle keep-alive sockets closed after a short grace, everything cut
// after drainTimeoutMs).
//
// TLS: the SNI callback reads the CURRENT table at handshake time, so a new
// certificate applies to the next handshake without touching the socket. A
// name that matches no virtual host with TLS (or no SNI at all) gets the
// server's default context: the listener's `defaultSecret`, reloaded with
// setSecureContext() when its content changes.
//
// HTTPS listeners speak HTTP/2 and HTTP/1.1 (ALPN h2, http/1.1; no ALPN is
// HTTP/1.1) on one port: createHttpsServer() (servers.ts) says how HTTP/1.1 keeps
// every behaviour of the http listener there. HTTP/2 limits and sessions are
// in h2-sessions.ts; a removed listener sends GOAWAY on its sessions (streams
// in flight finish) and destroys what is left at the drain deadline. Plain
// http listeners are HTTP/1.1 only (no h2c from clients: an h2c Upgrade stays
// a plain request, prior-knowledge h2c is a parse error).
//
// Websocket upgrades go to the Upgrader (upgrade.ts); other Upgrade requests
// stay plain requests. An upgraded socket is no longer an HTTP connection to
// the server (closeIdleConnections/closeAllConnections do not see it, and
// server.close() waits for it), so each listener tracks its own and cuts them
// at the drain deadline.
//
// A front (front.ts) owns the socket of an https listener (TLS passthrough by
// SNI) and of one with `proxyProtocol`; the server behind it never listens.
//
// Known limit without --reuse-port: two listeners cannot trade ports in one
// snapshot (the new one is bound while the old still holds the port):
// LISTENER_BIND_FAILED; move them in two steps.
import type { Listener } from '../api/snapshot.ts';
import { ApplyCode, ApplyError } from './errors.ts';
import type { ProxyHandler } from './forward.ts';
import { DEFAULT_LIMITS } from './servers.ts';
import type { Http1Engine, ServerLimits } from './servers.ts';
import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import type { RoutingTable } from './routing/table.ts';
import { Upgrader } from './upgrade.ts';
import { LongLivedSet } from './long-lived.ts';
/** Re-exported: the data plane's options name them from here. */
export { DEFAULT_LIMITS } from './servers.ts';
export type { ServerLimits } from './servers.ts';
import { ManagedListener } from './listener.ts';

/** Options of ListenerSet. */
export interface ListenerSetOptions {
  /** The data-plane handler (forward.ts) every listener calls. */
  readonly handler: ProxyHandler;
  /** The current table, read per TLS handshake for SNI (and by the default upgrader per handshake). */
  readonly getTable: () => RoutingTable | undefined;
  /** Websocket upgrades; default: an Upgrader over `getTable` with its defaults. */
  readonly upgrader?: Upgrader;
  /** How long a removed listener's connections may finish before being cut. Default 30 s. */
  readonly drainTimeoutMs?: number;
  /**
   * SO_REUSEPORT on every listening socket: another process (the next proxy
   * version, or a sibling worker) can bind the same ports, and the kernel
   * spreads new connections over all of them. Default false: a port already
   * in use is then a bind failure, not a silent share.
   */
  readonly reusePort?: boolean;
  /** How long a tcp listener waits for an upstream connect before trying another endpoint. Default 5 s. */
  readonly tcpConnectTimeoutMs?: number;
  readonly limits?: Partial<ServerLimits>;
  /** Who speaks HTTP/1.1 on http listeners: node:http, or the net-level engine (http1/server.ts). Default DEFAULT_HTTP1_ENGINE. */
  readonly http1Engine?: Http1Engine;
  /** Long-lived connections to close after a drain when their route goes; default: the set's own. */
  readonly longLived?: LongLivedSet;
  readonly log?: Logger;
}

/** A bound listener as admin shows it; `port` is the bound port. */
export interface ListenerInfo {
  readonly protocol: Listener['protocol'];
  readonly address: string;
  readonly port: number;
}

/** A prepared reconciliation: commit after the table swap, or abort instead of it. */
export interface ListenerChange {
  /** Adopts the new listeners, drains removed ones, reloads changed default certificates. */
  commit(table: RoutingTable): void;
  /** Closes the listeners bound by prepare(); the running ones are untouched. */
  abort(): Promise<void>;
}

function identity(l: Listener): string {
  return `${l.protocol} ${l.address} ${l.port}`;
}

/** All listeners of one proxy. */
export class ListenerSet {
  readonly #opts: ListenerSetOptions;
  readonly #limits: ServerLimits;
  readonly #log: Logger;
  readonly #drainTimeoutMs: number;
  readonly #active = new Map<string, ManagedListener>();
  readonly #draining = new Set<Promise<void>>();
  /** Websocket upgrades of every listener. */
  readonly upgrader: Upgrader;
  /** Websockets, tcp streams and passthrough connections of every listener (long-lived.ts). */
  readonly longLived: LongLivedSet;

  constructor(options: ListenerSetOptions) {
    this.#log = options.log ?? silentLogger;
    this.longLived = options.longLived ?? new LongLivedSet(this.#log);
    this.#opts = { ...options, longLived: this.longLived };
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.upgrader = options.upgrader ?? new Upgrader({ getTable: options.getTable, longLived: this.longLived, log: this.#log });
  }

  /** Listeners now accepting, by snapshot name. */
  list(): Record<string, ListenerInfo> {
    const out: Record<string, ListenerInfo> = {};
    for (const l of this.#active.values()) out[l.name] = l.info();
    return out;
  }

  /**
   * Binds every listener of `wanted` that is not open yet. On a bind failure
   * closes what it bound and throws ApplyError(LISTENER_BIND_FAILED).
   */
  async prepare(wanted: Readonly<Record<string, Listener>>, table: RoutingTable): Promise<ListenerChange> {
    const desired = new Map<string, { name: string; spec: Listener }>();
    for (const [name, spec] of Object.entries(wanted)) desired.set(identity(spec), { name, spec });
    const toOpen = [...desired].filter(([id]) => !this.#active.has(id));
    const results = await Promise.allSettled(toOpen.map(([id, { name, spec }]) => ManagedListener.open(id, name, spec, table, this.#opts, this.#limits, this.upgrader)));
    const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed !== -1) {
      await Promise.all(opened.map((l) => l.closeNow()));
      const [, { name, spec }] = toOpen[failed] as [string, { name: string; spec: Listener }];
      const err = (results[failed] as PromiseRejectedResult).reason as NodeJS.ErrnoException;
      throw new ApplyError(ApplyCode.LISTENER_BIND_FAILED,
        `listener ${JSON.stringify(name)} could not bind ${spec.protocol} ${spec.address}:${spec.port}: ${err.code ?? err.message}`);
    }
    let settled = false;
    return {
      commit: (next) => {
        if (settled) return;
        settled = true;
        for (const l of opened) {
          l.adopted();
          this.#active.set(l.id, l);
          this.#log.info('listener opened', { listener: l.name, ...l.info() });
        }
        for (const [id, l] of this.#active) {
          const want = desired.get(id);
          if (want === undefined) {
            this.#active.delete(id);
            this.#drain(l);
            continue;
          }
          l.name = want.name;
          l.update(want.spec, next, this.#log);
        }
        // After the tcp listeners adopted their new backends (update).
        this.longLived.reconcile(next, this.#drainTimeoutMs);
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        await Promise.all(opened.map((l) => l.closeNow()));
      },
    };
  }

  #drain(l: ManagedListener): void {
    this.#log.info('listener draining', { listener: l.name, ...l.info() });
    const done = l.drain(this.#drainTimeoutMs).then(() => {
      this.#log.info('listener closed', { listener: l.name });
      this.#draining.delete(done);
    });
    this.#draining.add(done);
  }

  /** Drains every listener (open and already draining); resolves when all are closed. */
  async close(): Promise<void> {
    // Every listener drains now; their own deadline cuts what is left.
    this.longLived.clear();
    for (const l of this.#active.values()) this.#drain(l);
    this.#active.clear();
    await Promise.all([...this.#draining]);
  }
}
