// Structural sharing with the previous snapshot. fast-json-patch's compare()
// skips `===` subtrees, and proxies and snapshot history hold many snapshots:
// reusing every unchanged object of the previous snapshot makes a one-route
// change cost one patch operation and almost no new memory.
import { noteMapCopy } from '../../api/snapshot.ts';

/**
 * Returns `prev` when `next` is deep-equal to it; otherwise `next`, with each
 * of its sub-objects replaced by `prev`'s counterpart wherever those are
 * deep-equal. One walk over `next`: equality is decided bottom-up from the
 * children's results, so nothing is compared twice.
 *
 * `next` is mutated in place (its children swapped for shared ones) unless it
 * is frozen, in which case a changed copy is returned. Only plain JSON data is
 * expected (objects, arrays, strings, numbers, booleans). Arrays (a Route's
 * backends, header matches and filters) are compared element by element: an
 * equal array must be shared too, or the route and virtual host holding it
 * would never be, and the proxy would recompile that host on every snapshot.
 */
export function share<T>(next: T, prev: unknown): T {
  if (Object.is(next, prev)) return next;
  if (Array.isArray(next)) return (Array.isArray(prev) ? shareArray(next, prev) : next) as T;
  if (!isRecord(next) || !isRecord(prev)) return next;
  let target: Record<string, unknown> = next;
  const keys = Object.keys(next);
  let same = keys.length === Object.keys(prev).length;
  for (const k of keys) {
    const nv = target[k];
    // Never assign through "__proto__" (it would swap the prototype); leave the
    // own key for validation to reject.
    if (k === '__proto__' || !Object.hasOwn(prev, k)) { same = false; continue; }
    const pv = prev[k];
    const v = share(nv, pv);
    if (v !== pv) same = false;
    if (v !== nv) {
      if (Object.isFrozen(target)) target = { ...target };
      target[k] = v;
    }
  }
  return (same ? prev : target) as T;
}

/**
 * Records the map `next`, after share(next, prev), as a copy of `prev` in which
 * only the keys whose value is not prev's very object were written
 * (noteMapCopy): sealing and hashing it then look at those keys only, where
 * a new map would have every entry re-serialised for its version. Does
 * nothing when the two are one map, or when most keys changed.
 */
export function noteShared(next: unknown, prev: unknown): void {
  if (next === prev || !isRecord(next) || !isRecord(prev)) return;
  const keys = Object.keys(next);
  const written = new Set<string>();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (!Object.hasOwn(prev, k) || prev[k] !== next[k]) written.add(k);
  }
  const old = Object.keys(prev);
  for (let i = 0; i < old.length; i++) if (!Object.hasOwn(next, old[i]!)) written.add(old[i]!);
  if (written.size * 4 <= keys.length) noteMapCopy(next, prev, written);
}

function shareArray(next: unknown[], prev: readonly unknown[]): unknown[] {
  let target = next;
  let same = next.length === prev.length;
  for (let i = 0; i < next.length; i++) {
    if (i >= prev.length) { same = false; break; }
    const nv = target[i];
    const v = share(nv, prev[i]);
    if (v !== prev[i]) same = false;
    if (v !== nv) {
      if (Object.isFrozen(target)) target = [...target];
      target[i] = v;
    }
  }
  return same ? (prev as unknown[]) : target;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
