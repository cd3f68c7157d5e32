// DNS-named clusters (an ExternalName Service): the proxy resolves the name
// itself, at run time, and again when the answer's TTL runs out (clamped to
// [minTtlMs, maxTtlMs]), moving traffic to new addresses without a snapshot:
// new addresses get pools, addresses that went away are released, and a pool
// released finishes its in-flight requests before it closes (pools.ts). A
// failed lookup keeps the last good addresses, is logged, and is retried
// after minTtlMs. nginx and HAProxy resolve such names once at start-up
// unless told otherwise; this is the behaviour people expect of them.
//
// One DnsTarget per name:port, shared by every table that lists it and
// reference counted like pools: the last table to let go stops its timer and
// releases its endpoints.
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { Logger } from '../../lib/log.ts';
import { errorFields } from '../../lib/log.ts';
import type { UpstreamEndpoint } from './balancer.ts';
import type { UpstreamPools } from './pools.ts';

/** One address of an answer and how long it may be used. */
export interface DnsAnswer {
  readonly address: string;
  readonly ttlSeconds: number;
}

/** Resolves a name to addresses (A and AAAA); throws when there are none. */
export type Resolve = (name: string) => Promise<readonly DnsAnswer[]>;

/** Options of DnsTargets. */
export interface DnsOptions {
  /** Shortest re-resolution interval, whatever the TTL says (and the retry delay after a failure). Default 5 s. */
  readonly minTtlMs?: number;
  /** Longest re-resolution interval, whatever the TTL says. Default 5 min. */
  readonly maxTtlMs?: number;
  /** Name servers ("ip:port") instead of the system's; tests use their own. */
  readonly servers?: readonly string[];
  /** Replaces DNS altogether (tests). */
  readonly resolve?: Resolve;
}

/**
 * The system's resolver (or `servers`): A and AAAA with TTLs; a name only the
 * hosts file knows (no DNS answer) comes from getaddrinfo with TTL 0 (so
 * minTtlMs applies).
 */
export function systemResolve(servers?: readonly string[]): Resolve {
  const r = new dns.Resolver({ timeout: 2_000, tries: 2 });
  if (servers !== undefined) r.setServers([...servers]);
  return async (name) => {
    const [v4, v6] = await Promise.allSettled([r.resolve4(name, { ttl: true }), r.resolve6(name, { ttl: true })]);
    const out: DnsAnswer[] = [];
    for (const res of [v4, v6]) if (res.status === 'fulfilled') for (const a of res.value) out.push({ address: a.address, ttlSeconds: a.ttl });
    if (out.length > 0) return out;
    if (servers !== undefined) throw (v4 as PromiseRejectedResult).reason;
    const all = await dns.lookup(name, { all: true });
    return all.map((a) => ({ address: a.address, ttlSeconds: 0 }));
  };
}

/** Every DNS-named cluster of one proxy. */
export class DnsTargets {
  readonly #pools: UpstreamPools;
  readonly #log: Logger;
  readonly #resolve: Resolve;
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly #targets = new Map<string, DnsTarget>();

  constructor(pools: UpstreamPools, log: Logger, options: DnsOptions = {}) {
    this.#pools = pools;
    this.#log = log;
    this.#resolve = options.resolve ?? systemResolve(options.servers);
    this.minTtlMs = options.minTtlMs ?? 5_000;
    this.maxTtlMs = Math.max(this.minTtlMs, options.maxTtlMs ?? 300_000);
  }

  /** The target for `name`:`port`, with one more reference (pair with release()). */
  acquire(name: string, port: number): DnsTarget {
    const key = `${name}:${port}`;
    let t = this.#targets.get(key);
    if (t === undefined || t.released) {
      t = new DnsTarget(key, name, port, this.#pools, this.#resolve, this, this.#log);
      this.#targets.set(key, t);
    } else t.retain();
    return t;
  }

  /** Targets now resolving (admin, tests). */
  get size(): number {
    return this.#targets.size;
  }

  /** @internal A target that lost its last reference. */
  forget(t: DnsTarget): void {
    if (this.#targets.get(t.key) === t) this.#targets.delete(t.key);
  }
}

/** One name:port, its current endpoints and its refresh timer. */
export class DnsTarget {
  readonly key: string;
  readonly name: string;
  readonly port: number;
  /** The current addresses' endpoints (empty until the first answer: 503). */
  endpoints: readonly UpstreamEndpoint[] = [];
  /** Resolves once the first lookup finished, whatever its outcome. */
  readonly first: Promise<void>;
  /** Lookups that failed since the last success (admin). */
  failures = 0;
  #refs = 1;
  #timer: NodeJS.Timeout | undefined;
  #released = false;
  readonly #pools: UpstreamPools;
  readonly #resolve: Resolve;
  readonly #owner: DnsTargets;
  readonly #log: Logger;

  constructor(key: string, name: string, port: number, pools: UpstreamPools, resolve: Resolve, owner: DnsTargets, log: Logger) {
    this.key = key;
    this.name = name;
    this.port = port;
    this.#pools = pools;
    this.#resolve = resolve;
    this.#owner = owner;
    this.#log = log;
    this.first = this.#refresh();
  }

  get released(): boolean {
    return this.#released;
  }

  retain(): void {
    this.#refs++;
  }

  /** Drops a reference; the last one stops resolving and releases the endpoints. */
  release(): void {
    if (--this.#refs > 0 || this.#released) return;
    this.#released = true;
    clearTimeout(this.#timer);
    for (const ep of this.endpoints) this.#pools.release(ep);
    this.endpoints = [];
    this.#owner.forget(this);
  }

  async #refresh(): Promise<void> {
    let answers: readonly DnsAnswer[];
    try {
      answers = (await this.#resolve(this.name)).filter((a) => isIP(a.address) !== 0);
      if (answers.length === 0) throw new Error('no address');
    } catch (err) {
      this.failures++;
      this.#log.warn('DNS lookup failed; keeping the last addresses', { name: this.name, addresses: this.endpoints.length, ...errorFields(err) });
      this.#schedule(this.#owner.minTtlMs);
      return;
    }
    this.failures = 0;
    if (this.#released) return;
    const wanted = [...new Set(answers.map((a) => a.address))].sort();
    const current = this.endpoints.map((ep) => ep.address);
    if (wanted.join(',') !== current.join(',')) {
      const keep = new Map(this.endpoints.map((ep) => [ep.address, ep]));
      const next = wanted.map((addr) => keep.get(addr) ?? this.#pools.acquire(addr, this.port));
      const gone = this.endpoints.filter((ep) => !wanted.includes(ep.address));
      this.endpoints = next;
      // After the swap: a request that picked a removed endpoint a moment ago
      // still finishes on its pool, which closes once idle.
      for (const ep of gone) this.#pools.release(ep);
      this.#log.info('DNS addresses changed', { name: this.name, port: this.port, addresses: wanted });
    }
    const ttlMs = Math.min(...answers.map((a) => a.ttlSeconds)) * 1000;
    this.#schedule(Math.min(this.#owner.maxTtlMs, Math.max(this.#owner.minTtlMs, ttlMs)));
  }

  #schedule(ms: number): void {
    if (this.#released) return;
    this.#timer = setTimeout(() => void this.#refresh(), ms);
    this.#timer.unref();
  }
}
