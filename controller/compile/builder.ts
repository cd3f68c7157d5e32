// The compiler's entry point: Kubernetes objects in, a sealed snapshot and
// per-object conditions out. Like Contour's builder it only orchestrates: one
// processor per source kind, each in its own file (ingress.ts, route.ts),
// sharing one set of virtual-host claims (claims.ts). Pure: no I/O, no clock, no
// randomness; the same input always yields the same snapshot and version.
import type { Cluster, ClusterKey, Listener, Snapshot } from '../../api/snapshot.ts';
import { DEFAULT_SECRET, noteMapKeys } from '../../api/snapshot.ts';
import type { SnapshotContent } from '../../api/version.ts';
import { sealSnapshot } from '../../api/version.ts';
import { assertValidSnapshot, EntryChecks } from '../../api/validate.ts';
import type { Ingress, ObjectMeta, Route } from '../k8s/types.ts';
import { Claims } from './claims.ts';
import { ClassFilter } from './classes.ts';
import { ObjectStatus } from './conditions.ts';
import { IngressProcessor } from './ingress.ts';
import { ROUTE_EMPTY, RouteProcessor } from './route.ts';
import { dictionary } from './maps.ts';
import { noteShared, share } from './reuse.ts';
import { recompileIngresses, remember } from './incremental.ts';
import { SecretIndex } from './secrets.ts';
import { rememberIndex, resolvedFor, ServiceIndex } from './services.ts';
import type { CompileFn, CompileInput, CompileOptions, CompileResult, Condition } from './types.ts';

/** The class served when options.ingressClass is empty. */
export const DEFAULT_INGRESS_CLASS = 'turnout';

/**
 * Compiles a consistent view of the cluster into a snapshot. Bad input never
 * throws: it becomes a condition on the object, and everything else compiles.
 * What does throw is a compiler bug: the result is validated with
 * assertValidSnapshot before it is returned, so it can never be published.
 *
 * With `previous`, every sub-object deep-equal to previous's is reused (`===`),
 * so diffs and memory scale with what changed, not with the cluster.
 */
export function compile(input: CompileInput, options: CompileOptions, previous?: Snapshot): CompileResult {
  // Only Ingresses changed since `previous` (compiled here): only their hosts are compiled again.
  const fast = previous === undefined ? undefined : recompileIngresses(input, options, previous);
  if (fast !== undefined) return fast;
  const filter = new ClassFilter(options.ingressClass || DEFAULT_INGRESS_CLASS, input.ingressClasses);
  // Ingresses and Routes in one oldest-first order: a Route and an Ingress for
  // the same host merge into one virtual host, and the older claim wins.
  const ours = oldestFirst<Work>([
    ...input.ingresses.filter((i) => filter.accepts(i)).map((obj) => ({ kind: 'Ingress' as const, obj })),
    ...(input.routes ?? []).filter((r) => filter.acceptsRoute(r)).map((obj) => ({ kind: 'Route' as const, obj })),
  ], (w) => w.obj.metadata, (w) => w.kind);

  const services = new ServiceIndex(input.services, input.endpointSlices, options.externalNames === true, resolvedFor(previous));
  const secrets = new SecretIndex(input.secrets);
  const claims = new Claims();
  const ingresses = new IngressProcessor(claims, services, secrets, options.defaultTimeoutMs, previous?.virtualHosts);
  const routes = new RouteProcessor(claims, services, secrets, options.defaultTimeoutMs, options.listeners);
  const conditions = new Map<string, readonly Condition[]>();
  for (let i = 0; i < ours.length; i++) {
    const w = ours[i]!;
    const status = w.kind === 'Route' ? new ObjectStatus('Route', ROUTE_EMPTY) : new ObjectStatus();
    // An Ingress's key is also its routes' origin: one string, built and hashed once.
    const key = `${w.kind}/${w.obj.metadata.namespace ?? 'default'}/${w.obj.metadata.name}`;
    try {
      if (w.kind === 'Route') routes.process(w.obj, status);
      else ingresses.process(w.obj, status, key);
    } catch (err) {
      // Sources check shapes (k8s/shape.ts), so this is a compiler bug; one
      // object must still not stop every other from being served.
      status.add('invalid', 'CompileFailed', `compiling this ${w.kind} failed: ${(err as Error).message}`);
    }
    conditions.set(key, status.toConditions());
  }
  const out = claims.output(previous?.virtualHosts);
  const defaultRoute = ingresses.defaultRoute();

  const clusters = dictionary<Cluster>();
  const resolved = services.clusters();
  const clusterKeys = [...resolved.keys()].sort();
  for (let i = 0; i < clusterKeys.length; i++) clusters[clusterKeys[i]!] = resolved.get(clusterKeys[i]!)!;
  // The sorted list the map was built from: sealing and validation need no Object.keys of 10k keys.
  noteMapKeys(clusters, clusterKeys);

  let content: SnapshotContent = {
    listeners: { ...listenersOf(options.listeners), ...sortedByName(routes.tcpListeners()) },
    virtualHosts: out.virtualHosts,
    clusters,
    // Copied: sealing freezes the snapshot deeply, and the caller's options are not ours to freeze.
    secrets: { [DEFAULT_SECRET]: { cert: options.defaultCertificate.cert, key: options.defaultCertificate.key }, ...out.secrets },
    ...(defaultRoute !== undefined ? { defaultRoute } : {}),
  };
  if (previous !== undefined) {
    content = {
      ...content,
      listeners: share(content.listeners, previous.listeners),
      virtualHosts: share(content.virtualHosts, previous.virtualHosts),
      clusters: share(content.clusters, previous.clusters),
      secrets: share(content.secrets, previous.secrets),
    };
    // Unchanged entries are previous's very objects now: the seal hashes the rest only.
    for (const f of ['listeners', 'virtualHosts', 'clusters', 'secrets'] as const) noteShared(content[f], previous[f]);
  }
  // A full compile's clusters and virtual hosts are all new: each is checked in
  // the seal's walk as it is frozen and serialised, not in a second walk of 20k entries.
  const checks = previous === undefined ? new EntryChecks(content.secrets, content.clusters) : undefined;
  const snapshot = sealSnapshot(content, checks);
  // Entries shared with `previous` were checked when it was (if it ever was: see validateSnapshot).
  assertValidSnapshot(snapshot, previous, checks);
  const result = { snapshot, conditions };
  remember(result, input, options, services, secrets);
  rememberIndex(snapshot, services);
  return result;
}
compile satisfies CompileFn;

