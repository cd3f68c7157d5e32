// The snapshot: the one contract between the controller (which compiles it) and
// the proxy (which applies it). Everything the data plane needs is here and
// nothing else: no Kubernetes shapes, no status, no conditions.
//
// Every collection is a keyed map, never an array, so that a one-route change
// is a one-operation JSON patch and unchanged sub-objects can be shared between
// consecutive snapshots (see pitfalls.md: array diffs explode).

/** Content hash of the snapshot minus its `version` field: a hash over per-bucket hashes of its maps (see version.ts). */
export type Version = string;

/** Key of a TLS secret in `Snapshot.secrets`: "namespace/name", or DEFAULT_SECRET. */
export type SecretKey = string;

/** Key of a cluster in `Snapshot.clusters`: "namespace/service:port". */
export type ClusterKey = string;

/**
 * The secret served to TLS clients that match no host, send no SNI, or ask for
 * a host whose own secret is missing or invalid. The key cannot collide with a
 * "namespace/name" key because it contains no slash.
 */
export const DEFAULT_SECRET: SecretKey = '@default';

/**
 * Virtual host key for rules without a host: they apply to any Host header that
 * no exact or wildcard virtual host claims.
 */
export const ANY_HOST = '*';

/** An immutable, versioned routing configuration. Treat every level as frozen. */
export interface Snapshot {
  readonly version: Version;
  /** Keyed by listener name ("http", "https"). */
  readonly listeners: Readonly<Record<string, Listener>>;
  /** Keyed by lower-case hostname: "foo.com", "*.foo.com" or ANY_HOST. */
  readonly virtualHosts: Readonly<Record<string, VirtualHost>>;
  /** Keyed by ClusterKey. */
  readonly clusters: Readonly<Record<ClusterKey, Cluster>>;
  /** Keyed by SecretKey. Carries private keys: never log, never expose. */
  readonly secrets: Readonly<Record<SecretKey, TlsSecret>>;
  /**
   * Serves requests that no virtual host or route matches (the Ingress
   * `defaultBackend`); its match is always Prefix "/". Absent means 404.
   */
  readonly defaultRoute?: Route;
}

/** A socket the proxy listens on. The controller owns ports so they can change without a restart. */
export interface Listener {
  /** 'tcp': every accepted connection is spliced to an endpoint of `backends` (a tcp Route). */
  readonly protocol: 'http' | 'https' | 'tcp';
  /** IP address to bind, e.g. "127.0.0.1" or "::". */
  readonly address: string;
  readonly port: number;
  /** For https: the secret served when SNI matches no virtual host with TLS. */
  readonly defaultSecret?: SecretKey;
  /** For tcp only, and required then: the weighted split each connection picks from. */
  readonly backends?: readonly WeightedBackend[];
  /**
   * http/https: every connection starts with a PROXY protocol (v1 or v2)
   * header from a load balancer, naming the client; one without is closed.
   */
  readonly proxyProtocol?: boolean;
  /**
   * http/https: addresses or CIDRs of proxies in front whose X-Forwarded-For
   * is believed for X-Real-IP (the rightmost untrusted hop).
   */
  readonly trustedProxies?: readonly string[];
}

/** All routes for one host pattern. */
export interface VirtualHost {
  /** Present when the host is listed under an Ingress `spec.tls` or a Route's terminating `spec.tls`. */
  readonly tls?: { readonly secret: SecretKey };
  /**
   * TLS passthrough (a Route with tls.mode Passthrough): a TLS connection on an
   * https listener whose SNI names this host is spliced, still encrypted, to
   * one of `backends`. Never together with `tls`; `routes` still serve the
   * host's cleartext requests (e.g. a redirect to https).
   */
  readonly passthrough?: { readonly backends: readonly WeightedBackend[] };
  /** Keyed by RouteKey (routeKey() below), unique per match. */
  readonly routes: Readonly<Record<string, Route>>;
}

/**
 * Path match semantics. Exact and Prefix are networking.k8s.io/v1's
 * (ImplementationSpecific compiles to Prefix; Prefix is element-wise).
 * RegularExpression is RE2 syntax matched against the whole normalised path
 * (anchored, as Envoy does), run by a linear-time engine on the proxy.
 */
export type PathMatchType = 'Exact' | 'Prefix' | 'RegularExpression';

