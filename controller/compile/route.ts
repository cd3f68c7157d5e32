// The Route processor: turns accepted turnout.dev Routes, fed oldest first
// together with Ingresses, into routes of the shared virtual hosts (claims.ts).
// Each rule × each match becomes one snapshot route per hostname; a match some
// older object (or an earlier rule) already claims on a host is a conflict the
// Route loses, with a condition naming the winner.
//
// A Passthrough Route (spec.tls.mode Passthrough, spec.tcp.backends, named
// hostnames, no port and no rules) claims TLS for its hostnames like a
// terminating one, so an Ingress or Route terminating the same host is a
// TLSConflict settled by age; the snapshot's virtual host then carries
// `passthrough` instead of `tls`, and the proxy splices connections whose SNI
// names it to the backends, undecrypted.
//
// A tcp Route becomes a tcp listener named `tcp-<namespace>-<name>` on the
// controller's listen address and `spec.tcp.port`; a port an option listener
// or an older tcp Route already holds is a RouteConflict the Route loses.
//
// timeouts.request becomes `requestTimeoutMs` (it must be at least
// backendRequest, else InvalidTimeout and it is dropped); timeouts.idle
// becomes `idleTimeoutMs`, the longest quiet time between two chunks of the
// upstream response body (an invalid one is InvalidTimeout and dropped: the
// proxy's default applies); retries become
// `retry`: attempts 0..10, `on` (the CRD field keeps this name: it is the
// contract, but YAML 1.1 parsers read an unquoted `on:` key as true, so the
// docs quote it) from connect-failure, reset, 502, 503, 504 (numbers or
// strings; absent: connect-failure and reset), perTryTimeout and backoff
// (absent: 25ms) as Go durations. A malformed retries is InvalidRetry and the
// rule gets no policy.
//
// requestMirror becomes the route's `mirror`: its backend resolves like the
// rule's backends (same namespace only); one that does not resolve is a
// ResolvedRefs condition and a mirror without a cluster (nothing mirrored).
// A percent that is absent means 100 (Gateway API).
import type {
  HeaderFilter, Listener, Mirror, PathModifier, Redirect, RetryOn, RetryPolicy, Rewrite, Route as SnapshotRoute, RouteMatch, ValueMatch, WeightedBackend,
} from '../../api/snapshot.ts';
import { ANY_HOST, RETRY_CONDITIONS, routeKey } from '../../api/snapshot.ts';
import { HEADER_NAME, HEADER_VALUE, MAX_RETRY_ATTEMPTS, METHOD, REDIRECT_CODES, RESERVED_HEADERS } from '../../api/validate-route.ts';
import type {
  Route, RouteBackend, RouteHeaderFilter, RouteMirror, RoutePathModifier, RouteRedirect, RouteRetries, RouteRule, RouteRuleMatch, RouteTCP, RouteTLS, RouteURLRewrite, RouteValueMatch,
} from '../k8s/types.ts';
import type { Claims, Owner } from './claims.ts';
import { claimTlsHost, hostLabel, ownerLabel, tlsChoice } from './claims.ts';
import type { ObjectStatus } from './conditions.ts';
import { quote } from './conditions.ts';
import { parseTimeoutMs } from '../../lib/duration.ts';
import { hostKey, pathMatch } from './match.ts';
import type { Checked } from './match.ts';
import { checkRegex } from './regex.ts';
import type { SecretIndex } from './secrets.ts';
import type { ServiceIndex } from './services.ts';

/** What an empty Route lacks (the NothingToServe message). */
export const ROUTE_EMPTY = 'the Route has no rules, no tcp and no TLS hostnames';

const MAX_WEIGHT = 1_000_000;
/** The status of a redirect that does not say. */
export const DEFAULT_REDIRECT_CODE = 302;

/** The requests of a rule that cannot be served as written answer 500 (a split with no cluster). */
const ANSWER_500: readonly WeightedBackend[] = [{ weight: 1 }];

/** A rule's action once its filters are checked: a redirect, a split, or 500 (invalid). */
type Action =
  | { readonly kind: 'redirect'; readonly redirect: Redirect }
  | { readonly kind: 'backends' }
  | { readonly kind: 'error' };

