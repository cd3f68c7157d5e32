// The `Programmed` condition: an accepted object is programmed when every
// connected proxy serves a snapshot that contains it. Compilation cannot know
// this (it is about proxies, not objects), so it is joined here from the
// stream's sessions and the snapshot history, when status is read.
import type { Snapshot, Version } from '../api/snapshot.ts';
import type { Condition } from './compile/types.ts';

/** What Programmed needs to know about one connected proxy. */
export interface ProxyView {
  readonly proxyId: string | undefined;
  /** The version it serves; undefined before its first apply. */
  readonly ackedVersion: Version | undefined;
}

// Origins ("Kind/ns/name") of a snapshot's routes, per (frozen) snapshot.
const originsBySnapshot = new WeakMap<Snapshot, ReadonlySet<string>>();

function originsOf(s: Snapshot): ReadonlySet<string> {
  let set = originsBySnapshot.get(s);
  if (set === undefined) {
    const out = new Set<string>();
    for (const vh of Object.values(s.virtualHosts)) for (const r of Object.values(vh.routes)) out.add(r.origin);
    if (s.defaultRoute !== undefined) out.add(s.defaultRoute.origin);
    set = out;
    originsBySnapshot.set(s, set);
  }
  return set;
}

/**
 * Adds Programmed to each object whose Accepted condition is True: True when
 * every connected proxy serves a snapshot containing one of its routes,
 * False (Pending) when some do not yet, Unknown (NoProxies) when none is
 * connected. `snapshot(v)` looks a version up in the controller's history; a
 * proxy on a version no longer there counts as not programmed.
 * `whenNoProxies(key)` replaces Unknown/NoProxies: a status writer keeps what
 * the object already says, so a controller restart (no proxy connected yet)
 * does not flip every object to Unknown and back.
 */
export function withProgrammed(
  conditions: ReadonlyMap<string, readonly Condition[]>,
  proxies: readonly ProxyView[],
  snapshot: (version: Version) => Snapshot | undefined,
  whenNoProxies?: (key: string) => Condition | undefined,
): Map<string, readonly Condition[]> {
  const served = proxies.map((p) => (p.ackedVersion === undefined ? undefined : snapshot(p.ackedVersion)));
  const out = new Map<string, readonly Condition[]>();
  for (const [key, conds] of conditions) {
    if (!conds.some((c) => c.type === 'Accepted' && c.status === 'True')) {
      out.set(key, conds);
      continue;
    }
    let programmed: Condition;
    if (proxies.length === 0) {
      programmed = whenNoProxies?.(key) ?? { type: 'Programmed', status: 'Unknown', reason: 'NoProxies', message: 'no proxy is connected' };
    } else {
      const behind = proxies.filter((_, i) => !(served[i] !== undefined && originsOf(served[i]!).has(key)));
      programmed = behind.length === 0
        // No count in the message: status is written when it changes, and
        // scaling the proxies must not rewrite every object's status.
        ? { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'served by every connected proxy' }
        : { type: 'Programmed', status: 'False', reason: 'Pending', message: `not yet served by ${behind.length} of ${proxies.length} proxies (${behind.map((p) => p.proxyId ?? '?').slice(0, 5).join(', ')})` };
    }
    out.set(key, [...conds, programmed]);
  }
  return out;
}
