// Weighted traffic split over a route's backends (Route `backends`), by
// nginx's smooth weighted round-robin: every pick adds each backend's weight
// to its running score, takes the highest score, and subtracts the total
// weight from it. Over any run of sum(weights) consecutive picks each backend
// gets exactly its weight, interleaved (5:1:1 gives a a b a c a a, not
// a a a a a b c), with no random generator and O(backends) work per pick.
// Weight 0 is never picked. Within the chosen backend the endpoint is picked
// by that cluster's own round-robin (balancer.ts), and connect retries stay
// within it: a split decides where a request's share goes, a retry does not
// move it to another backend.
//
// The running scores belong to the route's (frozen) `backends` list: every
// table that shares the route object (unchanged by a delta, or every table
// after an endpoint-only change) continues the same sequence, so frequent
// swaps do not restart it on the heaviest backend. A changed route, or a full
// resync that rebuilds every object, starts a fresh sequence. Each proxy
// replica runs its own sequence; proportions hold per replica.
import type { WeightedBackend } from '../../api/snapshot.ts';
import type { ClusterBalancer } from './balancer.ts';

/** The smooth weighted round-robin state of one backends list. */
export class WeightedSplit {
  readonly backends: readonly WeightedBackend[];
  readonly #scores: number[];
  readonly #total: number;

  constructor(backends: readonly WeightedBackend[]) {
    this.backends = backends;
    this.#scores = backends.map(() => 0);
    this.#total = backends.reduce((sum, b) => sum + Math.max(0, b.weight), 0);
  }

  /** The next backend, or undefined when every weight is 0 (the route answers 500). */
  pick(): WeightedBackend | undefined {
    if (this.#total === 0) return undefined;
    const scores = this.#scores;
    let best = -1;
    for (let i = 0; i < scores.length; i++) {
      const w = (this.backends[i] as WeightedBackend).weight;
      if (w <= 0) continue;
      scores[i] = (scores[i] as number) + w;
      if (best === -1 || (scores[i] as number) > (scores[best] as number)) best = i;
    }
    scores[best] = (scores[best] as number) - this.#total;
    return this.backends[best];
  }
}

// One split state per backends list object (see the top of this file).
const splits = new WeakMap<readonly WeightedBackend[], WeightedSplit>();

/** The split state of a route's backends list, created on its first request. */
export function splitFor(backends: readonly WeightedBackend[]): WeightedSplit {
  let split = splits.get(backends);
  if (split === undefined) {
    split = new WeightedSplit(backends);
    splits.set(backends, split);
  }
  return split;
}

/** What pickBackend needs of a routing table. */
export interface ClusterLookup {
  cluster(key: string): ClusterBalancer | undefined;
}

/**
 * The cluster of the next backend of a split, resolved in `table` (the one
 * the request pinned). Undefined when the chosen backend does not resolve or
 * every weight is 0: the Gateway API's 500, so a typo is never absorbed by
 * the other backends. A resolved cluster without endpoints is the caller's 503.
 */
export function pickBackend(backends: readonly WeightedBackend[], table: ClusterLookup): ClusterBalancer | undefined {
  const key = splitFor(backends).pick()?.cluster;
  return key === undefined ? undefined : table.cluster(key);
}
