// Round-robin over one cluster's endpoints. The counter lives in the balancer,
// which consecutive routing tables share for as long as the snapshot's cluster
// object is unchanged; a table whose cluster changed builds a new balancer that
// starts where the old one stopped (see routing/table.ts). Either way frequent
// swaps do not pile traffic on the first endpoint.
import type { Dispatcher } from 'undici';
import type { UpstreamProtocol } from '../../api/snapshot.ts';

/**
 * The one call the proxy makes on an upstream pool (exchange.ts, mirror.ts):
 * undici's Dispatcher.dispatch with undici 8's handler API. Narrow so that
 * undici's Pool and the lean H1Pool (h1-pool.ts) both fit without casts.
 */
export interface UpstreamDispatcher {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
}

/** One endpoint of a cluster with the pool that reaches it. */
export interface UpstreamEndpoint {
  /** "ip:port" ("[v6]:port"), then " h2c" or " tls" for those protocols: the pool key. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** How to speak to it (api/snapshot.ts UpstreamProtocol); undefined: HTTP/1.1 in clear text. */
  readonly protocol: UpstreamProtocol | undefined;
  /**
   * Shared with every table that lists the same endpoint; created on first
   * read, so read it only to dispatch (upstream/pools.ts).
   */
  readonly dispatcher: UpstreamDispatcher;
}

/** The pool references a balancer's holders take and give back (upstream/pools.ts). */
export interface EndpointRefs {
  retain(ep: UpstreamEndpoint): void;
  release(ep: UpstreamEndpoint): void;
}

/**
 * A cluster as the data plane sees it: its endpoints in a stable order and a cursor.
 *
 * Its holders (routing tables' cluster layers, routing/cluster-layers.ts) are
 * counted here, not on every endpoint: the endpoints' pool references are
 * taken once, when the balancer is made (UpstreamPools.acquire), and given
 * back once, by the release that drops the last holder. So a holder more or
 * less costs one counter, not one call per endpoint: a new base of 10k
 * balancers used to retain ~30k endpoint references (~5 ms) and its
 * predecessor release as many (docs/performance.md, "Endpoint deltas at 10k:
 * the periodic rebase"). An endpoint's pool is still released as soon as no
 * live balancer lists it.
 */
export class ClusterBalancer {
  readonly key: string;
  readonly #endpoints: readonly UpstreamEndpoint[];
  #next: number;
  /** Holders; the creator is the first (it acquired the endpoints). 0: released for good. */
  #holders = 1;

  /** `start` carries the cursor over from the previous table's entry for this cluster. Holds its endpoints' references (acquired by the caller), as its first holder. */
  constructor(key: string, endpoints: readonly UpstreamEndpoint[], start = 0) {
    this.key = key;
    this.#endpoints = endpoints;
    this.#next = start >>> 0;
  }

  /** The endpoints now (a DNS-named cluster's change between two reads). */
  get endpoints(): readonly UpstreamEndpoint[] {
    return this.#endpoints;
  }

  /** Its holders now (tests): 0 once the last let go. */
  get holders(): number {
    return this.#holders;
  }

  /**
   * One more holder (a routing table's layer). Throws when the balancer was
   * released already: its endpoints may be gone, and reviving it would
   * route to a closed pool (a reference-counting bug, as a retain of a
   * released endpoint is in UpstreamPools).
   */
  retain(): void {
    if (this.#holders <= 0) throw new Error(`cluster balancer ${this.key} was released; it cannot be held again`);
    this.#holders++;
  }

  /** A holder let go; the last gives back the endpoints' references (to `refs`, the registry they came from). */
  release(refs: EndpointRefs): void {
    if (this.#holders <= 0) return;
    if (--this.#holders > 0) return;
    this.releaseEndpoints(refs);
  }

  /** Gives back what the balancer holds, once, when its last holder let go. */
  protected releaseEndpoints(refs: EndpointRefs): void {
    for (const ep of this.#endpoints) refs.release(ep);
  }

  /** Where the next table's entry for this cluster should start. */
  get cursor(): number {
    return this.#next;
  }

  /** The next endpoint in turn, or undefined when the cluster has none (503). */
  pick(): UpstreamEndpoint | undefined {
    const n = this.endpoints.length;
    if (n === 0) return undefined;
    const i = this.#next % n;
    // Wrap well before 2^32 so the modulo stays exact.
    this.#next = (this.#next + 1) % 0x40000000;
    return this.endpoints[i];
  }

  /**
   * The endpoint to retry on after `tried` failed to connect: the next one in
   * order that was not tried yet, or undefined when all were. Retries do not
   * advance the shared cursor, so one dead endpoint does not skew the spread.
   */
  pickRetry(tried: ReadonlySet<UpstreamEndpoint>): UpstreamEndpoint | undefined {
    const n = this.endpoints.length;
    const start = this.#next % (n || 1);
    for (let k = 0; k < n; k++) {
      const ep = this.endpoints[(start + k) % n] as UpstreamEndpoint;
      if (!tried.has(ep)) return ep;
    }
    return undefined;
  }
}

/**
 * A DNS-named cluster's balancer: its endpoints are the target's current
 * addresses (upstream/dns.ts); the balancer holds one reference on the
 * target, which owns the endpoint references.
 */
export class DnsBalancer extends ClusterBalancer {
  readonly target: { readonly endpoints: readonly UpstreamEndpoint[]; retain(): void; release(): void };

  /** Takes over one reference on `target` (the acquire that produced it). */
  constructor(key: string, target: DnsBalancer['target'], start = 0) {
    super(key, [], start);
    this.target = target;
  }

  override get endpoints(): readonly UpstreamEndpoint[] {
    return this.target.endpoints;
  }

  /** The target reference taken over at construction, given back when the last holder let go. */
  protected override releaseEndpoints(): void {
    this.target.release();
  }
}
