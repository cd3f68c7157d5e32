// The Ingress processor: turns accepted Ingresses, oldest first, into virtual
// hosts, routes, TLS hosts and the default backend. Claims are shared with the
// Route processor (claims.ts), so whoever claims something first keeps it, and
// feeding objects in age order makes "the older one wins" fall out of a single
// pass; the loser gets a condition naming the winner.
import type { Route, Snapshot } from '../../api/snapshot.ts';
import { ANY_HOST } from '../../api/snapshot.ts';
import type { HTTPIngressPath, Ingress } from '../k8s/types.ts';
import type { Claims, HostRoutes, Owner } from './claims.ts';
import { claimTlsHost, hostLabel, ownerLabel, tlsChoice } from './claims.ts';
import type { ObjectStatus } from './conditions.ts';
import { quote } from './conditions.ts';
import { parseTimeoutMs } from '../../lib/duration.ts';
import { hostKey, ingressPath } from './match.ts';
import type { SecretIndex } from './secrets.ts';
import type { ServiceIndex } from './services.ts';

/** The route `previous` has under `host` and `key` (own keys only), if any. */
function previousRoute(previous: Snapshot['virtualHosts'] | undefined, host: string, key: string): Route | undefined {
  if (previous === undefined || !Object.hasOwn(previous, host)) return undefined;
  const routes = previous[host]!.routes;
  return Object.hasOwn(routes, key) ? routes[key] : undefined;
}

/** `r` is exactly the route #path would build: these fields and no others. */
function sameIngressRoute(r: Route, type: string, path: string, cluster: string | undefined, timeoutMs: number, origin: string): boolean {
  return r.match.type === type && r.match.path === path && Object.keys(r.match).length === 2
    && r.cluster === cluster && r.timeoutMs === timeoutMs && r.origin === origin
    && Object.keys(r).length === (cluster === undefined ? 3 : 4);
}

const NONE: readonly never[] = Object.freeze([]);

/** Per-Ingress upstream response-header timeout, a Go duration ("500ms", "2s", "1m"). */
export const TIMEOUT_ANNOTATION = 'turnout.dev/response-timeout';

/**
 * Adds the claims of every accepted Ingress of one build to the shared
 * `Claims`. Call `process` in conflict-priority order (see byAge in
 * builder.ts); the default backend, which only Ingresses have, is kept here.
 */
export class IngressProcessor {
  readonly #claims: Claims;
  readonly #services: ServiceIndex;
  readonly #secrets: SecretIndex;
  readonly #defaultTimeoutMs: number;
  #default: { readonly owner: string; readonly route: Route } | undefined;
  readonly #previous: Snapshot['virtualHosts'] | undefined;

  /**
   * `previous`: the virtual hosts of the last snapshot; a route equal to the
   * one it has under the same host and key is taken from it, so unchanged
   * hosts come out as the very same objects (claims.ts output, reuse.ts).
   */
  constructor(claims: Claims, services: ServiceIndex, secrets: SecretIndex, defaultTimeoutMs: number, previous?: Snapshot['virtualHosts']) {
    this.#claims = claims;
    this.#services = services;
    this.#secrets = secrets;
    this.#defaultTimeoutMs = defaultTimeoutMs;
    this.#previous = previous;
  }

  /**
   * Adds one Ingress's claims, recording its problems in `status`. `origin`:
   * "Ingress/namespace/name" when the caller has it already (its conditions
   * key): the routes then hold that very string, built and hashed once.
   */
  process(ing: Ingress, status: ObjectStatus, origin?: string): void {
    const ns = ing.metadata.namespace ?? 'default';
    const id = `${ns}/${ing.metadata.name}`;
    const spec = ing.spec ?? {};
    const timeoutMs = this.#timeout(ing, status);

    if (spec.defaultBackend !== undefined) {
      if (this.#default !== undefined) {
        status.add('conflict', 'DefaultBackendConflict', `the defaultBackend is already provided by Ingress ${this.#default.owner}`);
      } else {
        const res = this.#services.resolve(ns, spec.defaultBackend);
        for (const p of res.problems) status.add(p.kind, p.reason, p.message);
        // An unresolved defaultBackend still claims the slot (and answers 503): a newer
        // Ingress must not take over because the older one's Service is briefly missing.
        const match = { path: '/', type: 'Prefix' } as const;
        origin ??= `Ingress/${id}`;
        // Keys in sorted order, as every object the compiler builds (version.ts sealSnapshot).
        this.#default = { owner: id, route: res.cluster !== undefined ? { cluster: res.cluster, match, origin, timeoutMs } : { match, origin, timeoutMs } };
        status.contributed = true;
      }
    }

    // One owner and origin per Ingress, shared by its routes; index loops allocate no iterators.
    const owner: Owner = { kind: 'Ingress', id };
    origin ??= `Ingress/${id}`;
    const rules = spec.rules ?? NONE;
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      const host = hostKey(rule.host);
      if (!host.ok) { status.add('invalid', host.reason, `rule skipped: ${host.message}`); continue; }
      const paths = rule.http?.paths ?? NONE;
      if (paths.length === 0) continue;
      // The host's claims looked up once per rule, for every path's check and claim (a 10k-key map).
      const claims = this.#claims.routesOf(host.value);
      for (let i = 0; i < paths.length; i++) this.#path(ns, owner, origin, host.value, claims, paths[i]!, timeoutMs, status);
    }

