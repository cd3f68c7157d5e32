// Small constructors for compiler tests (Contour style): each builds one
// Kubernetes object with sensible defaults, so a table row reads like the
// scenario it tests. Used by the *.test.ts files here and by bench/compile.ts.
import type { Cluster, Route, TlsSecret, VirtualHost } from '../../api/snapshot.ts';
import { DEFAULT_SECRET } from '../../api/snapshot.ts';
import type {
  EndpointSlice, HTTPIngressPath, Ingress, IngressBackend, IngressClass, IngressRule, IngressSpec, IngressTLS,
  KubeObject, ObjectMeta, Route as RouteObject, RouteBackend, RouteRule, RouteSpec, Secret, Service, ServicePort,
} from '../k8s/types.ts';
import { CONTROLLER_NAME, DEFAULT_CLASS_ANNOTATION, SERVICE_NAME_LABEL } from '../k8s/types.ts';
import type { CompileInput, CompileOptions, CompileResult, Condition } from './types.ts';
import { FOO_CERT_PEM, FOO_KEY_PEM } from './testdata.ts';

/** Options for tests: class "turnout", an http and an https listener, 15 s default timeout. */
export const OPTIONS: CompileOptions = {
  ingressClass: 'turnout',
  listeners: {
    http: { protocol: 'http', address: '127.0.0.1', port: 8080 },
    https: { protocol: 'https', address: '127.0.0.1', port: 8443, defaultSecret: DEFAULT_SECRET },
  },
  defaultCertificate: { cert: FOO_CERT_PEM, key: FOO_KEY_PEM },
  defaultTimeoutMs: 15_000,
};

type Meta = Partial<ObjectMeta>;

function meta(name: string, m: Meta = {}): ObjectMeta {
  return { namespace: 'default', ...m, name };
}

/** An Ingress of class "turnout" in "default" (override with meta / spec.ingressClassName). */
export function ingress(name: string, spec: IngressSpec, m: Meta = {}): Ingress {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: meta(name, m), spec: { ingressClassName: 'turnout', ...spec } };
}

/** A rule for `host` (undefined: any host) with the given paths. */
export function rule(host: string | undefined, ...paths: HTTPIngressPath[]): IngressRule {
  return host === undefined ? { http: { paths } } : { host, http: { paths } };
}

/** A backend to Service `svc` port `port` (number, or name when a string). */
export function backend(svc: string, port: number | string = 80): IngressBackend {
  return { service: { name: svc, port: typeof port === 'number' ? { number: port } : { name: port } } };
}

/** A Prefix path to `svc`. */
export function prefixPath(path: string | undefined, svc = 'svc', port: number | string = 80): HTTPIngressPath {
  return path === undefined ? { pathType: 'Prefix', backend: backend(svc, port) } : { path, pathType: 'Prefix', backend: backend(svc, port) };
}

/** An Exact path to `svc`. */
export function exactPath(path: string, svc = 'svc', port: number | string = 80): HTTPIngressPath {
  return { path, pathType: 'Exact', backend: backend(svc, port) };
}

/** A spec.tls entry. */
export function tls(secretName: string | undefined, ...hosts: string[]): IngressTLS {
  return secretName === undefined ? { hosts } : { hosts, secretName };
}

/** A ClusterIP Service; ports default to one named "http" port 80 → 8080. */
export function service(name: string, ports: ServicePort[] = [{ name: 'http', port: 80, targetPort: 8080 }], m: Meta = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: meta(name, m), spec: { type: 'ClusterIP', ports } };
}

/** An EndpointSlice of Service `svc`: ready endpoints at `addresses`, port "http" 8080 by default. */
export function slice(
  svc: string, addresses: string[],
  o: { name?: string; ports?: EndpointSlice['ports'] | null; ready?: boolean; addressType?: EndpointSlice['addressType']; namespace?: string } = {},
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: meta(o.name ?? `${svc}-abc`, { namespace: o.namespace ?? 'default', labels: { [SERVICE_NAME_LABEL]: svc } }),
    addressType: o.addressType ?? 'IPv4',
    ...(o.ports === undefined ? { ports: [{ name: 'http', port: 8080 }] } : o.ports === null ? {} : { ports: o.ports }),
    endpoints: addresses.map((a) => (o.ready === undefined ? { addresses: [a] } : { addresses: [a], conditions: { ready: o.ready } })),
  };
}

