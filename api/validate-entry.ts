// Validation of one cluster and one virtual host (api/validate.ts checks the
// rest of a snapshot), and the helpers every part of validation shares. The
// entry checks are one object so that the two callers run the very same code:
// validateSnapshot in its loops over a snapshot's maps, and the compiler's
// seal on each entry as it freezes and serialises it (EntryChecks.visit), so
// that 20k entries are walked once at a full compile, not twice.
import { isIP } from 'node:net';
import { mapKeys, routeKey, UPSTREAM_PROTOCOLS } from './snapshot.ts';
import type { Report, Where } from './validate-route.ts';
import { at, validateRoute } from './validate-route.ts';

/** One problem, e.g. {path: "/virtualHosts/foo.com/routes/Exact:~1a/cluster", reason: "..."}. */
export interface SnapshotProblem {
  readonly path: string;
  readonly reason: string;
}

/** A resolvable host name: letters, digits, hyphens, dots; labels of 1..63; at most 253; an optional trailing dot. */
const DNS_NAME_RE = /^(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
// Keys that would reach Object.prototype when a patch or a lookup uses them.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const HOST_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The checks of one cluster and of one virtual host, against the secrets and
 * clusters their references must resolve in. Problems go to `bad` in the
 * order validateSnapshot has always reported them.
 */
export class EntryChecks {
  readonly #bad: Report;
  readonly #secrets: Record<string, unknown>;
  readonly #clusters: Record<string, unknown>;
  readonly #hasCluster = (key: string) => Object.hasOwn(this.#clusters, key);
  // Paths are built only when a problem is reported: one function per kind
  // reads the key being checked, so the happy path allocates nothing per entry.
  #clusterName = '';
  #epKey = '';
  #hostName = '';
  #routeName = '';
  readonly #cp = () => `/clusters/${ptr(this.#clusterName)}`;
  readonly #epp = () => `${this.#cp()}/endpoints/${ptr(this.#epKey)}`;
  readonly #hp = () => `/virtualHosts/${ptr(this.#hostName)}`;
  readonly #rp = () => `${this.#hp()}/routes/${ptr(this.#routeName)}`;
  // For visit(): the entries seen per section map (covers()).
  #visitedClusters = 0;
  #visitedHosts = 0;
  #found = false;

  /** Without `bad`, a problem is only remembered (`found`): the seal's checks, which validateSnapshot then reports in full. */
  constructor(secrets: Record<string, unknown>, clusters: Record<string, unknown>, bad?: Report) {
    this.#secrets = secrets;
    this.#clusters = clusters;
    this.#bad = bad ?? (() => { this.#found = true; });
  }

  /** Checks cluster `name`. */
  cluster(name: string, c: unknown): void {
    const bad = this.#bad;
    this.#clusterName = name;
    const p = this.#cp;
    if (!isObject(c)) { bad(p(), 'must be an object'); return; }
    if (c.protocol !== undefined && !(UPSTREAM_PROTOCOLS as readonly unknown[]).includes(c.protocol)) {
      bad(`${p()}/protocol`, `must be absent (HTTP/1.1) or one of ${UPSTREAM_PROTOCOLS.map((v) => JSON.stringify(v)).join(', ')}`);
    }
    const endpoints = keyedMap(c, 'endpoints', bad, p);
    const epKeys = Object.keys(endpoints);
    for (let e = 0; e < epKeys.length; e++) {
      const key = epKeys[e]!;
      const ep = endpoints[key];
      this.#epKey = key;
      const ep_p = this.#epp;
      if (!isObject(ep)) { bad(ep_p(), 'must be an object'); continue; }
      if (!isPlainIP(ep.address)) bad(`${ep_p()}/address`, 'must be an IP address without a zone');
      if (!isPort(ep.port)) bad(`${ep_p()}/port`, 'must be an integer in 1..65535');
    }
    if (c.dns !== undefined) {
      if (!isObject(c.dns)) bad(`${p()}/dns`, 'must be an object');
      else {
        if (typeof c.dns.name !== 'string' || !DNS_NAME_RE.test(c.dns.name)) bad(`${p()}/dns/name`, 'must be a DNS name');
        if (!isPort(c.dns.port)) bad(`${p()}/dns/port`, 'must be an integer in 1..65535');
      }
      if (isObject(c.endpoints) && Object.keys(c.endpoints).length > 0) bad(`${p()}/endpoints`, 'must be empty for a DNS-named cluster');
    }
  }

  /** Checks virtual host `host`. */
  host(host: string, vh: unknown): void {
    const bad = this.#bad;
    const hasCluster = this.#hasCluster;
    this.#hostName = host;
    const p = this.#hp;
    if (host !== '*' && !HOST_RE.test(host)) bad(p(), 'key must be a lower-case DNS name, a "*." wildcard, or "*"');
    if (!isObject(vh)) { bad(p(), 'must be an object'); return; }
    if (vh.tls !== undefined) {
      if (!isObject(vh.tls) || typeof vh.tls.secret !== 'string') bad(`${p()}/tls/secret`, 'must be a string');
      else if (!Object.hasOwn(this.#secrets, vh.tls.secret)) bad(`${p()}/tls/secret`, `secret ${JSON.stringify(vh.tls.secret)} does not exist`);
    }
    if (vh.passthrough !== undefined) {
      if (vh.tls !== undefined) bad(`${p()}/passthrough`, 'a host is either terminated (tls) or passed through, not both');
      if (host === '*') bad(`${p()}/passthrough`, 'passthrough needs a host name to match the SNI against');
      if (!isObject(vh.passthrough)) bad(`${p()}/passthrough`, 'must be an object');
      else validateBackends(() => `${p()}/passthrough/backends`, vh.passthrough.backends, hasCluster, bad);
    }
    const routes = keyedMap(vh, 'routes', bad, p);
    const keys = Object.keys(routes);
    const rp = this.#rp;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      this.#routeName = key;
      const m = validateRoute(rp, routes[key], hasCluster, bad);
      if (m !== undefined && key !== routeKey(m.type, m.path, m)) {
        bad(rp(), `key must be ${JSON.stringify(routeKey(m.type, m.path, m))}`);
      }
    }
  }

  /**
   * Checks one entry of the section `field` ("clusters" or "virtualHosts";
   * others are not entries checked here) and counts it: what the seal calls
   * for each entry it walks (api/version.ts sealSnapshot's `visit`).
   */
  visit(field: string, key: string, value: unknown): void {
    if (field === 'clusters') { this.#visitedClusters++; this.cluster(key, value); }
    else if (field === 'virtualHosts') { this.#visitedHosts++; this.host(key, value); }
  }

  /** Whether a check made without `bad` met a problem. */
  get found(): boolean {
    return this.#found;
  }

  /**
   * Whether visit() saw every entry of `clusters` and `virtualHosts`, these
   * very maps, checked against these very `secrets` and `clusters`: then
   * validateSnapshot need not check those entries again.
   */
  covers(secrets: unknown, clusters: unknown, virtualHosts: unknown): boolean {
    return secrets === this.#secrets && clusters === this.#clusters
      && isObject(clusters) && mapKeys(clusters).length === this.#visitedClusters
      && isObject(virtualHosts) && mapKeys(virtualHosts).length === this.#visitedHosts;
  }
}

/**
 * `parent[field]` when it is an object without forbidden keys, else {} and a
 * problem. With `written` (changedKeys), only those keys can be new.
 */
export function keyedMap(
  parent: Record<string, unknown>, field: string,
  bad: Report, prefix: Where = '', written?: ReadonlySet<string>,
): Record<string, unknown> {
  const v = parent[field];
  if (!isObject(v)) { bad(`${at(prefix)}/${field}`, 'must be an object keyed by name'); return {}; }
  // Three own-key lookups instead of a walk over every key (the caller walks
  // them next); the walk, in key order, runs only to report the first one.
  if (!Object.hasOwn(v, '__proto__') && !Object.hasOwn(v, 'constructor') && !Object.hasOwn(v, 'prototype')) return v;
  for (const key of keysOf(v, written)) {
    if (FORBIDDEN_KEYS.has(key)) { bad(`${at(prefix)}/${field}/${ptr(key)}`, 'forbidden key'); return {}; }
  }
  return v;
}

/**
 * The own keys of `map`, or of them only those in `written` (changedKeys: the
 * others are the base's entries). A frozen map's recorded list (mapKeys: the
 * compiler's maps have one) saves Object.keys of a 10k-key dictionary-mode map.
 */
export function keysOf(map: Record<string, unknown>, written: ReadonlySet<string> | undefined): readonly string[] {
  if (written === undefined) return mapKeys(map);
  const out: string[] = [];
  for (const key of written) if (Object.hasOwn(map, key)) out.push(key);
  return out;
}

/** A weighted split (tcp listener, passthrough host): an array of {cluster?, weight}. */
export function validateBackends(p: Where, backends: unknown, hasCluster: (key: string) => boolean, bad: Report): void {
  if (!Array.isArray(backends)) { bad(at(p), 'must be an array'); return; }
  backends.forEach((b: unknown, i: number) => {
    const bp = `${at(p)}/${i}`;
    if (!isObject(b)) { bad(bp, 'must be an object'); return; }
    if (b.cluster !== undefined && (typeof b.cluster !== 'string' || !hasCluster(b.cluster))) bad(`${bp}/cluster`, 'must name a cluster of the snapshot');
    if (typeof b.weight !== 'number' || !Number.isInteger(b.weight) || b.weight < 0) bad(`${bp}/weight`, 'must be a non-negative integer');
  });
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An IPv4 or IPv6 address without a zone ("fe80::1%eth0"): node:net accepts
 * zones, undici's URL parser and the Kubernetes API do not.
 */
export function isPlainIP(v: unknown): v is string {
  return typeof v === 'string' && isIP(v) !== 0 && !v.includes('%');
}

export function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** Escapes a key as a JSON pointer segment (RFC 6901). */
export function ptr(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
