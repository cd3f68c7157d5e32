// One string for equal strings of a freshly parsed snapshot. JSON.parse gives
// every string value its own copy (only object keys are interned): at 10k
// Ingresses each route's `cluster` repeats a key of the clusters map, and the
// routes of one host usually share their `origin`, ~30k strings and ~1.3 MB of
// the proxy's live heap that the map's keys and the host's first route already
// hold. Replacing a string with an equal one changes no content, so this runs
// before validation, on whatever shape the candidate has; it never throws and
// skips anything frozen (a delta's candidate is frozen at its root and shares
// the served snapshot's already shared strings: nothing to do).
// docs/performance.md, "Proxy RSS at 10k, second pass".

/** A plain record (not an array), for the walk below. */
function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
}

/**
 * Makes each route's `cluster` the clusters map's own key string and each
 * host's repeated `origin` one string, in an unfrozen candidate snapshot.
 */
export function shareRouteStrings(candidate: unknown): void {
  try {
    share(candidate);
  } catch {
    // A read-only property somewhere (not from JSON): what was shared stays shared.
  }
}

function share(candidate: unknown): void {
  const snapshot = record(candidate);
  if (snapshot === undefined || Object.isFrozen(snapshot)) return;
  const hosts = record(snapshot.virtualHosts);
  const clusters = record(snapshot.clusters);
  if (hosts === undefined || clusters === undefined) return;
  const keys = new Map<string, string>();
  for (const key of Object.keys(clusters)) keys.set(key, key);
  for (const name of Object.keys(hosts)) {
    const routes = record(record(hosts[name])?.routes);
    if (routes === undefined) continue;
    let origin: string | undefined;
    for (const routeKey of Object.keys(routes)) {
      const route = record(routes[routeKey]);
      if (route === undefined || Object.isFrozen(route)) continue;
      const cluster = route.cluster;
      if (typeof cluster === 'string') {
        const key = keys.get(cluster);
        // Equal content, so === cannot tell them apart: assign whenever found.
        if (key !== undefined) route.cluster = key;
      }
      if (typeof route.origin === 'string') {
        if (route.origin === origin) route.origin = origin;
        else origin = route.origin;
      }
    }
  }
}
