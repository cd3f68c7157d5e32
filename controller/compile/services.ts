// Backends: an Ingress backend (Service + port) becomes a cluster key, and the
// cluster's endpoints come from the Service's EndpointSlices. Resolution is
// memoized per build by Service and port, so 10k routes to one Service cost one lookup.
import { isIP } from 'node:net';
import type { Cluster, ClusterKey, Endpoint, UpstreamProtocol } from '../../api/snapshot.ts';
import { endpointKey } from '../../api/snapshot.ts';
import type { EndpointSlice, IngressBackend, Service, ServicePort } from '../k8s/types.ts';
import { SERVICE_NAME_LABEL } from '../k8s/types.ts';
import type { Problem } from './conditions.ts';
import { quote } from './conditions.ts';
import { keyedMap } from './maps.ts';

/**
 * The cluster key of a backend: "namespace/service:port", with the port as the
 * Ingress writes it (number or name). Two Ingresses naming the same Service port
 * once by number and once by name get two clusters with the same endpoints;
 * that keeps the key computable from the Ingress alone.
 */
export function clusterKey(namespace: string, service: string, port: number | string): ClusterKey {
  return `${namespace}/${service}:${port}`;
}

/** What a backend resolved to: a cluster key when usable, and the problems met on the way. */
export interface Resolution {
  readonly cluster?: ClusterKey;
  readonly problems: readonly Problem[];
}

/** An earlier build's resolution of one Service port, with the slices it read. */
interface Earlier {
  readonly port: number | string;
  readonly externalNames: boolean;
  readonly slices: readonly EndpointSlice[];
  readonly res: Resolution;
  readonly cluster: Cluster | undefined;
}

// Resolutions across builds are kept on the index's own Backing objects (see
// Backing.earlier), not in a WeakMap keyed by Service: 10k WeakMap entries
// per full compile measured ~20 ms of it (the ephemeron table and its GC).
// An index made for a build after `previous` takes a Backing's list over from
// the index that built `previous` when the Service is the very same object.
// Only the latest build's Services are kept (an index per snapshot of a
// history of 16 kept ~100 MB at 10k): a build after an older snapshot
// resolves everything again, which is correct, only slower.
let latest: { readonly snapshot: WeakRef<object>; readonly services: ResolvedServices; readonly input: IndexedInput } | undefined;

/** The object lists an index was built from: what a later build diffs its own against. */
export interface IndexedInput {
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
}

/**
 * What a build after another one takes over from it: the earlier index's
 * Services and slices by namespace and name, with their resolutions
 * (Backing.earlier). Not the index itself, whose per-build maps are garbage
 * once its snapshot is sealed.
 */
export type ResolvedServices = ReadonlyMap<string, Names>;

/** One namespace's Services by name: a Map, or a NamesOver (afterSliceChange). */
export interface Names {
  get(name: string): Backing | undefined;
}

/**
 * A namespace's Services with a few replaced, over a Map shared with the
 * indexes before: an endpoint change at 10k Services copies the replaced
 * few (flattened into a new Map once they are many), not 10k entries.
 */
class NamesOver implements Names {
  readonly base: ReadonlyMap<string, Backing>;
  readonly changed: ReadonlyMap<string, Backing>;
  constructor(base: ReadonlyMap<string, Backing>, changed: ReadonlyMap<string, Backing>) {
    this.base = base;
    this.changed = changed;
  }

  get(name: string): Backing | undefined {
    return this.changed.get(name) ?? this.base.get(name);
  }
}

/** Replaced Services a NamesOver holds before they are copied into a new Map (one copy per this many). */
const FLATTEN_AT = 256;

