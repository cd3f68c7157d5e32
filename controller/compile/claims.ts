// What the processors of one build claim: routes per virtual host and TLS per
// host. Ingresses and Routes share one set of claims, so an Ingress and a
// Route for the same host merge into one virtual host, and the builder feeding
// objects oldest first makes "the older object wins a conflict" fall out of a
// single pass: whoever claims something first keeps it.
import type { Route, SecretKey, TlsSecret, VirtualHost, WeightedBackend } from '../../api/snapshot.ts';
import { ANY_HOST, DEFAULT_SECRET, noteMapKeys } from '../../api/snapshot.ts';
import type { ObjectStatus } from './conditions.ts';
import { dictionary } from './maps.ts';
import type { SecretIndex } from './secrets.ts';

/** The object a claim belongs to. */
export interface Owner {
  readonly kind: 'Ingress' | 'Route';
  /** "namespace/name". */
  readonly id: string;
}

/** One claimed route and the object it belongs to. */
export interface RouteClaim { readonly owner: Owner; readonly route: Route }
interface TlsClaim { readonly owner: Owner; readonly choice: TlsChoice }

/** The claims' contribution to the snapshot. Maps are sorted by key. */
export interface ClaimsOutput {
  readonly virtualHosts: Record<string, VirtualHost>;
  readonly secrets: Record<SecretKey, TlsSecret>;
}

/** Accumulates the claims of every accepted object of one build. */
export class Claims {
  readonly #routes = new Map<string, HostRoutes>();
  readonly #tls = new Map<string, TlsClaim>();
  readonly #usedSecrets = new Map<SecretKey, TlsSecret>();
  readonly #ranks = new Map<string, number>();

  /** Who already claims route `key` on `host`, if anyone. */
  routeOwner(host: string, key: string): Owner | undefined {
    return this.#routes.get(host)?.get(key)?.owner;
  }

  /**
   * The route claims on `host` by route key, made empty on first use: a caller
   * that checks and then claims looks the host up once. A claim is only ever
   * added after `get` found none (a second claim is a bug). A host left
   * without claims is dropped by output().
   */
  routesOf(host: string): HostRoutes {
    let routes = this.#routes.get(host);
    if (routes === undefined) this.#routes.set(host, routes = new HostRoutes());
    return routes;
  }

  /** Claims route `key` on `host`; check routeOwner first (a second claim is a bug). */
  addRoute(host: string, key: string, owner: Owner, route: Route): void {
    const routes = this.routesOf(host);
    if (routes.get(key) !== undefined) throw new Error(`route ${key} on ${host} is claimed twice`);
    routes.add(key, { owner, route });
  }

  /**
   * The next rank on `host`: 0, 1, 2... in claim order, which is oldest object
   * first, then rule and match order within an object. Dense per virtual host,
   * so a new object only re-ranks the newer routes of the hosts it touches.
   */
  nextRank(host: string): number {
    const r = this.#ranks.get(host) ?? 0;
    this.#ranks.set(host, r + 1);
    return r;
  }

  /** The TLS claim on `host`, if any: its owner and what it serves. */
  tlsClaim(host: string): { readonly owner: Owner; readonly choice: TlsChoice } | undefined {
    return this.#tls.get(host);
  }

