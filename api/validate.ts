// Runtime validation of a snapshot. The controller runs it before publishing (a
// compiler bug must not reach any proxy) and the proxy runs it before applying
// (a snapshot arrives as untrusted JSON). Errors name the JSON path and the reason.
import { isIP } from 'node:net';
import type { Snapshot } from './snapshot.ts';
import { changedKeys, isFrozenMap } from './snapshot.ts';
import type { SnapshotProblem } from './validate-entry.ts';
import { EntryChecks, isObject, isPlainIP, isPort, keyedMap, keysOf, ptr, validateBackends } from './validate-entry.ts';
import { validateRoute } from './validate-route.ts';

export type { SnapshotProblem } from './validate-entry.ts';
export { EntryChecks, isPlainIP, ptr } from './validate-entry.ts';

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
export function assertValidSnapshot(value: unknown, base?: Snapshot, checked?: EntryChecks): asserts value is Snapshot {
  // Checked before and frozen since (the compiler's result, published next): nothing can have changed.
  if (typeof value === 'object' && value !== null && validated.has(value) && Object.isFrozen(value)) return;
  // The entries `checked` saw (the seal's walk) are not checked again; on any
  // problem the whole snapshot is, so that the error is exactly validateSnapshot's.
  let problems = checked?.found === true ? [] : validateSnapshot(value, base, checked);
  if (checked !== undefined && (checked.found || problems.length > 0)) problems = validateSnapshot(value, base);
  if (problems.length > 0) throw new SnapshotValidationError(problems);
  if (typeof value === 'object' && value !== null && Object.isFrozen(value)) validated.add(value);
}

// Snapshots that passed assertValidSnapshot while frozen: the only bases whose
// entries are trusted without a new check. Frozen, because an entry is reused
// by identity and must not have changed since it was checked (deepFreeze
// freezes children first, so a frozen entry is frozen all the way down).
const validated = new WeakSet<object>();

const VERSION_RE = /^[0-9a-f]{8,64}$/;

/**
 * Lists every problem found; an empty list means valid. `base`: a snapshot
 * that passed assertValidSnapshot while frozen (anything else is ignored).
 * A secret, cluster or virtual host of `value` that is the very (frozen)
 * object `base` has under the same key was valid there and is skipped; a
 * virtual host only while every secret and cluster key of `base` still
 * exists, since its references must resolve. Listeners, few, are always
 * checked (their ports are compared with each other). `checked`: checks the
 * compiler's seal ran on every cluster and virtual host of `value` as it froze
 * them (EntryChecks.visit); when they cover these very maps, those entries are
 * not checked again (any other snapshot is checked in full).
 */
export function validateSnapshot(value: unknown, base?: Snapshot, checked?: EntryChecks): SnapshotProblem[] {
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
  const entries = new EntryChecks(secrets, clusters, bad);
  const seen = b === undefined && checked !== undefined && checked.covers(secrets, clusters, vhosts);
  // Paths are built only when a problem is reported: the function reads the
  // key being checked, so the happy path allocates nothing per entry.
  let secretName = '';
  const sp = () => `/secrets/${ptr(secretName)}`;
  for (const name of sameMap('secrets') ? [] : keysOf(secrets, wSecrets)) {
    const sec = secrets[name];
    if (b !== undefined && shared(sec, b.secrets, name)) continue;
    secretName = name;
    const p = sp;
    if (!isObject(sec)) { bad(p(), 'must be an object'); continue; }
    if (typeof sec.cert !== 'string' || !sec.cert.includes('-----BEGIN')) bad(`${p()}/cert`, 'must be a PEM string');
    if (typeof sec.key !== 'string' || !sec.key.includes('-----BEGIN')) bad(`${p()}/key`, 'must be a PEM string');
  }

  const clusterNames = sameMap('clusters') || seen ? [] : keysOf(clusters, wClusters);
  for (let i = 0; i < clusterNames.length; i++) {
    const name = clusterNames[i]!;
    const c = clusters[name];
    if (b !== undefined && shared(c, b.clusters, name)) continue;
    entries.cluster(name, c);
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

  // The base's own hosts map needs no look while every reference still resolves.
  const hosts = (refsKept && sameMap('virtualHosts')) || seen ? [] : keysOf(vhosts, refsKept ? wHosts : undefined);
  for (let i = 0; i < hosts.length; i++) {
    const host = hosts[i]!;
    const vh = vhosts[host];
    if (refsKept && shared(vh, b!.virtualHosts, host)) continue;
    entries.host(host, vh);
  }

  if (s.defaultRoute !== undefined) {
    const m = validateRoute('/defaultRoute', s.defaultRoute, hasCluster, bad);
    if (m !== undefined && (m.type !== 'Prefix' || m.path !== '/' || m.headers || m.queryParams || m.method)) bad('/defaultRoute/match', 'must be {type: "Prefix", path: "/"}');
  }
  return out;
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