/** Per-rule parts shared by its matches. */
interface RuleParts {
  readonly action: Action;
  readonly rewrite?: Rewrite;
  readonly requestHeaders?: HeaderFilter;
  readonly responseHeaders?: HeaderFilter;
  /** The checked requestMirror, resolved when a match wins a claim. */
  readonly mirror?: { readonly backend: RouteMirror['backend']; readonly percent: number };
  readonly timeoutMs: number;
}

/** A rule's timeouts.request, timeouts.idle and retries, compiled (absent when not set or invalid). */
interface Timing {
  readonly requestTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  readonly retry?: RetryPolicy;
}

/** The backoff of a retries without one (Envoy's base interval). */
export const DEFAULT_BACKOFF_MS = 25;
/** The conditions of a retries without `on`: the failures where no response was seen. */
const DEFAULT_RETRY_ON: readonly RetryOn[] = ['connect-failure', 'reset'];

/**
 * Adds the claims of every accepted Route of one build to the shared `Claims`.
 * Call `process` in conflict-priority order (oldest first across Routes and
 * Ingresses, see builder.ts).
 */
export class RouteProcessor {
  readonly #claims: Claims;
  readonly #services: ServiceIndex;
  readonly #secrets: SecretIndex;
  readonly #defaultTimeoutMs: number;
  readonly #tcpAddress: string;
  /** Port to the listener holding it: the option listeners, then tcp Routes as they win. */
  readonly #ports = new Map<number, string>();
  readonly #tcp: Record<string, Listener> = {};

  /** `listeners`: the option listeners (their ports are taken, their address is the tcp listeners'). */
  constructor(claims: Claims, services: ServiceIndex, secrets: SecretIndex, defaultTimeoutMs: number,
    listeners: Readonly<Record<string, Listener>> = {}) {
    this.#claims = claims;
    this.#services = services;
    this.#secrets = secrets;
    this.#defaultTimeoutMs = defaultTimeoutMs;
    const names = Object.keys(listeners).sort();
    this.#tcpAddress = names.length > 0 ? listeners[names[0]!]!.address : '0.0.0.0';
    for (const n of names) this.#ports.set(listeners[n]!.port, `listener ${n}`);
  }

  /** The tcp listeners of the Routes processed so far, keyed by name. */
  tcpListeners(): Record<string, Listener> {
    return { ...this.#tcp };
  }

  /** Adds one Route's claims, recording its problems in `status`. */
  process(route: Route, status: ObjectStatus): void {
    const ns = route.metadata.namespace ?? 'default';
    const owner: Owner = { kind: 'Route', id: `${ns}/${route.metadata.name}` };
    const spec = route.spec ?? {};

    if (spec.tcp !== undefined && spec.rules !== undefined) {
      // Admission refuses this (exactly one of rules and tcp); from a manifest
      // folder it can arrive, and serving either half would guess the intent.
      status.add('invalid', 'InvalidTCP', 'spec.rules and spec.tcp are both set; set exactly one of them; nothing of this Route is served');
      return;
    }
    if (spec.tls?.mode === 'Passthrough') {
      this.#passthrough(ns, owner, spec.hostnames, spec.tls, spec.tcp, status);
      return;
    }
    if (spec.tcp !== undefined) {
      this.#tcpRoute(ns, route.metadata.name, spec.tcp, status);
      return;
    }

    const hosts = hostsOf(spec.hostnames, status);
    if (spec.tls !== undefined) this.#tls(ns, owner, hosts, spec.tls, status);

    (spec.rules ?? []).forEach((rule, i) => this.#rule(ns, owner, hosts, rule, i, status));
  }

  #tcpRoute(ns: string, name: string, tcp: RouteTCP, status: ObjectStatus): void {
    const port = tcp.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      status.add('invalid', 'InvalidTCP', `spec.tcp.port ${quote(port)} is not an integer in 1..65535; nothing of this Route is served`);
      return;
    }
    const holder = this.#ports.get(port);
    if (holder !== undefined) {
      status.add('conflict', 'RouteConflict', `spec.tcp.port ${port} is already used by ${holder}`);
      return;
    }
    const backends = this.#backends(ns, tcp.backends ?? [], 'spec.tcp', status);
    if (backends.length === 0) status.add('invalid', 'NoBackends', 'spec.tcp has no backends; its connections are closed');
    const listenerName = `tcp-${ns}-${name}`;
    this.#ports.set(port, `Route ${ns}/${name}`);
    this.#tcp[listenerName] = { protocol: 'tcp', address: this.#tcpAddress, port, backends };
    status.contributed = true;
  }