/** A header or query parameter condition. Header names are lower-case. */
export interface ValueMatch {
  readonly name: string;
  readonly type: 'Exact' | 'RegularExpression';
  /** For RegularExpression: RE2 syntax, matched against the whole value. */
  readonly value: string;
}

/**
 * What a request must have for a route to apply: the path, and every header,
 * query and method condition (all of them). Precedence among routes of one
 * virtual host (Gateway API order): Exact path, then RegularExpression, then
 * the longest Prefix; among equal paths, the most header matches, then the
 * most query matches, then a method match, then the lowest `rank`. A request
 * that fails a route's conditions falls through to the next candidate.
 */
export interface RouteMatch {
  readonly type: PathMatchType;
  readonly path: string;
  /** Sorted by name then value; absent when empty. */
  readonly headers?: readonly ValueMatch[];
  /** Sorted by name then value; absent when empty. */
  readonly queryParams?: readonly ValueMatch[];
  /** Upper-case method, e.g. "GET". */
  readonly method?: string;
}

/** One backend of a weighted split. */
export interface WeightedBackend {
  /** Absent when the backend does not resolve: its share of requests answers 500 (Gateway API). */
  readonly cluster?: ClusterKey;
  /** Relative share; 0 means no traffic. */
  readonly weight: number;
}

/** Rewrites the path: the whole of it, or only the part the route's Prefix matched. */
export interface PathModifier {
  readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  readonly value: string;
}

/** Answers with a redirect instead of forwarding; absent parts keep the request's own. */
export interface Redirect {
  readonly scheme?: 'http' | 'https';
  readonly hostname?: string;
  readonly port?: number;
  readonly path?: PathModifier;
  readonly statusCode: 301 | 302 | 303 | 307 | 308;
}

/** Changes the request before it is forwarded. */
export interface Rewrite {
  readonly hostname?: string;
  readonly path?: PathModifier;
}

/** Header edits, applied in the order remove, set, add. Names are lower-case; hop-by-hop names are refused. */
export interface HeaderFilter {
  readonly set?: readonly { readonly name: string; readonly value: string }[];
  readonly add?: readonly { readonly name: string; readonly value: string }[];
  readonly remove?: readonly string[];
}

/**
 * A copy of each forwarded request (a share of them) sent to another cluster,
 * fire-and-forget: its answer is discarded and its failures never reach the
 * client (the Gateway API's RequestMirror).
 */
export interface Mirror {
  /** Absent when the mirror backend does not resolve: nothing is mirrored. */
  readonly cluster?: ClusterKey;
  /** The share of requests mirrored, an integer 0..100. */
  readonly percent: number;
}

/**
 * One match and what to do with the requests it takes: forward to `cluster`
 * (Ingress), split over `backends` (Route), or `redirect`. Exactly one of the three.
 */
export interface Route {
  readonly match: RouteMatch;
  /** The single backend; absent (with no `backends` nor `redirect`) when it could not be resolved: 503. */
  readonly cluster?: ClusterKey;
  /** A weighted split; when every weight is 0 the route answers 500. */
  readonly backends?: readonly WeightedBackend[];
  readonly redirect?: Redirect;
  readonly rewrite?: Rewrite;
  readonly requestHeaders?: HeaderFilter;
  readonly responseHeaders?: HeaderFilter;
  /** Mirrors forwarded requests (not redirects, not websocket handshakes) to another cluster. */
  readonly mirror?: Mirror;
  /**
   * Upper bound on waiting for the upstream's response headers, in ms, per
   * attempt (Gateway API backendRequest). Without `requestTimeoutMs` nor
   * `retry` it is counted from the request's arrival (queueing included).
   */
  readonly timeoutMs: number;
  /**
   * Upper bound on the whole exchange, retries and backoff included, counted
   * from arrival (Gateway API timeouts.request): expiry before response
   * headers answers 504, after them cuts the client connection. At least `timeoutMs`.
   */
  readonly requestTimeoutMs?: number;
  /**
   * Longest quiet time, in ms, between two chunks of the upstream response
   * body (Gateway API timeouts.idle) before the exchange is cut; absent: the
   * proxy's default (300 s). Websocket tunnels are not bounded by it.
   */
  readonly idleTimeoutMs?: number;
  /** Retries beyond the always-safe connect-failure ones (proxy/retry.ts). */
  readonly retry?: RetryPolicy;
  /** Tie-breaker among routes of equal precedence: lower wins (the compiler's oldest-first order). */
  readonly rank?: number;
  /** "Kind/namespace/name" of the object this route came from (for debugging, not routing). */
  readonly origin: string;
}

