// `kubectl turnout status`: what a cluster's Turnout objects and proxies say
// about themselves, so a person sees in one command which Route or Ingress is
// not served, and why, and which proxy is behind or refused a snapshot.
//
// Routes carry conditions (Accepted, ResolvedRefs, Programmed) written by the
// leader. Ingresses have no conditions: the controller writes
// status.loadBalancer for the ones it serves and Warning Events for problems,
// so an Ingress is reported when it has no address, or when a Turnout Warning
// Event is newer than its last spec change (Events are not withdrawn when the
// cause is fixed elsewhere, e.g. a Service created later: such an Event shows
// until the API server expires it, one hour by default).
//
// Exit status: 0 when all is well, 1 when something is not (or the API server
// or admin port could not be read), 2 for a usage error.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClassFilter } from '../controller/compile/classes.ts';
import { describeError, kubeClient, type KubeClient, type KubeList } from '../controller/k8s/client.ts';
import type { Ingress, IngressClass, Route } from '../controller/k8s/types.ts';

const USAGE = `Usage: kubectl turnout status [--kubeconfig FILE] [-n NAMESPACE] [--ingress-class turnout] [--controller-admin URL]... [-o text|json]

Lists the Ingresses of the class and the Routes (turnout.dev/v1alpha1) that are not
served, with the reason, and with --controller-admin (the controller's admin port,
e.g. after kubectl port-forward) every connected proxy: acked version, lag, last NACK.
Each controller replica knows only the proxies connected to it: give one
--controller-admin per replica to see them all.
Exit status 0 when all is well, 1 when something is not.
`;

/** The conditions a Route must have True to be served as written. */
export const ROUTE_CONDITIONS = ['Accepted', 'ResolvedRefs', 'Programmed'] as const;

/** One condition as the API returns it. */
interface WireCondition { type: string; status: string; reason?: string; message?: string; observedGeneration?: number }

/** A Route's verdict: `problems` are the failing or missing conditions, one line each. */
export interface RouteVerdict { readonly object: string; readonly ok: boolean; readonly problems: readonly string[] }

/** An Ingress's verdict: its addresses and, when not ok, the latest Turnout Warning Event. */
export interface IngressVerdict {
  readonly object: string;
  readonly ok: boolean;
  readonly addresses: readonly string[];
  readonly warning?: { readonly reason: string; readonly message: string; readonly at: string };
}

/** One proxy from the controller's /proxies, reduced to what status shows. */
export interface ProxyVerdict {
  readonly proxyId: string;
  readonly identity: string;
  readonly ackedVersion: string | null;
  readonly lagMs: number;
  readonly lastNack: { version: string; code: string; reason: string; at: string } | null;
  readonly ok: boolean;
}

/** The proxies connected to one controller replica, judged against its published version. */
export interface ControllerProxies { readonly admin: string; readonly controllerVersion: string | null; readonly proxies: readonly ProxyVerdict[] }

/** Everything status found; `problems` are things it could not read. */
export interface StatusResult {
  readonly ok: boolean;
  readonly ingressClass: string;
  readonly ingresses: { readonly total: number; readonly failing: readonly IngressVerdict[] };
  readonly routes: { readonly total: number; readonly failing: readonly RouteVerdict[] };
  /** One entry per --controller-admin: each replica knows only the proxies connected to it. */
  readonly controllers?: readonly ControllerProxies[];
  readonly problems: readonly string[];
}

/** The Route's failing conditions, judged at its current generation (a stale condition is a problem too). */
export function routeVerdict(r: Route): RouteVerdict {
  const conds = (r.status?.conditions ?? []) as WireCondition[];
  const gen = r.metadata.generation;
  const problems: string[] = [];
  for (const type of ROUTE_CONDITIONS) {
    const c = conds.find((x) => x.type === type);
    if (c === undefined) { problems.push(`${type}: no condition yet (is a Turnout controller of this class running?)`); continue; }
    if (c.status !== 'True') problems.push(`${type}=${c.status} ${c.reason ?? ''}: ${c.message ?? ''}`.trimEnd());
    else if (gen !== undefined && c.observedGeneration !== undefined && c.observedGeneration < gen) problems.push(`${type}: observed generation ${c.observedGeneration}, the Route is at ${gen} (not processed yet)`);
  }
  return { object: `${r.metadata.namespace}/${r.metadata.name}`, ok: problems.length === 0, problems };
}

/** A minimal core/v1 Event. */
export interface KubeEvent {
  involvedObject?: { kind?: string; namespace?: string; name?: string; uid?: string };
  type?: string;
  reason?: string;
  message?: string;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  source?: { component?: string };
  reportingComponent?: string;
  metadata?: { creationTimestamp?: string };
}

const eventTime = (e: KubeEvent) => e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? '';

