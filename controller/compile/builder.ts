// The compiler's entry point: Kubernetes objects in, a sealed snapshot and
// per-object conditions out. Like Contour's builder it only orchestrates: one
// processor per source kind, each in its own file. Pure: no I/O, no clock, no
// randomness; the same input always yields the same snapshot and version.
import type { Cluster, ClusterKey, Listener, Snapshot } from '../../api/snapshot.ts';
import { DEFAULT_SECRET } from '../../api/snapshot.ts';
import type { SnapshotContent } from '../../api/version.ts';
import { sealSnapshot } from '../../api/version.ts';
import { assertValidSnapshot } from '../../api/validate.ts';
import type { Ingress } from '../k8s/types.ts';
import { Claims } from './claims.ts';
import { ClassFilter } from './classes.ts';
import { ObjectStatus } from './conditions.ts';
import { IngressProcessor } from './ingress.ts';
import { share } from './reuse.ts';
import { SecretIndex } from './secrets.ts';
import { ServiceIndex } from './services.ts';
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
  const filter = new ClassFilter(options.ingressClass || DEFAULT_INGRESS_CLASS, input.ingressClasses);
  const ours = byAge(input.ingresses.filter((i) => filter.accepts(i)));

  const services = new ServiceIndex(input.services, input.endpointSlices);
  const claims = new Claims();
  const processor = new IngressProcessor(claims, services, new SecretIndex(input.secrets), options.defaultTimeoutMs);
  const conditions = new Map<string, readonly Condition[]>();
  for (const ing of ours) {
    const status = new ObjectStatus();
    try {
      processor.process(ing, status);
    } catch (err) {
      // Sources check shapes (k8s/shape.ts), so this is a compiler bug; one
      // Ingress must still not stop every other from being served.
      status.add('invalid', 'CompileFailed', `compiling this Ingress failed: ${(err as Error).message}`);
    }
    conditions.set(`Ingress/${ing.metadata.namespace ?? 'default'}/${ing.metadata.name}`, status.toConditions());
  }
  const out = claims.output();
  const defaultRoute = processor.defaultRoute();

  const clusters: Record<ClusterKey, Cluster> = {};
  const resolved = services.clusters();
  for (const k of [...resolved.keys()].sort()) clusters[k] = resolved.get(k)!;

  let content: SnapshotContent = {
    listeners: listenersOf(options.listeners),
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
  }
  const snapshot = sealSnapshot(content);
  assertValidSnapshot(snapshot);
  return { snapshot, conditions };
}
compile satisfies CompileFn;

/**
 * Ingresses in conflict-priority order: oldest creationTimestamp first, then
 * "namespace/name". An Ingress without a (parseable) timestamp sorts after all
 * that have one: the manifest folder sets none, and there names decide.
 */
export function byAge(ingresses: readonly Ingress[]): Ingress[] {
  const keyed = ingresses.map((ing) => {
    const t = Date.parse(ing.metadata.creationTimestamp ?? '');
    return { ing, t: Number.isNaN(t) ? Infinity : t, id: `${ing.metadata.namespace ?? 'default'}/${ing.metadata.name}` };
  });
  keyed.sort((a, b) => (a.t !== b.t ? a.t - b.t : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return keyed.map((k) => k.ing);
}

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