  /** A Passthrough Route: its hostnames' TLS goes, undecrypted, to spec.tcp.backends. */
  #passthrough(ns: string, owner: Owner, hostnames: readonly string[] | undefined, tls: RouteTLS, tcp: RouteTCP | undefined, status: ObjectStatus): void {
    // Admission refuses each of these (CEL); from a manifest folder they can
    // arrive, and guessing the intent could expose a backend: serve nothing.
    const invalid = (message: string) => status.add('invalid', 'InvalidTLS', `${message}; nothing of this Route is served`);
    if (tls.secretName !== undefined) return invalid('spec.tls.secretName is set with mode Passthrough, which never decrypts');
    if (tcp === undefined) return invalid('spec.tls.mode Passthrough needs spec.tcp.backends to forward the connections to');
    if (tcp.port !== undefined) return invalid('spec.tcp.port is set with tls.mode Passthrough, whose connections arrive on the HTTPS port');
    const named = hostsOf(hostnames, status).filter((h) => h !== ANY_HOST);
    if (named.length === 0) {
      status.add('invalid', 'TLSHostsMissing', 'spec.tls.mode Passthrough routes by SNI but the Route lists no hostnames; nothing of this Route is served');
      return;
    }
    const backends = this.#backends(ns, tcp.backends ?? [], 'spec.tcp', status);
    if (backends.length === 0) status.add('invalid', 'NoBackends', 'spec.tcp has no backends; its connections are closed');
    const choice = { requested: `passthrough to Route ${owner.id}`, secret: '', passthrough: backends };
    for (const host of named) if (claimTlsHost(this.#claims, owner, host, choice, status)) status.contributed = true;
  }

  #tls(ns: string, owner: Owner, hosts: readonly string[], tls: RouteTLS, status: ObjectStatus): void {
    if (tls.mode !== undefined && tls.mode !== 'Terminate') {
      status.add('invalid', 'InvalidTLS', `spec.tls.mode ${quote(tls.mode)} is neither Terminate nor Passthrough; spec.tls skipped`);
      return;
    }
    const named = hosts.filter((h) => h !== ANY_HOST);
    if (named.length === 0) {
      status.add('invalid', 'TLSHostsMissing', 'spec.tls is set but the Route lists no hostnames to serve it for; spec.tls skipped');
      return;
    }
    const choice = tlsChoice(this.#secrets, ns, tls.secretName, status, 'spec.tls names no Secret; its hostnames get the default certificate');
    for (const host of named) if (claimTlsHost(this.#claims, owner, host, choice, status)) status.contributed = true;
  }

  #rule(ns: string, owner: Owner, hosts: readonly string[], rule: RouteRule, i: number, status: ObjectStatus): void {
    const where = `spec.rules[${i}]`;
    const matches: RouteMatch[] = [];
    (rule.matches === undefined || rule.matches.length === 0 ? [{}] : rule.matches).forEach((m, j) => {
      const c = compileMatch(m);
      if (c.ok) matches.push(c.value);
      else status.add('invalid', c.reason, `${where}.matches[${j}] skipped: ${c.message}`);
    });
    if (matches.length === 0) return;

    const parts = this.#parts(rule, where, matches, status);
    const timing = compileTiming(rule, where, parts.timeoutMs, status);
    // Resolved once per rule, and only when one of its matches wins a claim:
    // a resolution adds the cluster to the snapshot.
    let backends: readonly WeightedBackend[] | undefined;
    const backendsOf = () => (backends ??= this.#backends(ns, rule.backends ?? [], where, status));
    let mirror: Mirror | undefined;
    const mirrorOf = (m: NonNullable<RuleParts['mirror']>) => (mirror ??= this.#mirror(ns, m, where, status));

    for (const match of matches) {
      const key = routeKey(match.type, match.path, match);
      for (const host of hosts) {
        const prior = this.#claims.routeOwner(host, key);
        if (prior !== undefined) {
          status.add('conflict', 'RouteConflict', `${describe(match)} on ${hostLabel(host)} is already claimed by ${ownerLabel(prior, owner, 'an earlier rule')}`);
          continue;
        }
        const action = parts.action.kind === 'redirect' ? { redirect: parts.action.redirect }
          : { backends: parts.action.kind === 'error' ? ANSWER_500 : backendsOf() };
        const route: SnapshotRoute = {
          match,
          ...action,
          ...(parts.rewrite !== undefined ? { rewrite: parts.rewrite } : {}),
          ...(parts.requestHeaders !== undefined ? { requestHeaders: parts.requestHeaders } : {}),
          ...(parts.responseHeaders !== undefined ? { responseHeaders: parts.responseHeaders } : {}),
          ...(parts.mirror !== undefined ? { mirror: mirrorOf(parts.mirror) } : {}),
          timeoutMs: parts.timeoutMs,
          ...timing,
          rank: this.#claims.nextRank(host),
          origin: `Route/${owner.id}`,
        };
        this.#claims.addRoute(host, key, owner, route);
        status.contributed = true;
      }
    }
  }

  /** A rule's filters and timeout, checked. */
  #parts(rule: RouteRule, where: string, matches: readonly RouteMatch[], status: ObjectStatus): RuleParts {
    const timeoutMs = this.#timeout(rule, where, status);
    const f = rule.filters ?? {};
    const requestHeaders = headerFilter(f.requestHeaders, `${where}.filters.requestHeaders`, status);
    const responseHeaders = headerFilter(f.responseHeaders, `${where}.filters.responseHeaders`, status);
    const headers = { ...(requestHeaders !== undefined ? { requestHeaders } : {}), ...(responseHeaders !== undefined ? { responseHeaders } : {}) };
    const fail = (why: string): RuleParts => {
      status.add('invalid', 'InvalidFilter', `${where}: ${why}; its requests answer 500`);
      return { action: { kind: 'error' }, timeoutMs };
    };

    const hasBackends = (rule.backends?.length ?? 0) > 0;
    if (f.requestRedirect !== undefined && hasBackends) return fail('requestRedirect and backends cannot both be set');
    if (f.requestRedirect !== undefined && f.urlRewrite !== undefined) return fail('requestRedirect and urlRewrite cannot both be set');
    const prefixOnly = [f.requestRedirect?.path, f.urlRewrite?.path].some((p) => p?.type === 'ReplacePrefixMatch');
    if (prefixOnly && matches.some((m) => m.type !== 'Prefix')) return fail('ReplacePrefixMatch needs every match of the rule to be a PathPrefix match');

    let rewrite: Rewrite | undefined;
    if (f.urlRewrite !== undefined) {
      const r = compileRewrite(f.urlRewrite);
      if (!r.ok) return fail(`filters.urlRewrite ${r.message}`);
      if (r.value.hostname !== undefined || r.value.path !== undefined) rewrite = r.value;
    }
    if (f.requestRedirect !== undefined) {
      const r = compileRedirect(f.requestRedirect);
      if (!r.ok) return fail(`filters.requestRedirect ${r.message}`);
      if (f.requestMirror !== undefined) status.add('invalid', 'InvalidMirror', `${where}.filters.requestMirror is ignored: a requestRedirect forwards nothing to mirror`);
      return { action: { kind: 'redirect', redirect: r.value }, ...headers, timeoutMs };
    }
    if (!hasBackends) {
      status.add('invalid', 'NoBackends', `${where} has neither backends nor a requestRedirect; its requests answer 500`);
      return { action: { kind: 'error' }, timeoutMs };
    }
    const mirror = checkMirror(f.requestMirror, where, status);
    return { action: { kind: 'backends' }, ...(rewrite !== undefined ? { rewrite } : {}), ...headers, ...(mirror !== undefined ? { mirror } : {}), timeoutMs };
  }

  /**
   * A rule's mirror, resolved like a backend: another namespace is not
   * permitted, and a Service or port that does not resolve leaves the mirror
   * without a cluster (nothing is mirrored) and a ResolvedRefs condition.
   */
  #mirror(ns: string, m: NonNullable<RuleParts['mirror']>, where: string, status: ObjectStatus): Mirror {
    const b = m.backend;
    if (b.namespace !== undefined && b.namespace !== '' && b.namespace !== ns) {
      status.add('ref', 'RefNotPermitted', `${where}.filters.requestMirror Service ${b.namespace}/${b.name} is not in the Route's namespace ${ns}; cross-namespace backends are not permitted, nothing is mirrored`);
      return { percent: m.percent };
    }
    const res = this.#services.resolve(ns, { service: { name: b.name, port: { number: b.port } } });
    for (const p of res.problems) status.add(p.kind, p.reason, `${where}.filters.requestMirror: ${p.message}; nothing is mirrored`);
    return res.cluster !== undefined ? { cluster: res.cluster, percent: m.percent } : { percent: m.percent };
  }

  /**
   * The weighted split of a rule. Every backend keeps its place and weight:
   * one that does not resolve (or points to another namespace) has no
   * cluster, so its share answers 500 and a typo is never silently absorbed.
   */
  #backends(ns: string, refs: readonly RouteBackend[], where: string, status: ObjectStatus): WeightedBackend[] {
    return refs.map((b, k) => {
      let weight = b.weight ?? 1;
      if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
        status.add('invalid', 'InvalidWeight', `${where}.backends[${k}] weight ${quote(weight)} is not an integer in 0..${MAX_WEIGHT}; using 0`);
        weight = 0;
      }
      if (b.namespace !== undefined && b.namespace !== '' && b.namespace !== ns) {
        status.add('ref', 'RefNotPermitted', `backend Service ${b.namespace}/${b.name} is not in the Route's namespace ${ns}; cross-namespace backends are not permitted, its share answers 500`);
        return { weight };
      }
      const res = this.#services.resolve(ns, { service: { name: b.name, port: { number: b.port } } });
      for (const p of res.problems) status.add(p.kind, p.reason, p.message);
      return res.cluster !== undefined ? { cluster: res.cluster, weight } : { weight };
    });
  }