/** When the Ingress's spec (not its status) last changed, from managedFields; its creation otherwise. */
function lastSpecChange(ing: Ingress): string {
  const fields = (ing.metadata as { managedFields?: Array<{ time?: string; subresource?: string }> }).managedFields ?? [];
  let t = ing.metadata.creationTimestamp ?? '';
  for (const f of fields) if (f.subresource !== 'status' && f.time !== undefined && f.time > t) t = f.time;
  return t;
}

/** The Ingress's verdict from its status and the Turnout Warning Events about it. */
export function ingressVerdict(ing: Ingress, events: readonly KubeEvent[]): IngressVerdict {
  const addresses = (ing.status?.loadBalancer?.ingress ?? []).map((a) => a.ip ?? a.hostname ?? '').filter((a) => a !== '');
  const since = lastSpecChange(ing);
  const mine = events
    .filter((e) => e.type === 'Warning' && e.involvedObject?.kind === 'Ingress' && e.involvedObject.namespace === ing.metadata.namespace && e.involvedObject.name === ing.metadata.name)
    .filter((e) => ing.metadata.uid === undefined || e.involvedObject?.uid === undefined || e.involvedObject.uid === ing.metadata.uid)
    .filter((e) => e.reportingComponent === 'turnout.dev/ingress-controller' || e.source?.component === 'turnout-controller')
    .sort((a, b) => (eventTime(a) < eventTime(b) ? 1 : -1));
  const latest = mine[0];
  const current = latest !== undefined && eventTime(latest) >= since;
  const ok = addresses.length > 0 && !current;
  const object = `${ing.metadata.namespace}/${ing.metadata.name}`;
  if (ok || latest === undefined) return { object, ok, addresses };
  return { object, ok, addresses, warning: { reason: latest.reason ?? '', message: latest.message ?? '', at: eventTime(latest) } };
}

/** The controller's session info (controller/stream/session.ts SessionInfo), as JSON. */
interface WireSession { proxyId?: string; identity?: string; ackedVersion?: string; lagMs?: number; lastNack?: { version: string; code: string; reason: string; at: string } }

/** A proxy is well when it serves the controller's current version. */
export function proxyVerdict(s: WireSession, controllerVersion: string | null): ProxyVerdict {
  const acked = s.ackedVersion ?? null;
  return {
    proxyId: s.proxyId ?? '(no hello yet)',
    identity: s.identity ?? '',
    ackedVersion: acked,
    lagMs: s.lagMs ?? 0,
    lastNack: s.lastNack ?? null,
    ok: acked !== null && acked === controllerVersion,
  };
}