    const tls = spec.tls ?? NONE;
    for (let i = 0; i < tls.length; i++) this.#tlsEntry(ns, id, tls[i]!.hosts ?? NONE, tls[i]!.secretName, status);
  }

  /** The default route, when some Ingress has a defaultBackend. */
  defaultRoute(): Route | undefined {
    return this.#default?.route;
  }

  #path(ns: string, owner: Owner, origin: string, host: string, claims: HostRoutes, p: HTTPIngressPath, timeoutMs: number, status: ObjectStatus): void {
    const { checked: m, key } = ingressPath(p.pathType, p.path);
    if (!m.ok) { status.add('invalid', m.reason, `${m.message} (on ${hostLabel(host)}); path skipped`); return; }
    const { type, path } = m.value;
    const prior = claims.get(key)?.owner;
    if (prior !== undefined) {
      status.add('conflict', 'RouteConflict', `path ${type} ${path} on ${hostLabel(host)} is already claimed by ${ownerLabel(prior, owner, 'an earlier rule')}`);
      return;
    }
    const res = this.#services.resolve(ns, p.backend);
    // An index loop: for-of made an iterator per route, though the list is almost always empty.
    for (let i = 0; i < res.problems.length; i++) status.add(res.problems[i]!.kind, res.problems[i]!.reason, res.problems[i]!.message);
    const before = previousRoute(this.#previous, host, key);
    const route: Route = before !== undefined && sameIngressRoute(before, type, path, res.cluster, timeoutMs, origin) ? before
      // The match is pathMatch's remembered (frozen) object: one per distinct path, not per route.
      : res.cluster !== undefined ? { cluster: res.cluster, match: m.value, origin, timeoutMs } : { match: m.value, origin, timeoutMs };
    claims.add(key, { owner, route });
    status.contributed = true;
  }

  /**
   * One spec.tls entry. A Secret that fails its check still claims its hosts,
   * served with DEFAULT_SECRET (a handshake that shows a wrong certificate is
   * easier to diagnose than one that fails), and only that entry's hosts are
   * affected. Conflicts compare the Secret as written ("ns/name"), so two
   * Ingresses naming the same Secret for a host agree.
   */
  #tlsEntry(ns: string, id: string, hosts: readonly string[], secretName: string | undefined, status: ObjectStatus): void {
    if (hosts.length === 0) {
      status.add('invalid', 'TLSHostsMissing', `a spec.tls entry${secretName ? ` for Secret ${ns}/${secretName}` : ''} lists no hosts; skipped`);
      return;
    }
    const choice = tlsChoice(this.#secrets, ns, secretName, status, `a spec.tls entry for ${hosts.map(quote).join(', ')} names no Secret; using the default certificate`);
    const owner: Owner = { kind: 'Ingress', id };
    for (const raw of hosts) {
      // Unlike a rule, a TLS entry cannot mean "any host": an empty host is invalid.
      const host = hostKey(raw);
      if (!host.ok || host.value === ANY_HOST) { status.add('invalid', 'InvalidHost', `TLS host skipped: host ${quote(raw)} is not a DNS name or a "*." wildcard`); continue; }
      if (claimTlsHost(this.#claims, owner, host.value, choice, status)) status.contributed = true;
    }
  }

  #timeout(ing: Ingress, status: ObjectStatus): number {
    const raw = ing.metadata.annotations?.[TIMEOUT_ANNOTATION];
    if (raw === undefined) return this.#defaultTimeoutMs;
    const ms = parseTimeoutMs(raw.trim());
    if (ms !== undefined) return ms;
    status.add('invalid', 'InvalidTimeout', `annotation ${TIMEOUT_ANNOTATION} ${quote(raw)} is not a positive duration like "500ms", "2s" or "1m" (at most 24 days); using the default ${this.#defaultTimeoutMs}ms`);
    return this.#defaultTimeoutMs;
  }
}
