// What status to write, decided without I/O: compiler conditions and the
// status the API server last reported in, merge patches (or nothing) out. The
// writer (writer.ts) only sends what these functions return, so "no write when
// nothing changed" and "no storm on resync" are table-tested here.
import type { Condition } from '../compile/types.ts';
import type { RouteStatusCondition } from '../k8s/types.ts';

/** One entry of status.loadBalancer.ingress. */
export interface LoadBalancerIngress {
  readonly ip?: string;
  readonly hostname?: string;
}

/** The status half of an object as last observed: its generation and status. */
export interface StatusView {
  readonly generation?: number;
  readonly status?: any;
}

/** A core/v1 Event to create, before the writer adds names and timestamps. */
export interface EventSpec {
  /** Identity for deduplication: the same problem on the same generation is reported once. */
  readonly dedupeKey: string;
  readonly type: 'Warning' | 'Normal';
  readonly reason: string;
  readonly message: string;
}

/**
 * Route status.conditions as metav1.Conditions: each compiler condition with
 * the object's observedGeneration; lastTransitionTime kept from the current
 * condition of the same type when its status did not change, else `now`.
 */
export function routeConditions(desired: readonly Condition[], current: readonly RouteStatusCondition[] | undefined, generation: number | undefined, now: string): RouteStatusCondition[] {
  const byType = new Map((current ?? []).map((c) => [c.type, c]));
  return desired.map((c) => {
    const prev = byType.get(c.type);
    const since = prev !== undefined && prev.status === c.status && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : now;
    return {
      type: c.type,
      status: c.status,
      reason: c.reason,
      // metav1.Condition caps messages at 32,768 bytes; ours are short, but never fail a write on it.
      message: c.message.slice(0, 32_000),
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: since,
    };
  });
}

/** The Route merge patch, or undefined when the observed conditions already say the same (timestamps aside). */
export function routeStatusPatch(desired: readonly Condition[], observed: StatusView, now: string): { status: { conditions: RouteStatusCondition[] } } | undefined {
  const current: RouteStatusCondition[] | undefined = Array.isArray(observed.status?.conditions) ? observed.status.conditions : undefined;
  const next = routeConditions(desired, current, observed.generation, now);
  return sameConditions(next, current ?? []) ? undefined : { status: { conditions: next } };
}

function sameConditions(a: readonly RouteStatusCondition[], b: readonly RouteStatusCondition[]): boolean {
  if (a.length !== b.length) return false;
  const key = (c: RouteStatusCondition) => JSON.stringify([c.type, c.status, c.reason, c.message, c.observedGeneration ?? null]);
  const bs = new Set(b.map(key));
  return a.every((c) => bs.has(key(c)));
}

/**
 * The addresses a published Service offers: its load-balancer ingress when it
 * has one (type LoadBalancer), else its ClusterIP (not "None").
 */
export function publishedAddresses(service: { spec?: { clusterIP?: string }; status?: any } | undefined): LoadBalancerIngress[] {
  if (service === undefined) return [];
  const lb: unknown = service.status?.loadBalancer?.ingress;
  if (Array.isArray(lb) && lb.length > 0) {
    return lb.flatMap((e: any): LoadBalancerIngress[] => (typeof e?.ip === 'string' ? [{ ip: e.ip }] : typeof e?.hostname === 'string' ? [{ hostname: e.hostname }] : []));
  }
  const ip = service.spec?.clusterIP;
  return typeof ip === 'string' && ip !== '' && ip !== 'None' ? [{ ip }] : [];
}

/** Whether the compiler accepted the object (it serves at least part of it). */
export function isAccepted(conditions: readonly Condition[]): boolean {
  return conditions.some((c) => c.type === 'Accepted' && c.status === 'True');
}

/**
 * The Ingress merge patch for status.loadBalancer, or undefined when it is
 * already right. An accepted Ingress gets the published addresses; one we do
 * not serve (not accepted) gets none, so clients do not resolve to a proxy
 * that will answer 404. Order does not matter; duplicates are dropped.
 */
export function ingressStatusPatch(accepted: boolean, published: readonly LoadBalancerIngress[] | undefined, observed: StatusView): { status: { loadBalancer: { ingress: LoadBalancerIngress[] | null } } } | undefined {
  if (published === undefined) return undefined; // nothing configured: leave status alone
  const want = accepted ? canonical(published) : [];
  const have = canonical(Array.isArray(observed.status?.loadBalancer?.ingress) ? observed.status.loadBalancer.ingress : []);
  if (JSON.stringify(want) === JSON.stringify(have)) return undefined;
  return { status: { loadBalancer: { ingress: want.length === 0 ? null : want } } };
}

/**
 * An Ingress this controller no longer serves (its class changed): clear the
 * addresses we wrote, but only if they are still exactly ours, so another
 * controller's status is never erased.
 */
export function releasedIngressPatch(published: readonly LoadBalancerIngress[] | undefined, observed: StatusView): { status: { loadBalancer: { ingress: null } } } | undefined {
  if (published === undefined) return undefined;
  const have = canonical(Array.isArray(observed.status?.loadBalancer?.ingress) ? observed.status.loadBalancer.ingress : []);
  const ours = canonical(published);
  return have.length > 0 && JSON.stringify(have) === JSON.stringify(ours) ? { status: { loadBalancer: { ingress: null } } } : undefined;
}

function canonical(list: readonly LoadBalancerIngress[]): LoadBalancerIngress[] {
  const seen = new Map<string, LoadBalancerIngress>();
  for (const e of list) {
    const entry = e.ip !== undefined ? { ip: e.ip } : e.hostname !== undefined ? { hostname: e.hostname } : undefined;
    if (entry !== undefined) seen.set(JSON.stringify(entry), entry);
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
}

/** Condition states that are problems: Accepted/ResolvedRefs False, Conflicted/PartiallyInvalid True. */
export function isProblem(c: Condition): boolean {
  return (c.type === 'Accepted' || c.type === 'ResolvedRefs') ? c.status === 'False' : (c.type === 'Conflicted' || c.type === 'PartiallyInvalid') && c.status === 'True';
}

/**
 * Warning Events for an Ingress's problems. The dedupe key includes uid and
 * generation: an unchanged Ingress is warned about once, an edited one that
 * is still wrong again.
 */
export function ingressEvents(key: string, conditions: readonly Condition[], observed: { uid?: string; generation?: number }): EventSpec[] {
  return conditions.filter(isProblem).map((c) => ({
    dedupeKey: JSON.stringify([key, observed.uid ?? '', observed.generation ?? 0, c.type, c.reason, c.message]),
    type: 'Warning',
    reason: c.reason,
    message: c.message.slice(0, 1000),
  }));
}