  #timeout(rule: RouteRule, where: string, status: ObjectStatus): number {
    const raw = rule.timeouts?.backendRequest;
    if (raw === undefined) return this.#defaultTimeoutMs;
    const ms = parseTimeoutMs(raw.trim());
    if (ms !== undefined) return ms;
    status.add('invalid', 'InvalidTimeout', `${where}.timeouts.backendRequest ${quote(raw)} is not a positive duration like "500ms", "2s" or "1m" (at most 24 days); using the default ${this.#defaultTimeoutMs}ms`);
    return this.#defaultTimeoutMs;
  }
}

/** The virtual-host keys of a Route: its valid hostnames, deduplicated, or ANY_HOST when it lists none. */
function hostsOf(hostnames: readonly string[] | undefined, status: ObjectStatus): string[] {
  if (hostnames === undefined || hostnames.length === 0) return [ANY_HOST];
  const out = new Set<string>();
  for (const raw of hostnames) {
    // In a list of hostnames an empty one is a mistake, not "any host".
    const h: Checked<string> = raw === '' ? { ok: false, reason: 'InvalidHost', message: 'hostname "" is empty' } : hostKey(raw);
    if (h.ok) out.add(h.value);
    else status.add('invalid', h.reason, `${h.message}; hostname skipped`);
  }
  return [...out];
}

