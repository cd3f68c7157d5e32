// The endpoint fast path. EndpointSlices change far more often than anything
// else (every rollout, every scale event), and they only decide which
// addresses a cluster has: hosts, routes, TLS and conditions cannot change.
// So when only slices changed, the clusters of the previous snapshot are
// re-resolved and everything else is reused, instead of recompiling every
// Ingress (Contour routes endpoints around its DAG for the same reason).
import type { Cluster } from '../../api/snapshot.ts';
import { sealSnapshot, type SnapshotContent } from '../../api/version.ts';
import { assertValidSnapshot } from '../../api/validate.ts';
import { dictionary } from './maps.ts';
import { noteShared, share } from './reuse.ts';
import { rememberIndex, resolvedFor, ServiceIndex } from './services.ts';
import type { CompileInput, CompileResult } from './types.ts';

/**
 * The result of `compile(input, options, previous.snapshot)` when `input`
 * differs from the previous build's input in EndpointSlices only; undefined
 * when that cannot be guaranteed (a cluster whose resolution reports a
 * problem, such as an FQDN slice, which would be a condition): the caller then
 * compiles in full. Pure, like the compiler. `externalNames` is the build's
 * CompileOptions.externalNames, so DNS-named clusters resolve as they did.
 */
export function recompileEndpoints(input: CompileInput, previous: CompileResult, externalNames = false): CompileResult | undefined {
  const services = new ServiceIndex(input.services, input.endpointSlices, externalNames, resolvedFor(previous.snapshot));
  const resolved = dictionary<Cluster>();
  for (const key of Object.keys(previous.snapshot.clusters).sort()) {
    const ref = parseClusterKey(key);
    if (ref === undefined) return undefined;
    const port = typeof ref.port === 'number' ? { number: ref.port } : { name: ref.port };
    const res = services.resolve(ref.namespace, { service: { name: ref.service, port } });
    const cluster = services.clusters().get(key);
    if (res.cluster !== key || res.problems.length > 0 || cluster === undefined) return undefined;
    resolved[key] = cluster;
  }
  const { version: _version, ...rest } = previous.snapshot;
  const content: SnapshotContent = { ...rest, clusters: share(resolved, previous.snapshot.clusters) };
  // The clusters that kept their endpoints are the previous objects: only the others are hashed again.
  noteShared(content.clusters, previous.snapshot.clusters);
  const snapshot = sealSnapshot(content);
  assertValidSnapshot(snapshot, previous.snapshot);
  rememberIndex(snapshot, services);
  return { snapshot, conditions: previous.conditions };
}

/** Splits "namespace/service:port" (services.ts clusterKey); a port of digits only is a number (port names must contain a letter). */
function parseClusterKey(key: string): { namespace: string; service: string; port: number | string } | undefined {
  const m = /^([^/]+)\/([^:]+):(.+)$/.exec(key);
  if (!m) return undefined;
  return { namespace: m[1]!, service: m[2]!, port: /^\d+$/.test(m[3]!) ? Number(m[3]) : m[3]! };
}
