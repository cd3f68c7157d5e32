// The Ingress processor: turns accepted Ingresses, oldest first, into virtual
// hosts, routes, TLS hosts and the default backend. Whoever claims something
// first keeps it, so feeding Ingresses in age order makes "the older Ingress
// wins" fall out of a single pass; the loser gets a condition naming the winner.
import type { ClusterKey, Route, SecretKey, TlsSecret, VirtualHost } from '../../api/snapshot.ts';
import { ANY_HOST, DEFAULT_SECRET, routeKey } from '../../api/snapshot.ts';
import type { HTTPIngressPath, Ingress } from '../k8s/types.ts';
import type { ObjectStatus } from './conditions.ts';
import { quote } from './conditions.ts';
import { parseTimeoutMs } from './duration.ts';
import { hostKey, pathMatch } from './match.ts';
import type { SecretIndex } from './secrets.ts';
import type { ServiceIndex } from './services.ts';

/** Per-Ingress upstream response-header timeout, a Go duration ("500ms", "2s", "1m"). */
export const TIMEOUT_ANNOTATION = 'turnout.dev/response-timeout';

interface RouteClaim { readonly owner: string; readonly route: Route }
interface TlsClaim { readonly owner: string; readonly requested: string; readonly secret: SecretKey }

/** What the processor contributes to the snapshot. Maps are sorted by key. */
export interface IngressOutput {
  readonly virtualHosts: Record<string, VirtualHost>;
  readonly secrets: Record<SecretKey, TlsSecret>;
  readonly defaultRoute?: Route;
}

/**
 * Accumulates the claims of every accepted Ingress of one build. Call
 * `process` in conflict-priority order (see byAge in builder.ts), then `output`.
 */
export class IngressProcessor {
  readonly #services: ServiceIndex;
  readonly #secrets: SecretIndex;
  readonly #defaultTimeoutMs: number;
  readonly #routes = new Map<string, Map<string, RouteClaim>>();
  readonly #tls = new Map<string, TlsClaim>();
  readonly #usedSecrets = new Map<SecretKey, TlsSecret>();
  #default: { readonly owner: string; readonly route: Route } | undefined;

  constructor(services: ServiceIndex, secrets: SecretIndex, defaultTimeoutMs: number) {
    this.#services = services;
    this.#secrets = secrets;
    this.#defaultTimeoutMs = defaultTimeoutMs;
  }

  /** Adds one Ingress's claims, recording its problems in `status`. */
  process(ing: Ingress, status: ObjectStatus): void {
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
        const match = { type: 'Prefix', path: '/' } as const;
        const origin = `Ingress/${id}`;
        this.#default = { owner: id, route: res.cluster !== undefined ? { match, cluster: res.cluster, timeoutMs, origin } : { match, timeoutMs, origin } };
        status.contributed = true;
      }
    }

    for (const rule of spec.rules ?? []) {
      const host = hostKey(rule.host);
      if (!host.ok) { status.add('invalid', host.reason, `rule skipped: ${host.message}`); continue; }
      for (const p of rule.http?.paths ?? []) this.#path(ns, id, host.value, p, timeoutMs, status);
    }

    for (const t of spec.tls ?? []) this.#tlsEntry(ns, id, t.hosts ?? [], t.secretName, status);
  }

  #path(ns: string, id: string, host: string, p: HTTPIngressPath, timeoutMs: number, status: ObjectStatus): void {
    const m = pathMatch(p.pathType, p.path);
    if (!m.ok) { status.add('invalid', m.reason, `${m.message} (on ${hostLabel(host)}); path skipped`); return; }
    const { type, path } = m.value;
    const key = routeKey(type, path);
    let routes = this.#routes.get(host);
    if (routes === undefined) this.#routes.set(host, routes = new Map());
    const prior = routes.get(key);
    if (prior !== undefined) {
      const by = prior.owner === id ? 'an earlier rule of this Ingress' : `Ingress ${prior.owner}`;
      status.add('conflict', 'RouteConflict', `path ${type} ${path} on ${hostLabel(host)} is already claimed by ${by}`);
      return;
    }
    const res = this.#services.resolve(ns, p.backend);
    for (const pr of res.problems) status.add(pr.kind, pr.reason, pr.message);
    const match = { type, path };
    const origin = `Ingress/${id}`;
    const route: Route = res.cluster !== undefined ? { match, cluster: res.cluster, timeoutMs, origin } : { match, timeoutMs, origin };
    routes.set(key, { owner: id, route });
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
    let secret: SecretKey = DEFAULT_SECRET;
    let requested = '';
    let material: TlsSecret | undefined;
    if (!secretName) {
      status.add('invalid', 'TLSSecretNameMissing', `a spec.tls entry for ${hosts.map(quote).join(', ')} names no Secret; using the default certificate`);
    } else {
      requested = `${ns}/${secretName}`;
      const chk = this.#secrets.check(ns, secretName);
      if (chk.ok) { secret = requested; material = chk.secret; }
      else status.add('ref', chk.reason, `${chk.message}; its hosts get the default certificate`);
    }
    for (const raw of hosts) {
      // Unlike a rule, a TLS entry cannot mean "any host": an empty host is invalid.
      const host = hostKey(raw);
      if (!host.ok || host.value === ANY_HOST) { status.add('invalid', 'InvalidHost', `TLS host skipped: host ${quote(raw)} is not a DNS name or a "*." wildcard`); continue; }
      const prior = this.#tls.get(host.value);
      if (prior !== undefined) {
        if (prior.requested !== requested) {
          const by = prior.owner === id ? 'an earlier spec.tls entry of this Ingress' : `Ingress ${prior.owner}`;
          const what = prior.requested === '' ? 'the default certificate' : `Secret ${prior.requested}`;
          status.add('conflict', 'TLSConflict', `TLS host ${host.value} is already served by ${by} with ${what}`);
          continue;
        }
      } else {
        this.#tls.set(host.value, { owner: id, requested, secret });
        if (material !== undefined) this.#usedSecrets.set(secret, material);
      }
      status.contributed = true;
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

  /** The accumulated virtual hosts (routes and TLS), used Secrets, and default route. */
  output(): IngressOutput {
    const hosts = [...new Set([...this.#routes.keys(), ...this.#tls.keys()])].sort();
    const virtualHosts: Record<string, VirtualHost> = {};
    for (const h of hosts) {
      const claims = this.#routes.get(h);
      const routes: Record<string, Route> = {};
      if (claims !== undefined) for (const k of [...claims.keys()].sort()) routes[k] = claims.get(k)!.route;
      const tls = this.#tls.get(h);
      // A rule whose every path was invalid or lost leaves an empty host behind: drop it.
      if (tls === undefined && Object.keys(routes).length === 0) continue;
      virtualHosts[h] = tls !== undefined ? { tls: { secret: tls.secret }, routes } : { routes };
    }
    const secrets: Record<SecretKey, TlsSecret> = {};
    for (const k of [...this.#usedSecrets.keys()].sort()) secrets[k] = this.#usedSecrets.get(k)!;
    const route = this.#default?.route;
    return route !== undefined ? { virtualHosts, secrets, defaultRoute: route } : { virtualHosts, secrets };
  }
}

function hostLabel(host: string): string {
  return host === ANY_HOST ? 'any host' : `host ${host}`;
}