/** A kubernetes.io/tls Secret with the given PEMs (base64-encoded here, as on the API). */
export function tlsSecret(name: string, cert = FOO_CERT_PEM, key = FOO_KEY_PEM, m: Meta = {}, type = 'kubernetes.io/tls'): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: meta(name, m), type, data: { 'tls.crt': b64(cert), 'tls.key': b64(key) } };
}

/** An IngressClass; ours unless `controller` says otherwise. */
export function ingressClass(name: string, o: { controller?: string; isDefault?: boolean } = {}): IngressClass {
  const annotations = o.isDefault ? { [DEFAULT_CLASS_ANNOTATION]: 'true' } : undefined;
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass',
    metadata: annotations ? { name, annotations } : { name },
    spec: { controller: o.controller ?? CONTROLLER_NAME },
  };
}

/** A turnout.dev Route of class "turnout" in "default" (override with meta / spec.ingressClassName). */
export function httpRoute(name: string, spec: RouteSpec, m: Meta = {}): RouteObject {
  return { apiVersion: 'turnout.dev/v1alpha1', kind: 'Route', metadata: meta(name, m), spec: { ingressClassName: 'turnout', ...spec } };
}

/** A Route rule sending every request (no matches: PathPrefix "/") to `backends`. */
export function toBackends(...backends: RouteBackend[]): RouteRule {
  return { backends };
}

/** A Route backend: Service `name` port `port`, optional weight. */
export function ref(name: string, port = 80, weight?: number): RouteBackend {
  return weight === undefined ? { name, port } : { name, port, weight };
}

/** Sorts objects into a CompileInput by `kind`. */
export function inputOf(objs: readonly KubeObject[]): CompileInput {
  const input = { ingresses: [] as Ingress[], ingressClasses: [] as IngressClass[], services: [] as Service[], endpointSlices: [] as EndpointSlice[], secrets: [] as Secret[], routes: [] as RouteObject[] };
  for (const o of objs) {
    switch (o.kind) {
      case 'Route': input.routes.push(o as RouteObject); break;
      case 'Ingress': input.ingresses.push(o as Ingress); break;
      case 'IngressClass': input.ingressClasses.push(o as IngressClass); break;
      case 'Service': input.services.push(o as Service); break;
      case 'EndpointSlice': input.endpointSlices.push(o as EndpointSlice); break;
      case 'Secret': input.secrets.push(o as Secret); break;
      default: throw new Error(`fixture of unknown kind ${o.kind}`);
    }
  }
  return input;
}

/** A compiled route, as the snapshot should hold it. */
export function route(type: 'Exact' | 'Prefix', path: string, cluster: string | undefined, origin = 'Ingress/default/a', timeoutMs = OPTIONS.defaultTimeoutMs): Route {
  const match = { type, path };
  return cluster === undefined ? { match, timeoutMs, origin } : { match, cluster, timeoutMs, origin };
}

/** A virtual host from routes, keyed by their route keys. */
export function vhost(routes: Route[], secret?: string): VirtualHost {
  const r: Record<string, Route> = {};
  for (const x of routes) r[`${x.match.type}:${x.match.path}`] = x;
  return secret === undefined ? { routes: r } : { tls: { secret }, routes: r };
}

/** A cluster with endpoints "address:port". */
export function cluster(...endpoints: string[]): Cluster {
  const e: Cluster['endpoints'] = {};
  for (const k of endpoints) {
    const i = k.lastIndexOf(':');
    const address = k.slice(0, i).replace(/^\[|\]$/g, '');
    (e as Record<string, unknown>)[k] = { address, port: Number(k.slice(i + 1)) };
  }
  return { endpoints: e };
}

/** The conditions of one object of a result, as "Type=Status/Reason" strings (compact to assert on). */
export function condSummary(result: CompileResult, key: string): string[] | undefined {
  return result.conditions.get(key)?.map((c: Condition) => `${c.type}=${c.status}/${c.reason}`);
}

/** The condition of one type on one object. */
export function condition(result: CompileResult, key: string, type: string): Condition | undefined {
  return result.conditions.get(key)?.find((c) => c.type === type);
}

/** The TLS material the snapshot should carry for the FOO pair. */
export const FOO_TLS: TlsSecret = { cert: FOO_CERT_PEM, key: FOO_KEY_PEM };

/** Base64 of a UTF-8 string. */
export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** Deterministic shuffle (no randomness in tests either). */
export function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
