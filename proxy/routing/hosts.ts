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

/**
 * Exact and wildcard hosts mapped to values, immutable once built. ANY_HOST is
 * not special here: callers that want a catch-all look it up separately, so
 * TLS (which has none) and routing share this class.
 */
export class HostIndex<T> {
  readonly #exact = new Map<string, T>();
  readonly #wildcard = new Map<string, T>();

  /** `entries` keys are snapshot host keys: "foo.com" or "*.foo.com", already lower case. */
  constructor(entries: Iterable<readonly [string, T]>) {
    for (const [host, value] of entries) {
      if (host === ANY_HOST) continue;
      if (host.startsWith('*.')) this.#wildcard.set(host.slice(2), value);
      else this.#exact.set(host, value);
    }
  }

  /** Number of exact plus wildcard hosts. */
  get size(): number {
    return this.#exact.size + this.#wildcard.size;
  }

  /** The value for a normalised host: exact first, then the one-label wildcard. */
  lookup(host: string): T | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined) return exact;
    const dot = host.indexOf('.');
    // dot === 0 means an empty first label (".foo.com"): no wildcard matches that.
    return dot > 0 ? this.#wildcard.get(host.slice(dot + 1)) : undefined;
  }
}