/** A requestMirror's backend and percent (absent: 100), checked; undefined when absent or invalid (with a condition). */
function checkMirror(m: RouteMirror | undefined, where: string, status: ObjectStatus): RuleParts['mirror'] {
  if (m === undefined) return undefined;
  const percent = m.percent ?? 100;
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    status.add('invalid', 'InvalidMirror', `${where}.filters.requestMirror percent ${quote(percent)} is not an integer in 0..100; nothing is mirrored`);
    return undefined;
  }
  if (m.backend === undefined || typeof m.backend.name !== 'string' || m.backend.name === '') {
    status.add('invalid', 'InvalidMirror', `${where}.filters.requestMirror names no backend Service; nothing is mirrored`);
    return undefined;
  }
  return { backend: m.backend, percent };
}

/** timeouts.request, timeouts.idle and retries of a rule, checked (conditions for what is dropped). */
function compileTiming(rule: RouteRule, where: string, timeoutMs: number, status: ObjectStatus): Timing {
  const out: { requestTimeoutMs?: number; idleTimeoutMs?: number; retry?: RetryPolicy } = {};
  const raw = rule.timeouts?.request;
  if (raw !== undefined) {
    const ms = typeof raw === 'string' ? parseTimeoutMs(raw.trim()) : undefined;
    if (ms === undefined) status.add('invalid', 'InvalidTimeout', `${where}.timeouts.request ${quote(raw)} is not a positive duration like "500ms", "2s" or "1m" (at most 24 days); the request is not bounded beyond its attempts`);
    else if (ms < timeoutMs) status.add('invalid', 'InvalidTimeout', `${where}.timeouts.request ${quote(raw)} is shorter than the backend request timeout (${timeoutMs}ms); timeouts.request ignored`);
    else out.requestTimeoutMs = ms;
  }
  const idle = rule.timeouts?.idle;
  if (idle !== undefined) {
    const ms = typeof idle === 'string' ? parseTimeoutMs(idle.trim()) : undefined;
    if (ms === undefined) status.add('invalid', 'InvalidTimeout', `${where}.timeouts.idle ${quote(idle)} is not a positive duration like "500ms", "2s" or "1m" (at most 24 days); timeouts.idle ignored, the proxy's default (5m) applies`);
    else out.idleTimeoutMs = ms;
  }
  if (rule.retries !== undefined) {
    const r = compileRetries(rule.retries);
    if (r.ok) out.retry = r.value;
    else status.add('invalid', 'InvalidRetry', `${where}.retries ${r.message}; the rule retries only connect failures, as without retries`);
  }
  return out;
}

