// The Kubernetes objects Turnout reads, reduced to the fields it uses. They are
// structurally compatible with @kubernetes/client-node's V1* models, so the
// manifest source (plain YAML) and the informer source (API objects) feed the
// same cache and compiler. Everything the API server may omit is optional.

/** metadata of every object. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  /** RFC 3339; decides which of two conflicting Ingresses wins. */
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any object with a kind and metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

/** networking.k8s.io/v1 Ingress. */
export interface Ingress extends KubeObject {
  spec?: IngressSpec;
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
}

export interface IngressSpec {
  ingressClassName?: string;
  defaultBackend?: IngressBackend;
  rules?: IngressRule[];
  tls?: IngressTLS[];
}

export interface IngressBackend {
  service?: { name: string; port?: { number?: number; name?: string } };
  resource?: { apiGroup?: string; kind: string; name: string };
}

export interface IngressRule {
  host?: string;
  http?: { paths: HTTPIngressPath[] };
}

export type IngressPathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

export interface HTTPIngressPath {
  path?: string;
  pathType: IngressPathType;
  backend: IngressBackend;
}

export interface IngressTLS {
  hosts?: string[];
  secretName?: string;
}

/** networking.k8s.io/v1 IngressClass. */
export interface IngressClass extends KubeObject {
  spec?: { controller?: string; parameters?: { apiGroup?: string; kind: string; name: string; namespace?: string; scope?: string } };
}

/** v1 Service. */
export interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    externalName?: string;
    selector?: Record<string, string>;
    ports?: ServicePort[];
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

/** discovery.k8s.io/v1 EndpointSlice; its Service is the kubernetes.io/service-name label. */
export interface EndpointSlice extends KubeObject {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: EndpointSliceEndpoint[];
  ports?: EndpointSlicePort[];
}

export interface EndpointSliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

export interface EndpointSlicePort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

/** v1 Secret; `data` values are base64 as on the API. Sources fold `stringData` into `data`. */
export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

/**
 * turnout.dev/v1alpha1 Route (crds/turnout.dev_routes.yaml is its schema and
 * docs/route.md its reference). Either `rules` (HTTP) or `tcp` (L4), not both.
 */
export interface Route extends KubeObject {
  spec?: RouteSpec;
  status?: { conditions?: RouteStatusCondition[] };
}

export interface RouteSpec {
  /** Same rules as an Ingress's spec.ingressClassName (classes.ts). */
  ingressClassName?: string;
  /** Exact or "*." wildcard DNS names; none means any host. */
  hostnames?: string[];
  tls?: RouteTLS;
  rules?: RouteRule[];
  tcp?: RouteTCP;
}

/** Terminate TLS with `secretName` (mode Terminate, the default), or pass it through by SNI. */
export interface RouteTLS {
  mode?: 'Terminate' | 'Passthrough';
  secretName?: string;
}

export interface RouteRule {
  /** A rule applies if any match matches; none means one PathPrefix "/" match. */
  matches?: RouteRuleMatch[];
  backends?: RouteBackend[];
  filters?: RouteFilters;
  timeouts?: RouteTimeouts;
  retries?: RouteRetries;
}

/** Every condition given must hold. */
export interface RouteRuleMatch {
  /** Absent: PathPrefix "/". */
  path?: RoutePathMatch;
  headers?: RouteValueMatch[];
  queryParams?: RouteValueMatch[];
  method?: string;
}

export type RoutePathType = 'Exact' | 'PathPrefix' | 'RegularExpression';

export interface RoutePathMatch {
  /** Absent: PathPrefix. */
  type?: RoutePathType;
  /** Absent: "/". */
  value?: string;
}

export interface RouteValueMatch {
  name: string;
  /** Absent: Exact. */
  type?: 'Exact' | 'RegularExpression';
  value: string;
}

/** A Service port of the Route's namespace. */
export interface RouteBackend {
  name: string;
  /** Only the Route's own namespace is permitted (RefNotPermitted otherwise). */
  namespace?: string;
  port: number;
  /** Relative share; absent means 1, 0 means no traffic. */
  weight?: number;
}

export interface RouteFilters {
  requestRedirect?: RouteRedirect;
  urlRewrite?: RouteURLRewrite;
  requestHeaders?: RouteHeaderFilter;
  responseHeaders?: RouteHeaderFilter;
  requestMirror?: RouteMirror;
}

export interface RoutePathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  value: string;
}

export interface RouteRedirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  port?: number;
  path?: RoutePathModifier;
  /** Absent: 302. */
  statusCode?: number;
}

export interface RouteURLRewrite {
  hostname?: string;
  path?: RoutePathModifier;
}

export interface RouteHeaderFilter {
  set?: Array<{ name: string; value: string }>;
  add?: Array<{ name: string; value: string }>;
  remove?: string[];
}

export interface RouteMirror {
  backend: { name: string; namespace?: string; port: number };
  percent?: number;
}

/** Go durations ("15s", "500ms"). */
export interface RouteTimeouts {
  request?: string;
  backendRequest?: string;
  idle?: string;
}

export interface RouteRetries {
  attempts?: number;
  on?: Array<string | number>;
  perTryTimeout?: string;
  backoff?: string;
}

export interface RouteTCP {
  port?: number;
  backends?: RouteBackend[];
}

/** metav1.Condition, as written to status. */
export interface RouteStatusCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

/** The API group of Turnout's own kinds. */
export const TURNOUT_GROUP = 'turnout.dev';

/** Label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** The legacy class annotation, still widely used. */
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
/** Marks an IngressClass as the cluster default for Ingresses without a class. */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
/** The controller name Turnout's IngressClass carries in spec.controller. */
export const CONTROLLER_NAME = 'turnout.dev/ingress-controller';

/** "namespace/name" of an object, with "default" for objects without a namespace. */
export function nsName(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}