/** One object to compile, tagged with its kind (API list items may carry no `kind`). */
type Work = { readonly kind: 'Ingress'; readonly obj: Ingress } | { readonly kind: 'Route'; readonly obj: Route };

/**
 * Ingresses in conflict-priority order: oldest creationTimestamp first, then
 * "namespace/name". An Ingress without a (parseable) timestamp sorts after all
 * that have one: the manifest folder sets none, and there names decide.
 */
export function byAge(ingresses: readonly Ingress[]): Ingress[] {
  return oldestFirst(ingresses, (i) => i.metadata, () => '');
}

/** byAge for any items: by `meta`'s timestamp, then namespace/name, then `tie` (the kind). */
function oldestFirst<T>(items: readonly T[], meta: (t: T) => ObjectMeta, tie: (t: T) => string): T[] {
  const keyed = items.map((item): Keyed<T> => {
    const t = Date.parse(meta(item).creationTimestamp ?? '');
    return { item, t: Number.isNaN(t) ? Infinity : t, id: undefined };
  });
  // The "namespace/name\0kind" string only for timestamps that tie (then kept).
  const id = (k: Keyed<T>) => {
    if (k.id === undefined) { const m = meta(k.item); k.id = `${m.namespace ?? 'default'}/${m.name}\0${tie(k.item)}`; }
    return k.id;
  };
  keyed.sort((a, b) => (a.t !== b.t ? a.t - b.t : id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
  return keyed.map((k) => k.item);
}

/** An item of oldestFirst with its sort keys. */
interface Keyed<T> { readonly item: T; readonly t: number; id: string | undefined }

/**
 * The listeners from the flags, in name order. An https listener without a
 * defaultSecret gets DEFAULT_SECRET, which always exists, rather than failing
 * validation on every build.
 */
function listenersOf(listeners: Readonly<Record<string, Listener>>): Record<string, Listener> {
  // Object.fromEntries defines own properties, so a listener named "__proto__"
  // becomes a key that validation rejects rather than a prototype swap.
  return Object.fromEntries(Object.keys(listeners).sort().map((name) => {
    const l = listeners[name]!;
    return [name, l.protocol === 'https' && l.defaultSecret === undefined ? { ...l, defaultSecret: DEFAULT_SECRET } : { ...l }];
  }));
}

function sortedByName<T>(m: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]!]));
}
