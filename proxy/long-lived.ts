// Long-lived connections (websocket tunnels, tcp streams, TLS passthrough)
// never look at a table again once spliced: they keep their upstream through
// every swap. That is right while the table still routes them there, and
// wrong forever after their route or endpoint is removed. So after each swap
// every open one is checked against the new table; one no longer routed is
// closed after the drain timeout (a rolling update that removes an endpoint
// gives its websockets that long to finish), unless a later table routes it
// again first. Closes for this reason are counted (`drained`, on admin).
import type { Route } from '../api/snapshot.ts';
import { routeKey } from '../api/snapshot.ts';
import type { Logger } from '../lib/log.ts';
import type { MatchRequest } from './routing/match.ts';
import type { RoutingTable } from './routing/table.ts';

/** One open long-lived connection, as its owner registers it. */
export interface LongLived {
  /** The kind, for logs: "websocket", "tcp", "passthrough". */
  readonly kind: string;
  /** Cluster key and endpoint key ("ip:port") its upstream socket is connected to. */
  readonly cluster: string;
  readonly endpoint: string;
  /** Whether `table` still sends this connection's traffic where it goes (besides the endpoint check). */
  routed(table: RoutingTable): boolean;
  /** Cuts both sockets. */
  close(): void;
  /** Resolves once it closed, for any reason. */
  readonly closed: Promise<void>;
}

/** Whether `table` still lists `endpoint` in `cluster`. */
export function endpointIn(table: RoutingTable, cluster: string, endpoint: string): boolean {
  return table.cluster(cluster)?.endpoints.some((ep) => ep.key === endpoint) === true;
}

/** What a websocket handshake matched: re-matched after each swap. */
export interface RouteIdentity {
  readonly host: string | undefined;
  readonly path: string;
  readonly request: MatchRequest;
  /** The matched route's origin and key: "the same route" across snapshots. */
  readonly origin: string;
  readonly key: string;
}

/** The identity of `route` as matched for `host`, `path` and `request`. */
export function routeIdentity(route: Route, host: string | undefined, path: string, request: MatchRequest): RouteIdentity {
  return { host, path, request, origin: route.origin, key: routeKey(route.match.type, route.match.path, route.match) };
}

/** Whether `table` matches `id` to the same route (same origin and match), whatever else changed in it. */
export function sameRoute(table: RoutingTable, id: RouteIdentity): boolean {
  const hit = table.match(id.host, id.path, id.request);
  if (hit === undefined) return false;
  const r = hit.route;
  return r.origin === id.origin && routeKey(r.match.type, r.match.path, r.match) === id.key;
}

/** The open long-lived connections of one proxy; see the top of the file. */
export class LongLivedSet {
  readonly #open = new Set<LongLived>();
  readonly #timers = new Map<LongLived, NodeJS.Timeout>();
  readonly #log: Logger;
  /** Connections closed because their route or endpoint went away (a metric). */
  drained = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Open connections now. */
  get open(): number {
    return this.#open.size;
  }

  /** Connections waiting for their drain deadline. */
  get orphaned(): number {
    return this.#timers.size;
  }

  add(c: LongLived): void {
    this.#open.add(c);
    void c.closed.then(() => {
      this.#open.delete(c);
      clearTimeout(this.#timers.get(c));
      this.#timers.delete(c);
    });
  }

  /** Checks every open connection against the table just swapped in. */
  reconcile(table: RoutingTable, drainTimeoutMs: number): void {
    let orphaned = 0;
    for (const c of this.#open) {
      const ok = endpointIn(table, c.cluster, c.endpoint) && c.routed(table);
      const timer = this.#timers.get(c);
      if (ok) {
        if (timer !== undefined) {
          clearTimeout(timer);
          this.#timers.delete(c);
        }
        continue;
      }
      if (timer !== undefined) continue;
      orphaned++;
      this.#timers.set(c, setTimeout(() => {
        this.#timers.delete(c);
        this.drained++;
        this.#log.info('long-lived connection closed: its route or endpoint was removed', { kind: c.kind, cluster: c.cluster, endpoint: c.endpoint, afterMs: drainTimeoutMs });
        c.close();
      }, drainTimeoutMs));
    }
    if (orphaned > 0) this.#log.info('long-lived connections lost their route or endpoint; closing after the drain timeout', { count: orphaned, drainTimeoutMs });
  }

  /** Cancels every pending close (shutdown: the listeners' own drain cuts them). */
  clear(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}