/** A condition under which an attempt is retried (RETRY_CONDITIONS). */
export type RetryOn = 'connect-failure' | 'reset' | '502' | '503' | '504';

/** Every RetryOn value, in a stable order. */
export const RETRY_CONDITIONS: readonly RetryOn[] = ['connect-failure', 'reset', '502', '503', '504'];

/**
 * When and how often a route retries (Envoy's retry policy, the Gateway API's
 * retries): only requests without a body are replayed after bytes were sent.
 */
export interface RetryPolicy {
  /** Retries after the first attempt, an integer 0..10 (0: none, connect failures included). */
  readonly attempts: number;
  /** The outcomes retried; '504' includes an attempt that hit its timeout. */
  readonly on: readonly RetryOn[];
  /** Per-attempt bound on waiting for response headers, replacing the route's timeoutMs. */
  readonly perTryTimeoutMs?: number;
  /** Base of the exponential backoff with full jitter between attempts, in ms. */
  readonly backoffMs: number;
}

/**
 * How the proxy speaks to a cluster's endpoints, from the Service port's
 * `appProtocol` (controller/compile/services.ts). Absent: HTTP/1.1 in clear
 * text. 'h2c': HTTP/2 in clear text with prior knowledge (gRPC servers).
 * 'tls': HTTP/1.1 over TLS, the endpoint's certificate not verified (pod IPs
 * match no certificate name and the snapshot carries no CA to check against).
 */
export type UpstreamProtocol = 'h2c' | 'tls';

/** Every UpstreamProtocol value (validation). */
export const UPSTREAM_PROTOCOLS: readonly UpstreamProtocol[] = ['h2c', 'tls'];

/** A Service port and its ready endpoints. */
export interface Cluster {
  /** Keyed by "address:port" ("[v6]:port" for IPv6). Empty means 503. */
  readonly endpoints: Readonly<Record<string, Endpoint>>;
  /**
   * A DNS-named cluster (an ExternalName Service): the proxy resolves `name`
   * at run time and re-resolves it on its TTL (proxy/upstream/dns.ts);
   * `endpoints` is then empty.
   */
  readonly dns?: { readonly name: string; readonly port: number };
  /** Absent (the usual case) is HTTP/1.1 in clear text; see UpstreamProtocol. */
  readonly protocol?: UpstreamProtocol;
}

/** One ready endpoint. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** PEM certificate chain and private key of a kubernetes.io/tls Secret. */
export interface TlsSecret {
  readonly cert: string;
  readonly key: string;
}

/**
 * The key of a route within its virtual host: one route per distinct match.
 * A plain path match keeps the short form "Prefix:/foo"; conditions are
 * appended as JSON so that any header value stays unambiguous.
 */
export function routeKey(type: PathMatchType, path: string, match?: Omit<RouteMatch, 'type' | 'path'>): string {
  const base = `${type}:${path}`;
  if (match === undefined || (match.headers === undefined && match.queryParams === undefined && match.method === undefined)) return base;
  return `${base} ${JSON.stringify([match.headers ?? [], match.queryParams ?? [], match.method ?? ''])}`;
}

/** The key of an endpoint within its cluster, bracketing IPv6 addresses. */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** How big a snapshot is, for admin pages and logs (never its contents). */
export interface SnapshotCounts {
  readonly listeners: number;
  readonly virtualHosts: number;
  readonly routes: number;
  readonly clusters: number;
  readonly endpoints: number;
  readonly secrets: number;
}

/** Counts the entries of a snapshot. */
export function snapshotCounts(s: Snapshot): SnapshotCounts {
  let routes = 0;
  let endpoints = 0;
  for (const vh of Object.values(s.virtualHosts)) routes += Object.keys(vh.routes).length;
  for (const c of Object.values(s.clusters)) endpoints += Object.keys(c.endpoints).length;
  return {
    listeners: Object.keys(s.listeners).length,
    virtualHosts: Object.keys(s.virtualHosts).length,
    routes,
    clusters: Object.keys(s.clusters).length,
    endpoints,
    secrets: Object.keys(s.secrets).length,
  };
}

