// Test stand-ins for the stages around the snapshot store: a tiny compile
// function (the real compiler lives in compile/) and snapshot builders. Used by
// the loop, store and stream tests; not by production code.
import type { Cluster, Route, Snapshot } from '../../api/snapshot.ts';
import { ANY_HOST, DEFAULT_SECRET, routeKey } from '../../api/snapshot.ts';
import { sealSnapshot } from '../../api/version.ts';
import type { CompileFn, CompileOptions } from '../compile/types.ts';
import { SERVICE_NAME_LABEL } from '../k8s/types.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n';

/** Options for the stand-in compiler: one http listener, a dummy default certificate. */
export const testCompileOptions: CompileOptions = {
  ingressClass: 'turnout',
  listeners: { http: { protocol: 'http', address: '127.0.0.1', port: 18080 } },
  defaultCertificate: { cert: PEM, key: KEY },
  defaultTimeoutMs: 15000,
};

/**
 * Services become clusters (with the ready addresses of their EndpointSlices),
 * Ingress paths become routes. Deterministic, like the real compiler, so equal
 * inputs give equal versions.
 */
export const fakeCompile: CompileFn = (input, options) => {
  const clusters: Record<string, Cluster> = {};
  for (const svc of input.services) {
    const ns = svc.metadata.namespace ?? 'default';
    for (const p of svc.spec?.ports ?? []) {
      const endpoints: Record<string, { address: string; port: number }> = {};
      for (const slice of input.endpointSlices) {
        if ((slice.metadata.namespace ?? 'default') !== ns || slice.metadata.labels?.[SERVICE_NAME_LABEL] !== svc.metadata.name) continue;
        const port = slice.ports?.[0]?.port ?? p.port;
        for (const ep of slice.endpoints ?? []) {
          for (const address of ep.addresses) endpoints[`${address}:${port}`] = { address, port };
        }
      }
      clusters[`${ns}/${svc.metadata.name}:${p.port}`] = { endpoints };
    }
  }
  const virtualHosts: Record<string, { routes: Record<string, Route> }> = {};
  for (const ing of input.ingresses) {
    const ns = ing.metadata.namespace ?? 'default';
    for (const rule of ing.spec?.rules ?? []) {
      const host = rule.host ?? ANY_HOST;
      const routes = (virtualHosts[host] ??= { routes: {} }).routes;
      for (const path of rule.http?.paths ?? []) {
        const type = path.pathType === 'Exact' ? 'Exact' : 'Prefix';
        const p = path.path ?? '/';
        const svc = path.backend.service;
        const cluster = svc === undefined ? undefined : `${ns}/${svc.name}:${svc.port?.number ?? 80}`;
        routes[routeKey(type, p)] = {
          match: { type, path: p },
          ...(cluster !== undefined && cluster in clusters ? { cluster } : {}),
          timeoutMs: options.defaultTimeoutMs,
          origin: `Ingress/${ns}/${ing.metadata.name}`,
        };
      }
    }
  }
  const snapshot = sealSnapshot({
    listeners: options.listeners, virtualHosts, clusters, secrets: { [DEFAULT_SECRET]: options.defaultCertificate },
  });
  return { snapshot, conditions: new Map() };
};

/**
 * A valid snapshot with `routes` routes on one host, all to one cluster; `tag`
 * changes the cluster's endpoint so snapshots with equal route counts differ.
 */
export function snapshotWith(routes: number, tag = 1): Snapshot {
  const cluster = 'default/web:80';
  const r: Record<string, Route> = {};
  for (let i = 0; i < routes; i++) {
    const path = `/r${i}`;
    r[routeKey('Prefix', path)] = { match: { type: 'Prefix', path }, cluster, timeoutMs: 15000, origin: `Ingress/default/i${i}` };
  }
  return sealSnapshot({
    listeners: testCompileOptions.listeners,
    virtualHosts: { 'foo.com': { routes: r } },
    clusters: { [cluster]: { endpoints: { [`10.0.0.${tag}:8080`]: { address: `10.0.0.${tag}`, port: 8080 } } } },
    secrets: {},
  });
}