/** `names` with `replaced` put in: a NamesOver over the same base, or a new Map when the replaced are many. */
function replacing(names: Names, replaced: ReadonlyMap<string, Backing>): Names {
  const base = names instanceof NamesOver ? names.base : names as ReadonlyMap<string, Backing>;
  const changed = new Map(names instanceof NamesOver ? names.changed : undefined);
  for (const [name, b] of replaced) changed.set(name, b);
  if (changed.size < FLATTEN_AT) return new NamesOver(base, changed);
  const flat = new Map(base);
  for (const [name, b] of changed) flat.set(name, b);
  return flat;
}

/**
 * Records `index` as the one whose resolutions built `snapshot`, so that a
 * build after it (compile with `previous`, the endpoint fast path) reuses
 * them: the cache hands out the same frozen objects until they change, so at
 * 10k Services a one-Ingress change resolves none of them again.
 */
export function rememberIndex(snapshot: object, index: ServiceIndex): void {
  latest = { snapshot: new WeakRef(snapshot), services: index.resolved(), input: index.input };
}

/** What rememberIndex recorded for `snapshot`, if it was the latest snapshot recorded. */
export function resolvedFor(snapshot: object | undefined): ResolvedServices | undefined {
  return indexedFor(snapshot)?.services;
}

/** resolvedFor, with the Services and slices the index was built from (the endpoint path diffs against them). */
export function indexedFor(snapshot: object | undefined): { readonly services: ResolvedServices; readonly input: IndexedInput } | undefined {
  return snapshot !== undefined && latest !== undefined && latest.snapshot.deref() === snapshot ? latest : undefined;
}

// Resolutions computed (not taken from a memo) since start: tests and benchmarks.
let fresh = 0;

/** How many Service ports were resolved from their objects so far, memo hits not counted (tests, benchmarks). */
export function freshResolutions(): number {
  return fresh;
}

const NO_SLICES: readonly EndpointSlice[] = Object.freeze([]);
// Numbers ServiceIndex builds, for Backing.memo.
let builds = 0;
const NO_ENDPOINTS: Readonly<NonNullable<EndpointSlice['endpoints']>> = Object.freeze([]);
const NO_ADDRESSES: readonly string[] = Object.freeze([]);
const NO_PROBLEMS: readonly Problem[] = Object.freeze([]);
const SCRATCH_KEYS: string[] = [];
const SCRATCH_ENDPOINTS: Endpoint[] = [];

