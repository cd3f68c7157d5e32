// The responses a listener has in flight, kept for drain() (listener.ts),
// in an array of slots with a free list instead of a Set; the net engine's
// connections (http1/server.ts) and HTTP/2 sessions (h2-sessions.ts) too.
//
// Why not a Set: an add and a delete per request make V8 rehash the Set's
// hash table every few dozen requests, and the table it replaces is not
// simply dropped: V8 leaves it pointing to its successor (for live
// iterators), still holding the responses it held. While the current table is
// young that costs nothing. But after any full GC it is in the old
// generation, and the next rehash leaves a dead old table pointing to a young
// one, which the scavenger must then keep (it takes old-to-new pointers as
// roots, dead or not): that table, every response it holds and everything
// they reach (request, headers, sockets' write requests, the upstream
// exchange) survive, are promoted, and the promoted table points to the next
// one in turn. One full GC thus made every request's objects survive two
// scavenges and die in the old generation, until the next full GC, which the
// promotion itself brings on, and which starts the chain again. The 10k-host
// proxies measured had such a GC behind them (loading the table does them)
// and spent ~20 % more CPU per request; a 10-host proxy did the same after
// one forced full GC (docs/performance.md, "Host-table scale"). Slots are written in place: a
// response is held by the one array until its request ends, then the slot is
// emptied, so nothing dead points at anything young.

/** A multiset of live objects with O(1) add and remove and no hash-table churn (see above). */
export class Slots<T> {
  readonly #slots: Array<T | undefined> = [];
  /** Indexes of empty slots, reused before the array grows. */
  readonly #free: number[] = [];
  #size = 0;

  /** Holds `value`; returns the slot to give to remove() once. */
  add(value: T): number {
    const i = this.#free.pop() ?? this.#slots.length;
    this.#slots[i] = value;
    this.#size++;
    return i;
  }

  /** Empties a slot add() returned; a second remove of the same slot is ignored. */
  remove(slot: number): void {
    if (this.#slots[slot] === undefined) return;
    this.#slots[slot] = undefined;
    this.#free.push(slot);
    this.#size--;
  }

  /** Number of values held. */
  get size(): number {
    return this.#size;
  }

  /** The values held, in slot order. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (const v of this.#slots) if (v !== undefined) yield v;
  }
}