/** A retries stanza as a snapshot policy. */
function compileRetries(r: RouteRetries): { ok: true; value: RetryPolicy } | { ok: false; message: string } {
  if (typeof r !== 'object' || r === null) return { ok: false, message: 'is not an object' };
  const unknown = Object.keys(r).filter((k) => !['attempts', 'on', 'perTryTimeout', 'backoff'].includes(k));
  if (unknown.length > 0) return { ok: false, message: `has unknown field ${quote(unknown[0])} (an unquoted YAML 1.1 \`on:\` key reads as true: quote it)` };
  const attempts = r.attempts ?? 1;
  if (!Number.isInteger(attempts) || attempts < 0 || attempts > MAX_RETRY_ATTEMPTS) return { ok: false, message: `attempts ${quote(attempts)} is not an integer in 0..${MAX_RETRY_ATTEMPTS}` };
  let on: RetryOn[] = [...DEFAULT_RETRY_ON];
  if (r.on !== undefined) {
    if (!Array.isArray(r.on)) return { ok: false, message: `on ${quote(r.on)} is not a list (an unquoted YAML 1.1 \`on:\` key reads as true: quote it)` };
    on = [];
    for (const c of r.on) {
      const name = String(c) as RetryOn;
      if ((typeof c !== 'string' && typeof c !== 'number') || !RETRY_CONDITIONS.includes(name)) return { ok: false, message: `on ${quote(c)} is not one of ${RETRY_CONDITIONS.join(', ')}` };
      if (!on.includes(name)) on.push(name);
    }
  }
  const policy: { attempts: number; on: RetryOn[]; perTryTimeoutMs?: number; backoffMs: number } = { attempts, on, backoffMs: DEFAULT_BACKOFF_MS };
  if (r.perTryTimeout !== undefined) {
    const ms = typeof r.perTryTimeout === 'string' ? parseTimeoutMs(r.perTryTimeout.trim()) : undefined;
    if (ms === undefined) return { ok: false, message: `perTryTimeout ${quote(r.perTryTimeout)} is not a positive duration like "500ms"` };
    policy.perTryTimeoutMs = ms;
  }
  if (r.backoff !== undefined) {
    const ms = typeof r.backoff === 'string' ? parseTimeoutMs(r.backoff.trim()) : undefined;
    if (ms === undefined) return { ok: false, message: `backoff ${quote(r.backoff)} is not a positive duration like "25ms"` };
    policy.backoffMs = ms;
  }
  return { ok: true, value: policy };
}

/**
 * One match, compiled: PathPrefix → Prefix (element-wise, normalised as for
 * Ingress), Exact as written, RegularExpression checked with the proxy's
 * engine; header names lower-cased, headers and query parameters sorted by
 * name then value; method upper-cased.
 */