// Copies of snapshot maps and the keys that may differ from the map copied.
// A proxy builds a delta's candidate by copying the maps the patch writes
// into (proxy/stream/delta.ts), so it knows which few keys of a 10k-entry map
// were written; validation and the routing table then look at those keys
// instead of comparing every entry with the previous snapshot's.
// `from` is held weakly: each map would otherwise keep the one it was copied
// from alive, and that one its own, down to the first snapshot.
const copies = new WeakMap<object, { readonly from: WeakRef<object>; readonly keys: ReadonlySet<string> }>();

/**
 * Records that `map` is a copy of `from` in which only `keys` may have been
 * added, replaced or removed; every other key holds the very value of `from`.
 * For the code that made the copy, before anyone else sees it.
 */
export function noteMapCopy(map: object, from: object, keys: ReadonlySet<string>): void {
  copies.set(map, { from: new WeakRef(from), keys });
}

/**
 * The keys in which `map` may differ from `from`, when `map` was recorded as
 * a copy of it (noteMapCopy) and both are frozen (so neither changed since);
 * undefined otherwise: compare every key.
 */
export function changedKeys(map: unknown, from: unknown): ReadonlySet<string> | undefined {
  if (typeof map !== 'object' || map === null || typeof from !== 'object' || from === null) return undefined;
  const copy = copies.get(map);
  return copy !== undefined && copy.from.deref() === from && isFrozenMap(map) && isFrozenMap(from) ? copy.keys : undefined;
}

/**
 * The map `map` was recorded as a copy of, with the keys that may differ,
 * when both are frozen; undefined otherwise. For code that derives what it
 * knows of a copy from what it knew of the original (version.ts's digests).
 */
export function copiedFrom(map: object): { readonly from: object; readonly keys: ReadonlySet<string> } | undefined {
  const copy = copies.get(map);
  const from = copy?.from.deref();
  return copy !== undefined && from !== undefined && isFrozenMap(map) && isFrozenMap(from) ? { from, keys: copy.keys } : undefined;
}

// Object.isFrozen looks at every property of a dictionary-mode object (V8's
// large keyed maps): 70 µs for a 10k-key map, 0.6 ms at 50k, and each change
// asks it of the same few maps a dozen times on each side. Frozen is forever,
// so a yes is remembered, for the maps asked about here only.
const frozenMaps = new WeakSet<object>();

/** Object.isFrozen(map), answered from memory after the first yes. */
export function isFrozenMap(map: object): boolean {
  if (frozenMaps.has(map)) return true;
  if (!Object.isFrozen(map)) return false;
  frozenMaps.add(map);
  return true;
}

/**
 * Records `map` as frozen for isFrozenMap without Object.freeze: for a map
 * that is read-only by construction but cannot be frozen (proxy/stream/overlay.ts).
 */
export function markFrozenMap(map: object): void {
  frozenMaps.add(map);
}

/** Object.freeze(map), remembered for isFrozenMap: for the code that builds a large map and freezes it. */
export function freezeMap<T extends object>(map: T): T {
  Object.freeze(map);
  frozenMaps.add(map);
  return map;
}

// Object.keys of a dictionary-mode object orders its keys by insertion, a
// sort: 2-3 ms for a 10k-key map, about what copying the map costs besides.
// The code that copies a large map per change (the proxy's delta, the
// controller's host-scoped recompile) records the key list of each copy it
// makes, so the next copy starts from it.
const keyLists = new WeakMap<object, readonly string[]>();

/**
 * The own enumerable keys of `map`: for a frozen map the list recorded by
 * noteMapKeys (or Object.keys, then remembered), for anything else Object.keys.
 * Not necessarily Object.keys's order: for code that needs the set of keys.
 */
export function mapKeys(map: object): readonly string[] {
  if (!isFrozenMap(map)) return Object.keys(map);
  let keys = keyLists.get(map);
  if (keys === undefined) keyLists.set(map, keys = Object.keys(map));
  return keys;
}

/**
 * Records `keys` as exactly the own enumerable keys of `map`, for its maker,
 * which freezes it before anyone else sees it (mapKeys answers for frozen maps only).
 */
export function noteMapKeys(map: object, keys: readonly string[]): void {
  keyLists.set(map, keys);
}
