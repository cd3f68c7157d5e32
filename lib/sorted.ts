// Binary search over arrays of strings kept sorted by code unit (the order
// Array.prototype.sort and `<` give): the cache's ids, a snapshot's cluster
// keys, a version bucket's keys. One implementation, so the three agree.

/** The first index of sorted `list` whose element is not less than `key` (list.length when none). */
export function lowerBound(list: readonly string[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