export function compileMatch(m: RouteRuleMatch): Checked<RouteMatch> {
  const type = m.path?.type ?? 'PathPrefix';
  const value = m.path?.value ?? '/';
  let path: { type: RouteMatch['type']; path: string };
  if (type === 'PathPrefix' || type === 'Exact') {
    const p = pathMatch(type === 'PathPrefix' ? 'Prefix' : 'Exact', value);
    if (!p.ok) return p;
    path = p.value;
  } else if (type === 'RegularExpression') {
    if (value === '') return { ok: false, reason: 'InvalidRegex', message: 'path regular expression is empty' };
    const r = checkRegex(value, 'path');
    if (!r.ok) return r;
    path = { type: 'RegularExpression', path: value };
  } else {
    return { ok: false, reason: 'InvalidPathType', message: `path type ${quote(type)} is not Exact, PathPrefix or RegularExpression` };
  }

  const headers = valueMatches(m.headers, 'header', true);
  if (!headers.ok) return headers;
  const queryParams = valueMatches(m.queryParams, 'query parameter', false);
  if (!queryParams.ok) return queryParams;
  let method: string | undefined;
  if (m.method !== undefined && m.method !== '') {
    method = m.method.toUpperCase();
    if (!METHOD.test(method)) return { ok: false, reason: 'InvalidMatch', message: `method ${quote(m.method)} is not an HTTP method` };
  }
  return {
    ok: true,
    value: {
      ...path,
      ...(headers.value.length > 0 ? { headers: headers.value } : {}),
      ...(queryParams.value.length > 0 ? { queryParams: queryParams.value } : {}),
      ...(method !== undefined ? { method } : {}),
    },
  };
}

/**
 * Header or query conditions, sorted by name then value. A name given twice
 * makes the whole match invalid: dropping either condition would widen the
 * match beyond what its author wrote.
 */
function valueMatches(list: readonly RouteValueMatch[] | undefined, what: string, isHeader: boolean): Checked<ValueMatch[]> {
  const out: ValueMatch[] = [];
  const seen = new Set<string>();
  for (const v of list ?? []) {
    const name = isHeader ? v.name.toLowerCase() : v.name;
    if (name === '' || (isHeader && !HEADER_NAME.test(name))) return { ok: false, reason: 'InvalidMatch', message: `${what} name ${quote(v.name)} is not valid` };
    if (seen.has(name)) return { ok: false, reason: 'InvalidMatch', message: `${what} ${quote(name)} is matched twice` };
    seen.add(name);
    const type = v.type ?? 'Exact';
    if (type === 'RegularExpression') {
      const r = checkRegex(v.value, `${what} ${quote(name)}`);
      if (!r.ok) return r;
    } else if (type !== 'Exact') {
      return { ok: false, reason: 'InvalidMatch', message: `${what} ${quote(name)} has match type ${quote(type)}; want Exact or RegularExpression` };
    }
    out.push({ name, type, value: v.value });
  }
  out.sort((a, b) => cmp(a.name, b.name) || cmp(a.value, b.value));
  return { ok: true, value: out };
}

function compileRedirect(r: RouteRedirect): Checked<Redirect> {
  const statusCode = r.statusCode ?? DEFAULT_REDIRECT_CODE;
  if (!REDIRECT_CODES.has(statusCode)) return bad(`statusCode ${quote(statusCode)} is not 301, 302, 303, 307 or 308`);
  if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') return bad(`scheme ${quote(r.scheme)} is not http or https`);
  if (r.port !== undefined && (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535)) return bad(`port ${quote(r.port)} is not in 1..65535`);
  const hostname = exactHostname(r.hostname);
  if (!hostname.ok) return hostname;
  const path = modifier(r.path);
  if (!path.ok) return path;
  return {
    ok: true,
    value: {
      ...(r.scheme !== undefined ? { scheme: r.scheme } : {}),
      ...(hostname.value !== undefined ? { hostname: hostname.value } : {}),
      ...(r.port !== undefined ? { port: r.port } : {}),
      ...(path.value !== undefined ? { path: path.value } : {}),
      statusCode: statusCode as Redirect['statusCode'],
    },
  };
}

