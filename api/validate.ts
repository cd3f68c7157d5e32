// Runtime validation of a snapshot. The controller runs it before publishing (a
// compiler bug must not reach any proxy) and the proxy runs it before applying
// (a snapshot arrives as untrusted JSON). Errors name the JSON path and the reason.
import { isIP } from 'node:net';
import type { Snapshot } from './snapshot.ts';
import { changedKeys, isFrozenMap, mapKeys, routeKey, UPSTREAM_PROTOCOLS } from './snapshot.ts';
import type { Where } from './validate-route.ts';
import { at, validateRoute } from './validate-route.ts';

/** A resolvable host name: letters, digits, hyphens, dots; labels of 1..63; at most 253; an optional trailing dot. */
const DNS_NAME_RE = /^(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** One problem, e.g. {path: "/virtualHosts/foo.com/routes/Exact:~1a/cluster", reason: "..."}. */
export interface SnapshotProblem {
  readonly path: string;
  readonly reason: string;
}

/** Thrown by assertValidSnapshot; `message` lists the first problems with their paths. */
export class SnapshotValidationError extends Error {
  readonly code = 'SNAPSHOT_INVALID';
  readonly problems: readonly SnapshotProblem[];
  constructor(problems: readonly SnapshotProblem[]) {
    const shown = problems.slice(0, 5).map((p) => `${p.path}: ${p.reason}`);
    if (problems.length > 5) shown.push(`(and ${problems.length - 5} more)`);
    super(`invalid snapshot: ${shown.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * Throws SnapshotValidationError unless `value` is a well-formed snapshot whose
 * references all resolve. With `base`, a snapshot that passed this function
 * before, entries `value` shares with it are not checked again (see
 * validateSnapshot): a one-route change at 10k hosts checks one host.
 */
export function assertValidSnapshot(value: unknown, base?: Snapshot): asserts value is Snapshot {
  // Checked before and frozen since (the compiler's result, published next): nothing can have changed.
  if (typeof value === 'object' && value !== null && validated.has(value) && Object.isFrozen(value)) return;
  const problems = validateSnapshot(value, base);
  if (problems.length > 0) throw new SnapshotValidationError(problems);
  if (typeof value === 'object' && value !== null && Object.isFrozen(value)) validated.add(value);
}

// Snapshots that passed assertValidSnapshot while frozen: the only bases whose
// entries are trusted without a new check. Frozen, because an entry is reused
// by identity and must not have changed since it was checked (deepFreeze
// freezes children first, so a frozen entry is frozen all the way down).
const validated = new WeakSet<object>();

// Keys that would reach Object.prototype when a patch or a lookup uses them.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const HOST_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const VERSION_RE = /^[0-9a-f]{8,64}$/;

/**
 * Lists every problem found; an empty list means valid. `base`: a snapshot
 * that passed assertValidSnapshot while frozen (anything else is ignored).
 * A secret, cluster or virtual host of `value` that is the very (frozen)
 * object `base` has under the same key was valid there and is skipped; a
 * virtual host only while every secret and cluster key of `base` still
 * exists, since its references must resolve. Listeners, few, are always
 * checked (their ports are compared with each other).
 */
export function validateSnapshot(value: unknown, base?: Snapshot): SnapshotProblem[] {
  const out: SnapshotProblem[] = [];
  const bad = (path: string, reason: string) => void out.push({ path, reason });
  if (!isObject(value)) return [{ path: '', reason: 'must be an object' }];
  const s = value as Record<string, unknown>;
  const b = base !== undefined && validated.has(base) && Object.isFrozen(base) ? base as unknown as Record<string, Record<string, unknown>> : undefined;

  if (typeof s.version !== 'string' || !VERSION_RE.test(s.version)) bad('/version', 'must be a hex content hash');
  // A whole map that is the base's (frozen) map was checked with it: its keys too.
  // isFrozenMap: Object.isFrozen walks a 10k-key map (70 µs) and this is asked several times.
  const sameMap = (field: string) => b !== undefined && s[field] === b[field] && isObject(s[field]) && isFrozenMap(s[field]);
  // A map a delta copied from the base's names the keys it wrote (changedKeys):
  // every other key holds the base's entry, so only those are looked at.
  const written = (field: string) => (b === undefined ? undefined : changedKeys(s[field], b[field]));
  const [wSecrets, wClusters, wHosts] = [written('secrets'), written('clusters'), written('virtualHosts')];
  const secrets = sameMap('secrets') ? b!.secrets! : keyedMap(s, 'secrets', bad, '', wSecrets);
  const clusters = sameMap('clusters') ? b!.clusters! : keyedMap(s, 'clusters', bad, '', wClusters);
  const hasCluster = (key: string) => Object.hasOwn(clusters, key);
  const listeners = keyedMap(s, 'listeners', bad);
  const vhosts = sameMap('virtualHosts') ? b!.virtualHosts! : keyedMap(s, 'virtualHosts', bad, '', wHosts);

  // Object.keys and an index, not Object.entries: no pair arrays at 10k keys.
  const refsKept = b !== undefined && (sameMap('secrets') || keysKept(secrets, b.secrets, wSecrets)) && (sameMap('clusters') || keysKept(clusters, b.clusters, wClusters));
  // Paths are built only when a problem is reported: one function per loop
  // reads the key being checked, so the happy path allocates nothing per entry.
  let secretName = '';
  let clusterName = '';
  let epKey = '';
  const sp = () => `/secrets/${ptr(secretName)}`;
  const cp = () => `/clusters/${ptr(clusterName)}`;
  const epp = () => `${cp()}/endpoints/${ptr(epKey)}`;
  for (const name of sameMap('secrets') ? [] : keysOf(secrets, wSecrets)) {
    const sec = secrets[name];
    if (b !== undefined && shared(sec, b.secrets, name)) continue;
    secretName = name;
    const p = sp;
    if (!isObject(sec)) { bad(p(), 'must be an object'); continue; }
    if (typeof sec.cert !== 'string' || !sec.cert.includes('-----BEGIN')) bad(`${p()}/cert`, 'must be a PEM string');
    if (typeof sec.key !== 'string' || !sec.key.includes('-----BEGIN')) bad(`${p()}/key`, 'must be a PEM string');
  }

  const clusterNames = sameMap('clusters') ? [] : keysOf(clusters, wClusters);
  for (let i = 0; i < clusterNames.length; i++) {
    const name = clusterNames[i]!;
    const c = clusters[name];
    if (b !== undefined && shared(c, b.clusters, name)) continue;
    clusterName = name;
    const p = cp;
    if (!isObject(c)) { bad(p(), 'must be an object'); continue; }
    if (c.protocol !== undefined && !(UPSTREAM_PROTOCOLS as readonly unknown[]).includes(c.protocol)) {
      bad(`${p()}/protocol`, `must be absent (HTTP/1.1) or one of ${UPSTREAM_PROTOCOLS.map((v) => JSON.stringify(v)).join(', ')}`);
    }
    const endpoints = keyedMap(c, 'endpoints', bad, p);
    const epKeys = Object.keys(endpoints);
    for (let e = 0; e < epKeys.length; e++) {
      const key = epKeys[e]!;
      const ep = endpoints[key];
      epKey = key;
      const ep_p = epp;
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

  const ports = new Map<number, string>();
  for (const [name, l] of Object.entries(listeners)) {
    const p = `/listeners/${ptr(name)}`;
    if (!isObject(l)) { bad(p, 'must be an object'); continue; }
    if (l.protocol !== 'http' && l.protocol !== 'https' && l.protocol !== 'tcp') bad(`${p}/protocol`, 'must be "http", "https" or "tcp"');
    if (l.protocol === 'tcp') {
      validateBackends(`${p}/backends`, l.backends, hasCluster, bad);
    } else if (l.backends !== undefined) bad(`${p}/backends`, 'only a tcp listener has backends');
    if (l.proxyProtocol !== undefined && (typeof l.proxyProtocol !== 'boolean' || l.protocol === 'tcp')) bad(`${p}/proxyProtocol`, 'must be a boolean, on an http or https listener');
    if (l.trustedProxies !== undefined) {
      if (!Array.isArray(l.trustedProxies) || l.protocol === 'tcp') bad(`${p}/trustedProxies`, 'must be an array, on an http or https listener');
      else l.trustedProxies.forEach((c: unknown, i: number) => { if (typeof c !== 'string' || !isCidr(c)) bad(`${p}/trustedProxies/${i}`, 'must be an IP address or a CIDR'); });
    }
    if (!isPlainIP(l.address)) bad(`${p}/address`, 'must be an IP address without a zone');
    if (!isPort(l.port)) bad(`${p}/port`, 'must be an integer in 1..65535');
    else if (ports.has(l.port)) bad(`${p}/port`, `port ${l.port} is also used by listener ${ports.get(l.port)}`);
    else ports.set(l.port, name);
    if (l.protocol === 'https') {
      if (typeof l.defaultSecret !== 'string') bad(`${p}/defaultSecret`, 'an https listener needs a default secret');
      else if (!Object.hasOwn(secrets, l.defaultSecret)) bad(`${p}/defaultSecret`, `secret ${JSON.stringify(l.defaultSecret)} does not exist`);
    }
  }

  let hostName = '';
  let routeName = '';
  const hp = () => `/virtualHosts/${ptr(hostName)}`;
  const rp = () => `${hp()}/routes/${ptr(routeName)}`;
  function vhostProblems(host: string, vh: unknown): void {
    hostName = host;
    const p = hp;
    if (host !== '*' && !HOST_RE.test(host)) bad(p(), 'key must be a lower-case DNS name, a "*." wildcard, or "*"');
    if (!isObject(vh)) { bad(p(), 'must be an object'); return; }
    if (vh.tls !== undefined) {
      if (!isObject(vh.tls) || typeof vh.tls.secret !== 'string') bad(`${p()}/tls/secret`, 'must be a string');
      else if (!Object.hasOwn(secrets, vh.tls.secret)) bad(`${p()}/tls/secret`, `secret ${JSON.stringify(vh.tls.secret)} does not exist`);
    }
    if (vh.passthrough !== undefined) {
      if (vh.tls !== undefined) bad(`${p()}/passthrough`, 'a host is either terminated (tls) or passed through, not both');
      if (host === '*') bad(`${p()}/passthrough`, 'passthrough needs a host name to match the SNI against');
      if (!isObject(vh.passthrough)) bad(`${p()}/passthrough`, 'must be an object');
      else validateBackends(() => `${p()}/passthrough/backends`, vh.passthrough.backends, hasCluster, bad);
    }
    const routes = keyedMap(vh, 'routes', bad, p);
    const keys = Object.keys(routes);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      routeName = key;
      const m = validateRoute(rp, routes[key], hasCluster, bad);
      if (m !== undefined && key !== routeKey(m.type, m.path, m)) {
        bad(rp(), `key must be ${JSON.stringify(routeKey(m.type, m.path, m))}`);
      }
    }
  }

  // The base's own hosts map needs no look while every reference still resolves.
  const hosts = refsKept && sameMap('virtualHosts') ? [] : keysOf(vhosts, refsKept ? wHosts : undefined);
  for (let i = 0; i < hosts.length; i++) {
    const host = hosts[i]!;
    const vh = vhosts[host];
    if (refsKept && shared(vh, b!.virtualHosts, host)) continue;
    vhostProblems(host, vh);
  }

  if (s.defaultRoute !== undefined) {
    const m = validateRoute('/defaultRoute', s.defaultRoute, hasCluster, bad);
    if (m !== undefined && (m.type !== 'Prefix' || m.path !== '/' || m.headers || m.queryParams || m.method)) bad('/defaultRoute/match', 'must be {type: "Prefix", path: "/"}');
  }
  return out;
}

/**
 * `parent[field]` when it is an object without forbidden keys, else {} and a
 * problem. With `written` (changedKeys), only those keys can be new.
 */
function keyedMap(
  parent: Record<string, unknown>, field: string,
  bad: (path: string, reason: string) => void, prefix: Where = '', written?: ReadonlySet<string>,
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

/** `entry` is the frozen object `baseMap` holds under `key` (own key). */
function shared(entry: unknown, baseMap: Record<string, unknown> | undefined, key: string): boolean {
  return typeof entry === 'object' && entry !== null && isObject(baseMap) && Object.hasOwn(baseMap, key) && baseMap[key] === entry && Object.isFrozen(entry);
}

/**
 * Every own key of `baseMap` is still a key of `map`: references valid in the
 * base still resolve. With `written` (changedKeys), only those can be gone.
 */
function keysKept(map: Record<string, unknown>, baseMap: Record<string, unknown> | undefined, written?: ReadonlySet<string>): boolean {
  if (!isObject(baseMap)) return false;
  for (const key of written ?? Object.keys(baseMap)) if (Object.hasOwn(baseMap, key) && !Object.hasOwn(map, key)) return false;
  return true;
}

/**
 * The own keys of `map`, or of them only those in `written` (changedKeys: the
 * others are the base's entries). A frozen map's recorded list (mapKeys: the
 * compiler's maps have one) saves Object.keys of a 10k-key dictionary-mode map.
 */
function keysOf(map: Record<string, unknown>, written: ReadonlySet<string> | undefined): readonly string[] {
  if (written === undefined) return mapKeys(map);
  const out: string[] = [];
  for (const key of written) if (Object.hasOwn(map, key)) out.push(key);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An IPv4 or IPv6 address without a zone ("fe80::1%eth0"): node:net accepts
 * zones, undici's URL parser and the Kubernetes API do not.
 */
export function isPlainIP(v: unknown): v is string {
  return typeof v === 'string' && isIP(v) !== 0 && !v.includes('%');
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** Escapes a key as a JSON pointer segment (RFC 6901). */
export function ptr(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A weighted split (tcp listener, passthrough host): an array of {cluster?, weight}. */
function validateBackends(p: Where, backends: unknown, hasCluster: (key: string) => boolean, bad: (path: string, reason: string) => void): void {
  if (!Array.isArray(backends)) { bad(at(p), 'must be an array'); return; }
  backends.forEach((b: unknown, i: number) => {
    const bp = `${at(p)}/${i}`;
    if (!isObject(b)) { bad(bp, 'must be an object'); return; }
    if (b.cluster !== undefined && (typeof b.cluster !== 'string' || !hasCluster(b.cluster))) bad(`${bp}/cluster`, 'must name a cluster of the snapshot');
    if (typeof b.weight !== 'number' || !Number.isInteger(b.weight) || b.weight < 0) bad(`${bp}/weight`, 'must be a non-negative integer');
  });
}

/** Whether `cidr` is an IPv4 or IPv6 address, or one with a prefix length in range ("10.0.0.0/8", "fd00::/8"). */
export function isCidr(cidr: string): boolean {
  const [addr, bits, extra] = cidr.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}
