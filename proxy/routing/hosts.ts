// Host lookup, shared by HTTP routing (Host header) and TLS (SNI server name).
// Exact names live in one Map; wildcards "*.foo.com" live in another keyed by
// the suffix "foo.com" and are probed by stripping exactly the first label, so
// "*.foo.com" matches "bar.foo.com" but neither "baz.bar.foo.com" nor
// "foo.com" (the Ingress rule). Two map probes per lookup whatever the size.
import { ANY_HOST } from '../../api/snapshot.ts';

/**
 * Canonical form of a Host header or SNI name for lookup: lower case, port
 * removed ("foo.com:8080", "[::1]:8080"), brackets of an IPv6 literal removed,
 * one trailing dot removed ("foo.com." is the same name). Missing → "".
 */
export function normalizeHost(raw: string | undefined): string {
  if (raw === undefined || raw.length === 0) return '';
  let h = raw;
  if (h.charCodeAt(0) === 0x5b /* [ */) {
    const close = h.indexOf(']');
    return (close === -1 ? h.slice(1) : h.slice(1, close)).toLowerCase();
  }
  const colon = h.indexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}

/** Marks a host an overlay removed from the base maps. */
const REMOVED: unique symbol = Symbol('removed');

/**
 * Most hosts an overlay holds before patched() folds it into new base maps.
 * Up to this, a patch copies the overlay only (a one-host delta at 10k hosts
 * allocates a few entries, not two 10k-entry maps, which V8 puts in large
 * object space, where only a full GC frees them); beyond it, one native copy
 * of the base maps per this many changed hosts.
 */
const OVERLAY_MAX = 512;

/**
 * Exact and wildcard hosts mapped to values, immutable once built. ANY_HOST is
 * not special here: callers that want a catch-all look it up separately, so
 * TLS (which has none) and routing share this class.
 *
 * An index made by patched() shares its predecessor's two base maps (never
 * written after construction) and keeps the hosts changed since in a small
 * overlay, probed first: one more lookup in a small map per request.
 */
export class HostIndex<T> {
  // Not readonly only so that patched() can install shared or copied maps; never changed after.
  #exact = new Map<string, T>();
  #wildcard = new Map<string, T>();
  /** Changed hosts over the base maps, by map key (suffix for wildcards); undefined when none. */
  #overExact: Map<string, T | typeof REMOVED> | undefined;
  #overWildcard: Map<string, T | typeof REMOVED> | undefined;
  #size = 0;

  /** `entries` keys are snapshot host keys: "foo.com" or "*.foo.com", already lower case. */
  constructor(entries: Iterable<readonly [string, T]>) {
    for (const [host, value] of entries) {
      if (host === ANY_HOST) continue;
      if (host.startsWith('*.')) this.#wildcard.set(host.slice(2), value);
      else this.#exact.set(host, value);
    }
    this.#size = this.#exact.size + this.#wildcard.size;
  }

  /**
   * A new index: this one with `changes` applied (a value sets the host,
   * undefined removes it). Costs the changes plus the overlay, not the hosts
   * (see OVERLAY_MAX); this index is left as it was.
   */
  patched(changes: ReadonlyMap<string, T | undefined>): HostIndex<T> {
    const next = new HostIndex<T>([]);
    const overExact = new Map(this.#overExact);
    const overWildcard = new Map(this.#overWildcard);
    let size = this.#size;
    for (const [host, value] of changes) {
      if (host === ANY_HOST) continue;
      const wild = host.startsWith('*.');
      const key = wild ? host.slice(2) : host;
      const had = (wild ? this.#getWildcard(key) : this.#getExact(key)) !== undefined;
      size += (value === undefined ? 0 : 1) - (had ? 1 : 0);
      (wild ? overWildcard : overExact).set(key, value === undefined ? REMOVED : value);
    }
    next.#size = size;
    if (overExact.size + overWildcard.size <= OVERLAY_MAX) {
      next.#exact = this.#exact;
      next.#wildcard = this.#wildcard;
      next.#overExact = overExact.size === 0 ? undefined : overExact;
      next.#overWildcard = overWildcard.size === 0 ? undefined : overWildcard;
    } else {
      next.#exact = fold(this.#exact, overExact);
      next.#wildcard = fold(this.#wildcard, overWildcard);
    }
    return next;
  }

  /** Number of exact plus wildcard hosts. */
  get size(): number {
    return this.#size;
  }

  /** The value for a normalised host: exact first, then the one-label wildcard. */
  lookup(host: string): T | undefined {
    const exact = this.#getExact(host);
    if (exact !== undefined) return exact;
    const dot = host.indexOf('.');
    // dot === 0 means an empty first label (".foo.com"): no wildcard matches that.
    return dot > 0 ? this.#getWildcard(host.slice(dot + 1)) : undefined;
  }

  #getExact(key: string): T | undefined {
    const over = this.#overExact?.get(key);
    if (over === undefined) return this.#exact.get(key);
    return over === REMOVED ? undefined : over;
  }

  #getWildcard(key: string): T | undefined {
    const over = this.#overWildcard?.get(key);
    if (over === undefined) return this.#wildcard.get(key);
    return over === REMOVED ? undefined : over;
  }
}

/** A copy of `base` with an overlay applied. */
function fold<T>(base: ReadonlyMap<string, T>, over: ReadonlyMap<string, T | typeof REMOVED>): Map<string, T> {
  const out = new Map(base);
  for (const [key, value] of over) {
    if (value === REMOVED) out.delete(key);
    else out.set(key, value);
  }
  return out;
}