function compileRewrite(r: RouteURLRewrite): Checked<Rewrite> {
  const hostname = exactHostname(r.hostname);
  if (!hostname.ok) return hostname;
  const path = modifier(r.path);
  if (!path.ok) return path;
  return { ok: true, value: { ...(hostname.value !== undefined ? { hostname: hostname.value } : {}), ...(path.value !== undefined ? { path: path.value } : {}) } };
}

/** A hostname to redirect or rewrite to: a DNS name, lower-cased, no wildcard. */
function exactHostname(raw: string | undefined): Checked<string | undefined> {
  if (raw === undefined) return { ok: true, value: undefined };
  const h = raw === '' ? undefined : hostKey(raw);
  if (h === undefined || !h.ok || h.value.startsWith('*')) return bad(`hostname ${quote(raw)} is not a DNS name`);
  return { ok: true, value: h.value };
}

/**
 * A path replacement, checked like an Exact path: it ends up in a Location
 * header or a request line, so no characters outside a URL path, no "//",
 * dot segments or encoded "/".
 */
function modifier(m: RoutePathModifier | undefined): Checked<PathModifier | undefined> {
  if (m === undefined) return { ok: true, value: undefined };
  if (m.type !== 'ReplaceFullPath' && m.type !== 'ReplacePrefixMatch') return bad(`path type ${quote(m.type)} is not ReplaceFullPath or ReplacePrefixMatch`);
  const p = pathMatch('Exact', m.value);
  if (!p.ok) return bad(`path ${p.message.replace(/^path /, '')}`);
  return { ok: true, value: { type: m.type, value: m.value } };
}

/**
 * A header filter, names lower-cased. An entry the proxy must not apply (a
 * hop-by-hop or proxy-managed header, a bad name or value) is dropped with a
 * condition; the rest of the filter applies. Absent when nothing is left.
 */
function headerFilter(f: RouteHeaderFilter | undefined, where: string, status: ObjectStatus): HeaderFilter | undefined {
  if (f === undefined) return undefined;
  const usable = (name: string, at: string, value?: string): boolean => {
    if (!HEADER_NAME.test(name)) status.add('invalid', 'InvalidHeaderFilter', `${at} header name ${quote(name)} is not valid; entry dropped`);
    else if (RESERVED_HEADERS.has(name)) status.add('invalid', 'InvalidHeaderFilter', `${at} header ${name} is hop-by-hop or managed by the proxy; entry dropped`);
    else if (value !== undefined && !HEADER_VALUE.test(value)) status.add('invalid', 'InvalidHeaderFilter', `${at} value of header ${name} contains CR, LF or another control character; entry dropped`);
    else return true;
    return false;
  };
  const pairs = (list: RouteHeaderFilter['set'], op: string) => (list ?? []).flatMap((h, k) => {
    const name = h.name.toLowerCase();
    return usable(name, `${where}.${op}[${k}]`, h.value) ? [{ name, value: h.value }] : [];
  });
  const set = pairs(f.set, 'set');
  const add = pairs(f.add, 'add');
  const remove = (f.remove ?? []).flatMap((n, k) => {
    const name = n.toLowerCase();
    return usable(name, `${where}.remove[${k}]`) ? [name] : [];
  });
  if (set.length === 0 && add.length === 0 && remove.length === 0) return undefined;
  return { ...(remove.length > 0 ? { remove } : {}), ...(set.length > 0 ? { set } : {}), ...(add.length > 0 ? { add } : {}) };
}

/** "path Prefix /api", with its header, query and method conditions, for conflict messages. */
function describe(m: RouteMatch): string {
  const path = m.type === 'RegularExpression' ? quote(m.path) : m.path.length > 80 ? quote(m.path) : m.path;
  const parts = [`path ${m.type} ${path}`];
  if (m.headers) parts.push(`headers ${m.headers.map((h) => quote(h.name)).join(', ')}`);
  if (m.queryParams) parts.push(`query ${m.queryParams.map((q) => quote(q.name)).join(', ')}`);
  if (m.method) parts.push(`method ${m.method}`);
  return parts.join(' + ');
}

function bad(message: string): Checked<never> {
  return { ok: false, reason: 'InvalidFilter', message };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