/** Reads Ingresses, IngressClasses, Events and Routes; never throws for API errors (they become problems). */
export async function collectCluster(client: KubeClient, opts: { namespace?: string; ingressClass: string }): Promise<Pick<StatusResult, 'ingresses' | 'routes' | 'problems'>> {
  const problems: string[] = [];
  const ns = opts.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(opts.namespace)}`;
  const list = async <T>(what: string, path: string, query?: Record<string, string>): Promise<T[] | undefined> => {
    try { return (await client.request<KubeList<T>>('GET', path, { query, timeoutMs: 30_000 })).items; } catch (err) {
      problems.push(`listing ${what}: ${describeError(err)}`);
      return undefined;
    }
  };
  const [ingresses, classes, events, routes] = await Promise.all([
    list<Ingress>('Ingresses', `/apis/networking.k8s.io/v1${ns}/ingresses`),
    // Without read access to IngressClasses the default class is unknown: named Ingresses still count.
    list<IngressClass>('IngressClasses', '/apis/networking.k8s.io/v1/ingressclasses'),
    list<KubeEvent>('Events', `/api/v1${ns}/events`, { fieldSelector: 'involvedObject.kind=Ingress,type=Warning' }),
    list<Route>('Routes', `/apis/turnout.dev/v1alpha1${ns}/routes`),
  ]);
  const filter = new ClassFilter(opts.ingressClass, classes ?? []);
  const ours = (ingresses ?? []).filter((i) => filter.accepts(i));
  const ourRoutes = (routes ?? []).filter((r) => filter.acceptsRoute(r));
  const byName = <T extends { object: string }>(a: T, b: T) => (a.object < b.object ? -1 : a.object > b.object ? 1 : 0);
  return {
    ingresses: { total: ours.length, failing: ours.map((i) => ingressVerdict(i, events ?? [])).filter((v) => !v.ok).sort(byName) },
    routes: { total: ourRoutes.length, failing: ourRoutes.map(routeVerdict).filter((v) => !v.ok).sort(byName) },
    problems,
  };
}

/** Reads /snapshot and /proxies from the controller's admin URL. */
export async function collectProxies(adminUrl: string): Promise<{ controller?: ControllerProxies; problems: string[] }> {
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(new URL(path, adminUrl.endsWith('/') ? adminUrl : adminUrl + '/'), { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return res.json();
  };
  try {
    const [snap, sessions] = await Promise.all([get('snapshot'), get('proxies')]) as [{ version?: string | null }, WireSession[]];
    const version = snap.version ?? null;
    return { controller: { admin: adminUrl, controllerVersion: version, proxies: sessions.map((s) => proxyVerdict(s, version)) }, problems: [] };
  } catch (err) {
    return { problems: [`reading the controller admin ${adminUrl}: ${describeError(err)}`] };
  }
}

/** Whether a result is all well: nothing failing, every proxy current, at least one proxy over the controllers asked. */
export function judge(r: Omit<StatusResult, 'ok'>): boolean {
  return r.problems.length === 0 && r.ingresses.failing.length === 0 && r.routes.failing.length === 0
    && (r.controllers === undefined || (r.controllers.some((c) => c.proxies.length > 0) && r.controllers.every((c) => c.proxies.every((p) => p.ok))));
}

const ms = (n: number) => (n < 1000 ? `${n}ms` : `${(n / 1000).toFixed(1)}s`);

/** Renders a result for a terminal: counts, then one block per failing object, then the proxies. */
export function formatStatus(r: StatusResult): string {
  const lines: string[] = [];
  for (const p of r.problems) lines.push(`error: ${p}`);
  lines.push(`Ingresses (class ${r.ingressClass}): ${r.ingresses.total}, ${r.ingresses.failing.length} not served as written`);
  for (const i of r.ingresses.failing) {
    lines.push(`FAIL  ingress ${i.object}${i.addresses.length === 0 ? ' (no load-balancer address)' : ` (${i.addresses.join(', ')})`}`);
    if (i.warning) lines.push(`        Warning ${i.warning.reason}: ${i.warning.message} (${i.warning.at})`);
  }
  lines.push(`Routes: ${r.routes.total}, ${r.routes.failing.length} not served as written`);
  for (const v of r.routes.failing) {
    lines.push(`FAIL  route ${v.object}`);
    for (const p of v.problems) lines.push(`        ${p}`);
  }
  for (const c of r.controllers ?? []) {
    lines.push(`Proxies of ${c.admin}: ${c.proxies.length} connected, controller version ${c.controllerVersion ?? '(none published)'}`);
    for (const p of c.proxies) {
      lines.push(`${p.ok ? 'ok  ' : 'FAIL'}  proxy ${p.proxyId} (${p.identity}) acked ${p.ackedVersion ?? '(none)'} lag ${ms(p.lagMs)}`);
      if (p.lastNack) lines.push(`        last NACK ${p.lastNack.code} of ${p.lastNack.version} at ${p.lastNack.at}: ${p.lastNack.reason}`);
    }
  }
  if (r.controllers !== undefined && r.controllers.every((c) => c.proxies.length === 0)) lines.push('FAIL  no proxy is connected to any controller asked');
  lines.push(r.ok ? 'all well' : 'problems found');
  return lines.join('\n') + '\n';
}

/** The kubeconfig file kubectl would use: the flag, else the first of $KUBECONFIG that exists, else ~/.kube/config. */
export function kubeconfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return flag;
  const listed = (env.KUBECONFIG ?? '').split(':').filter((p) => p !== '');
  return listed.find((p) => existsSync(p)) ?? listed[0] ?? join(homedir(), '.kube', 'config');
}

/** `kubectl turnout status ...`: resolves with the exit status. */
export async function runStatus(argv: readonly string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'ingress-class': { type: 'string', default: 'turnout' },
        'controller-admin': { type: 'string', multiple: true },
        output: { type: 'string', short: 'o', default: 'text' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err(`kubectl turnout status: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { out(USAGE); return 0; }
  if (values.output !== 'text' && values.output !== 'json') { err(`kubectl turnout status: -o must be text or json, got ${JSON.stringify(values.output)}\n`); return 2; }
  const admins = values['controller-admin'];
  const badAdmin = admins?.find((a) => !/^https?:\/\//.test(a));
  if (badAdmin !== undefined) { err(`kubectl turnout status: --controller-admin must be an http(s) URL, got ${JSON.stringify(badAdmin)}\n`); return 2; }
  const file = kubeconfigPath(values.kubeconfig);
  let client: KubeClient;
  try {
    client = await kubeClient(file);
  } catch (e) {
    err(`kubectl turnout status: cannot use the kubeconfig ${file}: ${describeError(e)}\n`);
    return 1;
  }
  const ingressClass = values['ingress-class'];
  const [cluster, ...perController] = await Promise.all([
    collectCluster(client, { namespace: values.namespace, ingressClass }),
    ...(admins ?? []).map(collectProxies),
  ]);
  const controllers = perController.flatMap((c) => (c.controller ? [c.controller] : []));
  const partial = { ingressClass, ...cluster, ...(admins ? { controllers } : {}), problems: [...cluster.problems, ...perController.flatMap((c) => c.problems)] };
  const result: StatusResult = { ok: judge(partial), ...partial };
  out(values.output === 'json' ? JSON.stringify(result, null, 2) + '\n' : formatStatus(result));
  return result.ok ? 0 : 1;
}
