// Structural sharing with the previous snapshot. fast-json-patch's compare()
// skips `===` subtrees, and proxies and snapshot history hold many snapshots:
// reusing every unchanged object of the previous snapshot makes a one-route
// change cost one patch operation and almost no new memory.

/**
 * Returns `prev` when `next` is deep-equal to it; otherwise `next`, with each
 * of its sub-objects replaced by `prev`'s counterpart wherever those are
 * deep-equal. One walk over `next`: equality is decided bottom-up from the
 * children's results, so nothing is compared twice.
 *
 * `next` is mutated in place (its children swapped for shared ones) unless it
 * is frozen, in which case a changed copy is returned. Only plain JSON data is
 * expected (objects, strings, numbers, booleans; arrays are compared as leaves,
 * by identity, since snapshots have none).
 */
export function share<T>(next: T, prev: unknown): T {
  if (Object.is(next, prev)) return next;
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