  /**
   * Claims TLS for `host`: terminated with `choice.secret` (its material is
   * added to the snapshot's secrets), or passed through to `choice.passthrough`.
   */
  addTls(host: string, owner: Owner, choice: TlsChoice): void {
    if (this.#tls.has(host)) throw new Error(`TLS for ${host} is claimed twice`);
    this.#tls.set(host, { owner, choice });
    if (choice.material !== undefined) this.#usedSecrets.set(choice.secret, choice.material);
  }

  /**
   * The accumulated virtual hosts (routes and TLS) and used Secrets. A host
   * whose routes are the very objects `previous` has for it (processors reuse
   * unchanged routes), in the same order, with the same TLS secret, is
   * `previous`'s object itself: at 10k hosts a one-host change allocates one.
   */
  output(previous?: Readonly<Record<string, VirtualHost>>): ClaimsOutput {
    const hosts = [...this.#routes.keys()];
    for (const h of this.#tls.keys()) if (!this.#routes.has(h)) hosts.push(h);
    hosts.sort();
    const virtualHosts = dictionary<VirtualHost>();
    // The keys of virtualHosts, sorted (noteMapKeys below); `hosts` itself when none is dropped.
    let kept: string[] | undefined;
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i]!;
      const claims = this.#routes.get(h);
      const keys = claims === undefined ? NO_KEYS : sortedKeys(claims, SCRATCH_KEYS);
      const tls = this.#tls.get(h);
      // A rule whose every path was invalid or lost leaves an empty host behind: drop it.
      if (tls === undefined && keys.length === 0) { kept ??= hosts.slice(0, i); continue; }
      kept?.push(h);
      const pass = tls?.choice.passthrough;
      const before = previous !== undefined && Object.hasOwn(previous, h) ? previous[h] : undefined;
      if (before !== undefined && pass === undefined && Object.keys(before).length === (tls === undefined ? 1 : 2)
        && before.tls?.secret === tls?.choice.secret && sameRoutes(before.routes, keys, claims)) {
        virtualHosts[h] = before;
        continue;
      }
      const routes: Record<string, Route> = {};
      for (let j = 0; j < keys.length; j++) routes[keys[j]!] = claims!.get(keys[j]!)!.route;
      virtualHosts[h] = tls === undefined ? { routes }
        : pass !== undefined ? { passthrough: { backends: pass }, routes } : { routes, tls: { secret: tls.choice.secret } };
    }
    SCRATCH_KEYS.length = 0;
    // Sealing and validation then need no Object.keys of the 10k-key map (api/snapshot.ts mapKeys).
    noteMapKeys(virtualHosts, kept ?? hosts);
    const secrets: Record<SecretKey, TlsSecret> = {};
    for (const k of [...this.#usedSecrets.keys()].sort()) secrets[k] = this.#usedSecrets.get(k)!;
    return { virtualHosts, secrets };
  }
}

const NO_KEYS: readonly string[] = Object.freeze([]);
// Reused by output() for every host (read before the next host's keys are
// written): a list per host grew to 17 slots for its two routes, 10k times.
const SCRATCH_KEYS: string[] = [];

/**
 * One host's route claims by route key, in claim order. A host has a few
 * routes: the first two are kept in fields, a Map holds any others (a Map
 * per host was 10k Maps and their tables per full compile, and a lookup
 * hashed the key where comparing it with one or two keys is enough).
 */
export class HostRoutes {
  #k0: string | undefined;
  #c0: RouteClaim | undefined;
  #k1: string | undefined;
  #c1: RouteClaim | undefined;
  #more: Map<string, RouteClaim> | undefined;

  /** The claim on route `key`, if any. */
  get(key: string): RouteClaim | undefined {
    if (this.#k0 === key) return this.#c0;
    if (this.#k1 === key) return this.#c1;
    return this.#more?.get(key);
  }

  /** Claims route `key`, which has no claim yet (get() first). */
  add(key: string, claim: RouteClaim): void {
    if (this.#k0 === undefined) { this.#k0 = key; this.#c0 = claim; }
    else if (this.#k1 === undefined) { this.#k1 = key; this.#c1 = claim; }
    else (this.#more ??= new Map()).set(key, claim);
  }

  /** Appends the claimed keys to `out`, in claim order. */
  keysInto(out: string[]): void {
    if (this.#k0 !== undefined) out.push(this.#k0);
    if (this.#k1 !== undefined) out.push(this.#k1);
    if (this.#more !== undefined) for (const k of this.#more.keys()) out.push(k);
  }
}

/**
 * The keys of `m`, sorted, written into `out` (emptied first). A host has a
 * few routes: an insertion sort in place costs no allocation, where
 * Array.prototype.sort's work arrays made megabytes of garbage per 10k hosts.
 */
function sortedKeys(m: HostRoutes, out: string[]): string[] {
  out.length = 0;
  m.keysInto(out);
  if (out.length > 16) return out.sort();
  for (let i = 1; i < out.length; i++) {
    const k = out[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]! > k) { out[j + 1] = out[j]!; j--; }
    out[j + 1] = k;
  }
  return out;
}

/** `routes` has exactly `keys`, in that order, each the very route claimed. */
function sameRoutes(routes: Readonly<Record<string, Route>>, keys: readonly string[], claims: HostRoutes | undefined): boolean {
  const have = Object.keys(routes);
  if (have.length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) {
    if (have[i] !== keys[i] || routes[keys[i]!] !== claims!.get(keys[i]!)!.route) return false;
  }
  return true;
}

/** "Ingress default/a", or "an earlier rule of this Route" when `prior` is `self`. */
export function ownerLabel(prior: Owner, self: Owner, earlier: string): string {
  return prior.kind === self.kind && prior.id === self.id ? `${earlier} of this ${self.kind}` : `${prior.kind} ${prior.id}`;
}

/** "host foo.com", or "any host". */
export function hostLabel(host: string): string {
  return host === ANY_HOST ? 'any host' : `host ${host}`;
}

/** What a TLS claim serves: the Secret asked for, the one served and its material when usable; or passthrough. */
export interface TlsChoice {
  /**
   * Compared between claims (equal is agreement): "namespace/name" as
   * written, "" when no Secret was named, "passthrough to <Route>" otherwise.
   */
  readonly requested: string;
  /** Served when terminating; unused with `passthrough`. */
  readonly secret: SecretKey;
  readonly material?: TlsSecret;
  /** Set for TLS passthrough: the split connections are spliced to, undecrypted. */
  readonly passthrough?: readonly WeightedBackend[];
}

/**
 * Claims TLS for one (validated) host. A host already claimed with the same
 * requested Secret is agreement, not a conflict; with another one, the older
 * claim stays and `status` gets a TLSConflict naming it. True when the object
 * serves the host's TLS (its own claim or an agreeing one).
 */
export function claimTlsHost(claims: Claims, owner: Owner, host: string, choice: TlsChoice, status: ObjectStatus): boolean {
  const prior = claims.tlsClaim(host);
  if (prior === undefined) {
    claims.addTls(host, owner, choice);
    return true;
  }
  if (prior.choice.requested === choice.requested) return true;
  const by = ownerLabel(prior.owner, owner, 'an earlier spec.tls entry');
  const req = prior.choice.requested;
  const what = prior.choice.passthrough !== undefined ? 'TLS passthrough' : req === '' ? 'the default certificate' : `Secret ${req}`;
  status.add('conflict', 'TLSConflict', `TLS host ${host} is already served by ${by} with ${what}`);
  return false;
}

/**
 * The Secret to serve for a TLS section naming `secretName` in `ns`. A Secret
 * that fails its check still lets its hosts be claimed, served with
 * DEFAULT_SECRET (a handshake that shows a wrong certificate is easier to
 * diagnose than one that fails); conflicts compare the Secret as written, so
 * two objects naming the same Secret for a host agree. `noSecret` is the
 * message when no Secret is named.
 */
export function tlsChoice(secrets: SecretIndex, ns: string, secretName: string | undefined, status: ObjectStatus, noSecret: string): TlsChoice {
  if (!secretName) {
    status.add('invalid', 'TLSSecretNameMissing', noSecret);
    return { requested: '', secret: DEFAULT_SECRET };
  }
  const requested = `${ns}/${secretName}`;
  const chk = secrets.check(ns, secretName);
  if (chk.ok) return { requested, secret: requested, material: chk.secret };
  status.add('ref', chk.reason, `${chk.message}; its hosts get the default certificate`);
  return { requested, secret: DEFAULT_SECRET };
}