/** Objects that cannot change under an identity-keyed memo. */
function frozenInputs(service: Service, slices: readonly EndpointSlice[]): boolean {
  if (!Object.isFrozen(service)) return false;
  for (let i = 0; i < slices.length; i++) if (!Object.isFrozen(slices[i]!)) return false;
  return true;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One Service with its EndpointSlices (sorted by name), as indexed. */
export interface Backing {
  readonly service: Service;
  /** NO_SLICES until the first slice: most Services have one, an empty array would grow to 17 slots. */
  slices: readonly EndpointSlice[];
  /**
   * The resolutions by port of the build numbered `memoBuild` (ServiceIndex's
   * own number): kept here, not in a per-build Map keyed by Backing, which
   * cost a 10k-entry Map and two lookups per resolved backend.
   */
  memo: PortResolution[] | undefined;
  memoBuild: number;
  /**
   * Resolutions of this Service by earlier builds (this index's, those of
   * indexes sharing it via forBuild, or taken over from the previous index),
   * one per port and flag; replaced, never changed in place, so a list can be
   * shared between indexes.
   */
  earlier: readonly Earlier[] | undefined;
}

/** This build's resolutions of one Service, by port as the backend wrote it. */
interface PortResolution {
  readonly port: number | string;
  readonly res: Resolution;
}

/**
 * The same port for the cluster key: 80 and "80" make the same key (a port
 * name has a letter, but shapes are not guaranteed), so they share a resolution.
 */
function samePort(a: number | string, b: number | string): boolean {
  return a === b || String(a) === String(b);
}

/**
 * The Services and EndpointSlices of one build, indexed, plus the clusters
 * resolved so far. Only clusters some winning route or the default backend
 * resolved end up in the snapshot.
 */
export class ServiceIndex {
  // namespace → name → Service and slices: looked up with the strings the
  // objects hold, where one "namespace/name" map needed a new string per
  // lookup (built, flattened and hashed: at 10k Services most of a resolution).
  readonly #index: ResolvedServices;
  /** The Services and slices indexed (for an index made by forBuild or afterSliceChange, its source's or the new lists). */
  readonly input: IndexedInput;
  // This build's number for Backing.memo (indexes made by forBuild share Backings).
  readonly #build = ++builds;
  readonly #clusters = new Map<ClusterKey, Cluster>();

  readonly #externalNames: boolean;

  /**
   * `externalNames`: serve ExternalName Services (CompileOptions.externalNames).
   * `previous`: what the previous build resolved (resolvedFor), reused for
   * the very same Services.
   * `shareFrom`: forBuild() and afterSliceChange() only; the lookup maps to
   * use as they are (`services` and `slices` are then what they index, not read).
   */
  constructor(services: readonly Service[], slices: readonly EndpointSlice[], externalNames = false, previous?: ResolvedServices, shareFrom?: ResolvedServices) {
    this.#externalNames = externalNames;
    this.input = { services, endpointSlices: slices };
    if (shareFrom !== undefined) {
      this.#index = shareFrom;
      return;
    }
    const index = new Map<string, Map<string, Backing>>();
    this.#index = index;
    for (let i = 0; i < services.length; i++) {
      const s = services[i]!;
      const ns = s.metadata.namespace ?? 'default';
      let names = index.get(ns);
      if (names === undefined) index.set(ns, names = new Map());
      // The previous index's resolutions of this very Service (its entries check the slices).
      const was = previous?.get(ns)?.get(s.metadata.name);
      names.set(s.metadata.name, { service: s, slices: NO_SLICES, earlier: was !== undefined && was.service === s ? was.earlier : undefined, memo: undefined, memoBuild: 0 });
    }
    // A slice of a Service that does not exist is never read: not kept.
    const sorted: EndpointSlice[][] = [];
    for (let i = 0; i < slices.length; i++) {
      const sl = slices[i]!;
      const svc = sl.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc === undefined) continue;
      const backing = this.#index.get(sl.metadata.namespace ?? 'default')?.get(svc);
      if (backing === undefined) continue;
      if (backing.slices === NO_SLICES) { backing.slices = [sl]; continue; }
      const list = backing.slices as EndpointSlice[];
      list.push(sl);
      if (list.length === 2) sorted.push(list);
    }
    for (const list of sorted) list.sort(byName);
  }

  /**
   * The index of `slices`, a list that differs from the one `before` indexed
   * (indexedFor) by `added` and `removed` only (by identity), over the same
   * Services: each Service those slices belong to gets a new Backing (its
   * earlier resolutions kept: each names the slices it read, so a stale one
   * cannot match), put over its namespace's lookup (NamesOver); everything
   * else is shared. With the Services touched, as [namespace, name].
   * Undefined when a removed slice is not where `before` has it: the lists
   * do not describe one change, and only a full index is right.
   */
  static afterSliceChange(
    before: { readonly services: ResolvedServices; readonly input: IndexedInput }, externalNames: boolean,
    slices: readonly EndpointSlice[], added: readonly EndpointSlice[], removed: readonly EndpointSlice[],
  ): { index: ServiceIndex; touched: ReadonlyArray<readonly [string, string]> } | undefined {
    // Per namespace touched, its replaced Services by name.
    const replaced = new Map<string, Map<string, Backing>>();
    const lists = new Map<Backing, EndpointSlice[]>();
    const touched: Array<readonly [string, string]> = [];
    // The new Backing of the Service a slice belongs to; undefined when no Service is there.
    const backingOf = (sl: EndpointSlice): Backing | undefined => {
      const name = sl.metadata.labels?.[SERVICE_NAME_LABEL];
      const ns = sl.metadata.namespace ?? 'default';
      const was = name === undefined ? undefined : before.services.get(ns)?.get(name);
      if (was === undefined) return undefined;
      let inNs = replaced.get(ns);
      if (inNs === undefined) replaced.set(ns, inNs = new Map());
      let b = inNs.get(name!);
      if (b === undefined) {
        b = { service: was.service, slices: was.slices, earlier: was.earlier, memo: undefined, memoBuild: 0 };
        inNs.set(name!, b);
        lists.set(b, [...was.slices]);
        touched.push([ns, name!]);
      }
      return b;
    };
    for (const sl of removed) {
      const b = backingOf(sl);
      if (b === undefined) continue;
      const list = lists.get(b)!;
      const at = list.indexOf(sl);
      if (at < 0) return undefined;
      list.splice(at, 1);
    }
    for (const sl of added) {
      const b = backingOf(sl);
      if (b !== undefined) lists.get(b)!.push(sl);
    }
    for (const [b, list] of lists) b.slices = list.length === 0 ? NO_SLICES : list.sort(byName);
    const next = new Map(before.services);
    for (const [ns, inNs] of replaced) next.set(ns, replacing(before.services.get(ns)!, inNs));
    return { index: new ServiceIndex(before.input.services, slices, externalNames, undefined, next), touched };
  }

  /**
   * Resolves a backend of an object in `namespace`. A backend that cannot be
   * resolved yields no cluster (its route answers 503) and a problem; a Service
   * with no ready endpoints yields a cluster with no endpoints (also 503, but
   * no problem: scaling to zero is not a mistake in the Ingress, and a
   * condition flapping with every rollout would only churn status writes).
   */
  resolve(namespace: string, backend: IngressBackend | undefined): Resolution {
    if (backend?.resource !== undefined) {
      const r = backend.resource;
      return fail('UnsupportedBackend', `backend ${quote(`${r.kind}/${r.name}`)} is a resource backend, which is not supported`);
    }
    const svc = backend?.service;
    if (!svc || !svc.name) return fail('InvalidBackend', 'a backend names no Service');
    const port = svc.port?.number ?? (svc.port?.name || undefined);
    if (port === undefined) return fail('InvalidBackend', `backend Service ${quote(svc.name)} names no port number or port name`);
    const backing = this.#index.get(namespace)?.get(svc.name);
    if (backing === undefined) return fail('ServiceNotFound', `Service ${namespace}/${svc.name} not found`);
    const memo = backing.memoBuild === this.#build ? backing.memo : undefined;
    if (memo !== undefined) {
      for (let i = 0; i < memo.length; i++) if (samePort(memo[i]!.port, port)) return memo[i]!.res;
    }
    // The cluster key is built once per Service port and build, not per backend.
    const res = this.#resolveBacking(clusterKey(namespace, svc.name, port), namespace, svc.name, port, backing);
    // A list of one for the usual one port (an empty list grows to 17 slots on its first push).
    if (memo !== undefined) memo.push({ port, res });
    else {
      backing.memo = [{ port, res }];
      backing.memoBuild = this.#build;
    }
    return res;
  }

  /**
   * An index for another build over the very same Services and slices: the
   * lookup maps are shared (never changed after construction), what a build
   * resolves is not. Saves indexing 10k Services and slices per build.
   */
  forBuild(): ServiceIndex {
    return new ServiceIndex(this.input.services, this.input.endpointSlices, this.#externalNames, undefined, this.#index);
  }

  /** This index's Services with their resolutions, for rememberIndex. */
  resolved(): ResolvedServices {
    return this.#index;
  }

  /** The clusters resolved in this build, keyed by cluster key. */
  clusters(): ReadonlyMap<ClusterKey, Cluster> {
    return this.#clusters;
  }

  #resolveBacking(key: ClusterKey, namespace: string, name: string, port: number | string, backing: Backing): Resolution {
    const service = backing.service;
    // The same (frozen) Service and slices as in an earlier build: the same
    // resolution and the very same cluster object, which the snapshot then
    // shares with the previous one without comparing it (reuse.ts, version.ts).
    const slices = backing.slices;
    const frozen = frozenInputs(service, slices);
    const memo = frozen ? backing.earlier : undefined;
    if (memo !== undefined) {
      for (const m of memo) {
        if (m.port !== port || m.externalNames !== this.#externalNames || !sameList(m.slices, slices)) continue;
        if (m.cluster !== undefined) this.#clusters.set(key, m.cluster);
        return m.res;
      }
    }
    const res = this.#resolveFresh(key, namespace, name, service, port, slices);
    fresh++;
    if (frozen) {
      const entry: Earlier = { port, externalNames: this.#externalNames, slices, res, cluster: this.#clusters.get(key) };
      // One entry per port and flag; a changed slice list replaces its entry.
      backing.earlier = memo === undefined ? [entry] : [...memo.filter((m) => m.port !== port || m.externalNames !== this.#externalNames), entry];
    }
    return res;
  }

  #resolveFresh(key: ClusterKey, namespace: string, name: string, service: Service, port: number | string, list: readonly EndpointSlice[]): Resolution {
    // "namespace/name" for messages only: built when there is one to write.
    const id = () => `${namespace}/${name}`;
    const sp = servicePort(service.spec?.ports, port);
    if (service.spec?.type === 'ExternalName') return this.#externalName(key, id(), service, port, sp);
    if (!sp) return fail('PortNotFound', `Service ${id()} has no port ${quote(port)}`);

    let problems: Problem[] | undefined;
    // Keys and endpoints side by side, in arrays reused by every resolution
    // (keyedMap copies what it keeps); sorted and de-duplicated at the end.
    const keys = SCRATCH_KEYS;
    const found = SCRATCH_ENDPOINTS;
    keys.length = 0;
    found.length = 0;
    // Index loops: no iterator objects for 10k Services × slices × endpoints.
    for (let s = 0; s < list.length; s++) {
      const slice = list[s]!;
      if (slice.addressType === 'FQDN') {
        (problems ??= []).push({ kind: 'ref', reason: 'UnsupportedAddressType', message: `EndpointSlice ${namespace}/${slice.metadata.name} of Service ${id()} has addressType FQDN, which is skipped` });
        continue;
      }
      const target = slicePort(slice, sp);
      if (target === undefined) continue;
      const family = slice.addressType === 'IPv6' ? 6 : 4;
      const eps = slice.endpoints ?? NO_ENDPOINTS;
      for (let e = 0; e < eps.length; e++) {
        const ep = eps[e]!;
        // Absent `ready` means ready (discovery.k8s.io/v1 says consumers should treat unknown as ready).
        if (ep.conditions?.ready === false) continue;
        const addresses = ep.addresses ?? NO_ADDRESSES;
        for (let a = 0; a < addresses.length; a++) {
          const address = addresses[a]!;
          // The API server validates this; hand-written slices may not.
          // isPlainIP without a second isIP: a zone ("%eth0") is all it adds.
          if (isIP(address) !== family || address.includes('%')) continue;
          keys.push(endpointKey(address, target));
          found.push({ address, port: target });
        }
      }
    }
    const endpoints = keyedMap(keys, found);
    keys.length = 0;
    found.length = 0;
    const protocol = upstreamProtocol(sp.appProtocol);
    this.#clusters.set(key, protocol === undefined ? { endpoints } : { endpoints, protocol });
    return { cluster: key, problems: problems ?? NO_PROBLEMS };
  }

  /**
   * An ExternalName Service: a DNS-named cluster the proxy resolves itself.
   * The port is the Service port's `port` when the backend names one the
   * Service lists, else the backend's port number as written (ExternalName
   * Services often list no ports); a port name the Service does not list is
   * PortNotFound.
   */
  #externalName(key: ClusterKey, id: string, service: Service, port: number | string, sp: ServicePort | undefined): Resolution {
    if (!this.#externalNames) {
      return fail('UnsupportedServiceType', `Service ${id} is of type ExternalName, which is served only with --enable-external-name (its name could point the proxy at its own loopback)`);
    }
    const name = (service.spec?.externalName ?? '').toLowerCase();
    if (!EXTERNAL_NAME_RE.test(name)) return fail('InvalidExternalName', `Service ${id} has externalName ${quote(service.spec?.externalName ?? '')}, which is not a DNS name`);
    const p = sp?.port ?? (typeof port === 'number' ? port : undefined);
    if (p === undefined || !isPort(p)) return fail('PortNotFound', `Service ${id} has no port ${quote(port)}`);
    this.#clusters.set(key, { dns: { name: name.replace(/\.$/, ''), port: p }, endpoints: {} });
    return { cluster: key, problems: [] };
  }
}

/** A DNS name as an ExternalName may hold (RFC 1123 labels, optional trailing dot). */
const EXTERNAL_NAME_RE = /^(?=.{1,253}\.?$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/;

/**
 * The upstream protocol a Service port's `appProtocol` asks for (the values
 * Kubernetes defines, and `https`, the IANA name Contour and Gateway API
 * implementations read as TLS): `kubernetes.io/h2c` → 'h2c';
 * `https` and `kubernetes.io/wss` → 'tls' (websocket handshakes then go over
 * TLS too); anything else, `kubernetes.io/ws` and no appProtocol included, is
 * HTTP/1.1 in clear text (undefined), as before appProtocol was read. An
 * unknown value is not a condition: appProtocol is free-form and other
 * consumers (service meshes) define their own values.
 */
export function upstreamProtocol(appProtocol: string | undefined): UpstreamProtocol | undefined {
  switch (appProtocol) {
    case 'kubernetes.io/h2c': return 'h2c';
    case 'https':
    case 'kubernetes.io/wss': return 'tls';
    default: return undefined;
  }
}

/**
 * The endpoint port of a slice for a Service port: the slice's port entry with
 * the same name (an unnamed Service port matches an entry with an empty or absent
 * name). If the slice has no such entry (hand-written slices often have no
 * `ports` at all) and the Service port's targetPort is a number (absent means
 * the same as `port`), that number is used; a named targetPort cannot be
 * resolved without the Pods, so the slice is skipped.
 */
export function slicePort(slice: EndpointSlice, sp: ServicePort): number | undefined {
  const name = sp.name ?? '';
  // An index loop, not find() with a closure: this runs for every slice of 10k Services.
  const ports = slice.ports;
  let entry: NonNullable<EndpointSlice['ports']>[number] | undefined;
  if (ports !== undefined) for (let i = 0; i < ports.length && entry === undefined; i++) if ((ports[i]!.name ?? '') === name) entry = ports[i];
  if (entry?.port !== undefined) return isPort(entry.port) ? entry.port : undefined;
  const target = sp.targetPort ?? sp.port;
  return typeof target === 'number' && isPort(target) ? target : undefined;
}

/** The Service port a backend names, by number or by name (the first that matches). */
function servicePort(ports: readonly ServicePort[] | undefined, port: number | string): ServicePort | undefined {
  if (ports === undefined) return undefined;
  for (let i = 0; i < ports.length; i++) if (typeof port === 'number' ? ports[i]!.port === port : ports[i]!.name === port) return ports[i];
  return undefined;
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function fail(reason: Problem['reason'], message: string): Resolution {
  return { problems: [{ kind: 'ref', reason, message }] };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A Service's slices in the order the index keeps them. */
function byName(a: EndpointSlice, b: EndpointSlice): number {
  return cmp(a.metadata.name, b.metadata.name);
}
