// End-to-end: the chart installed with the real helm into a real
// kube-apiserver. Pods cannot run here, so the controller and a proxy run as
// local processes with what the RELEASE created: their arguments are read back
// from the release's Deployments (only ports, bind addresses and mounted file
// paths are replaced), the tokens come from the TokenRequest API for the
// release's ServiceAccounts (the proxy's with the audience of the Deployment's
// projected volume), the stream certificate, key and CA from the release's
// Secret, and the controller's permissions are exactly the release's RBAC.
// A preload (svc-dns.mjs) plays cluster DNS: `*.svc` names resolve to
// 127.0.0.1, so the proxy dials the stream Service's name and checks the
// certificate against it, as in a pod.
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { clientLoad, freePort, get, turnout, type Proc } from '../harness.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { makePodsReady } from './pods.ts';
import { waitFor, waitForCondition } from './wait.ts';
import { APP, ingress, podBackend, teardown } from './fixtures.ts';

const CHART = fileURLToPath(new URL('../../charts/turnout', import.meta.url));
const NS = 'turnout-system';
const RELEASE = 'edge';
const FULL = 'edge-turnout';

const ROUTED = `${APP}---
${ingress('shop', 'shop.test')}---
apiVersion: turnout.dev/v1alpha1
kind: Route
metadata: {name: api, namespace: app}
spec:
  ingressClassName: turnout
  hostnames: [api.test]
  rules: [{backends: [{name: web, port: 80}]}]
`;

const DNS_SHIM = `// Test-only cluster DNS: *.svc resolves to loopback, where the stream listens.
import dns from 'node:dns';
const lookup = dns.lookup;
dns.lookup = function (host, opts, cb) {
  if (typeof host !== 'string' || !host.endsWith('.svc')) return lookup.apply(this, arguments);
  const callback = typeof opts === 'function' ? opts : cb;
  const all = typeof opts === 'object' && opts !== null && opts.all;
  process.nextTick(() => (all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)));
};
`;

/**
 * The release's arguments with `--name=value` flags replaced (`undefined` drops
 * one) and `extra` appended; fails when a mounted path (/etc, /var) is left,
 * so a new file mounted by the chart cannot go unnoticed here.
 */
function localArgs(args: readonly string[], replace: Record<string, string | undefined>, extra: string[] = []): string[] {
  const out: string[] = [];
  for (const a of args) {
    const name = /^--([^=]+)/.exec(a)?.[1];
    if (name !== undefined && name in replace) {
      if (replace[name] !== undefined) out.push(`--${name}=${replace[name]}`);
    } else out.push(a);
  }
  out.push(...extra);
  const left = out.filter((a) => /=\/(etc|var)\//.test(a));
  assert.deepEqual(left, [], 'a path mounted in the pod was not replaced');
  return out;
}

describe('helm install, upgrade and uninstall of charts/turnout on a real kube-apiserver', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let backend: Server;
  let backendPort = 0;
  const procs: Proc[] = [];
  let files: { crt: string; key: string; ca: string; proxyToken: string; controllerKubeconfig: string; shim: string };
  let secretBefore: Record<string, string>;
  let uidsBefore: string[];
  const http = { port: 0, https: 0 };

  async function json(args: string[]): Promise<any> {
    const r = await cluster.kubectl([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr.trim());
    return JSON.parse(r.stdout);
  }
  const containerArgs = async (kind: string, name: string): Promise<string[]> => (await json(['get', kind, name, '-n', NS])).spec.template.spec.containers[0].args;
  const ready = async (port: number) => (await get(port, '/readyz', { timeoutMs: 2_000 })).status === 200;
  const serviceAccountUids = async () => Promise.all(['controller', 'proxy'].map(async (c) => (await json(['get', 'serviceaccount', `${FULL}-${c}`, '-n', NS])).metadata.uid as string));

  /** A controller from the release's controller Deployment; resolves once ready. */
  async function startController(): Promise<{ proc: Proc; stream: number; admin: number }> {
    const stream = await freePort();
    const admin = await freePort();
    const args = localArgs(await containerArgs('deployment', `${FULL}-controller`), {
      'stream-port': String(stream), 'stream-bind': '127.0.0.1', 'stream-cert': files.crt, 'stream-key': files.key,
      'admin-port': String(admin), 'admin-bind': '127.0.0.1', 'http-port': String(http.port), 'https-port': String(http.https),
    }, ['--kubeconfig', files.controllerKubeconfig, '--listen-address', '127.0.0.1']);
    const proc = turnout(args);
    procs.push(proc);
    await waitFor('controller ready', () => ready(admin), 60_000).catch((err) => { throw new Error(`${err.message}\n${proc.output().slice(-3000)}`); });
    return { proc, stream, admin };
  }

  /** A proxy from the release's proxy Deployment, dialling the stream Service's name on `stream`; resolves once ready. */
  async function startProxy(stream: number, id: string): Promise<Proc> {
    const args = await containerArgs('deployment', `${FULL}-proxy`);
    const url = new URL(args.find((a) => a.startsWith('--controller='))!.slice('--controller='.length));
    assert.equal(url.protocol, 'wss:');
    assert.equal(url.hostname, `${FULL}-stream.${NS}.svc`);
    url.port = String(stream);
    const admin = await freePort();
    const state = join(cluster.dir, `state-${id}`);
    mkdirSync(state);
    const proc = turnout(localArgs(args, {
      controller: url.toString().replace(/\/$/, ''), 'controller-ca': files.ca, 'token-file': files.proxyToken, 'state-dir': state,
      'admin-port': String(admin), 'admin-bind': '127.0.0.1', workers: '0', // one process: 2 shared cores
    }, ['--proxy-id', id]), { NODE_OPTIONS: `--import=${pathToFileURL(files.shim).href}` });
    procs.push(proc);
    await waitFor(`proxy ${id} ready`, () => ready(admin), 60_000).catch((err) => { throw new Error(`${err.message}\n${proc.output().slice(-3000)}`); });
    return proc;
  }

  before(async () => {
    cluster = await startCluster();
    http.port = await freePort();
    http.https = await freePort();
    ({ server: backend, port: backendPort } = await podBackend('web'));
  });

  after(() => teardown(procs, backend, cluster));

  test('helm install; the local controller and proxy, run as the release, route an Ingress and a Route', async () => {
    const values = join(cluster.dir, 'values-1.yaml');
    writeFileSync(values, 'logLevel: info\n');
    const install = await cluster.helm(['install', RELEASE, CHART, '-n', NS, '--create-namespace', '-f', values], { timeoutMs: 90_000 });
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /STATUS: deployed/);
    await waitForCondition(cluster, 'crd/routes.turnout.dev', 'Established', 60_000);

    const secret = (await json(['get', 'secret', `${FULL}-stream-tls`, '-n', NS])).data as Record<string, string>;
    secretBefore = secret;
    uidsBefore = await serviceAccountUids();
    const pem = (k: string) => Buffer.from(secret[k]!, 'base64').toString('utf8');
    const proxyDeployment = await json(['get', 'deployment', `${FULL}-proxy`, '-n', NS]);
    const projected = proxyDeployment.spec.template.spec.volumes.find((v: any) => v.name === 'token').projected.sources[0].serviceAccountToken;
    assert.equal(projected.audience, 'turnout');
    files = {
      crt: join(cluster.dir, 'stream.crt'), key: join(cluster.dir, 'stream.key'), ca: join(cluster.dir, 'stream-ca.crt'),
      proxyToken: join(cluster.dir, 'proxy-token'), shim: join(cluster.dir, 'svc-dns.mjs'),
      controllerKubeconfig: await cluster.serviceAccountKubeconfig(NS, `${FULL}-controller`),
    };
    writeFileSync(files.crt, pem('tls.crt'));
    writeFileSync(files.key, pem('tls.key'), { mode: 0o600 });
    writeFileSync(files.ca, pem('ca.crt'));
    writeFileSync(files.proxyToken, await cluster.createToken(NS, proxyDeployment.spec.template.spec.serviceAccountName, { audiences: [projected.audience] }));
    writeFileSync(files.shim, DNS_SHIM);

    await cluster.applyYaml(ROUTED);
    await makePodsReady(cluster, 'app', [{ name: 'web-1', labels: { app: 'web' }, ports: { http: backendPort } }]);
    const a = await startController();
    const proxyA = await startProxy(a.stream, 'proxy-a');
    for (const host of ['shop.test', 'api.test']) {
      const res = await waitFor(`${host} routed`, async () => {
        const r = await get(http.port, '/hello', { host, timeoutMs: 2_000 });
        return r.status === 200 ? r : undefined;
      }, 30_000);
      assert.equal(res.body, 'web /hello');
    }
    // The release's proxy Service is what --publish-service names: its ClusterIP lands in the Ingress status.
    const clusterIP = (await json(['get', 'service', `${FULL}-proxy`, '-n', NS])).spec.clusterIP;
    await waitFor('Ingress status.loadBalancer', async () => (await json(['get', 'ingress', 'shop', '-n', 'app'])).status?.loadBalancer?.ingress?.[0]?.ip === clusterIP, 30_000);
    await waitForCondition(cluster, 'route/api', 'Programmed', 30_000, { namespace: 'app' });
    state.controllerA = a;
    state.proxyA = proxyA;
  });

  const state: { controllerA?: { proc: Proc; stream: number; admin: number }; proxyA?: Proc } = {};

  test('helm upgrade to changed values, then a rolling replacement of both processes: 0 failed requests', async () => {
    assert.ok(state.controllerA && state.proxyA, 'the install test ran');
    const load = clientLoad({ port: http.port, host: 'shop.test', path: '/load', expect: 'web /load', keepAlive: 2, fresh: 1, maxRequests: 50_000, maxMs: 90_000 });
    const values = join(cluster.dir, 'values-2.yaml');
    writeFileSync(values, 'logLevel: debug\ncontroller:\n  upstreamTimeout: 30s\nproxy:\n  replicas: 3\n  drainTimeoutSeconds: 20\n');
    const upgrade = await cluster.helm(['upgrade', RELEASE, CHART, '-n', NS, '-f', values], { timeoutMs: 90_000 });
    assert.equal(upgrade.code, 0, upgrade.stderr);
    const proxyDeployment = await json(['get', 'deployment', `${FULL}-proxy`, '-n', NS]);
    assert.equal(proxyDeployment.spec.replicas, 3);
    assert.ok(proxyDeployment.spec.template.spec.containers[0].args.includes('--drain-timeout=20s'));
    assert.ok((await containerArgs('deployment', `${FULL}-controller`)).includes('--upstream-timeout=30s'));
    // What running pods depend on survives the upgrade: the stream CA and key (looked up, not regenerated)
    // and the ServiceAccounts (a recreated one would invalidate every token bound to it).
    assert.deepEqual((await json(['get', 'secret', `${FULL}-stream-tls`, '-n', NS])).data, secretBefore);
    assert.deepEqual(await serviceAccountUids(), uidsBefore);
    // The rollout a cluster would do: new controller, new proxy on the same ports (SO_REUSEPORT), old ones stopped.
    const b = await startController();
    const proxyB = await startProxy(b.stream, 'proxy-b');
    assert.equal(await state.proxyA.stop(), 0, state.proxyA.output().slice(-2000));
    await state.controllerA.proc.stop();
    const before = load.stats.ok;
    await waitFor('requests served by the new proxy', () => load.stats.ok > before + 50, 30_000);
    const stats = await load.stop();
    console.log(`helm upgrade + rollout under load: ${stats.ok} ok, ${stats.failed} failed`);
    assert.equal(stats.failed, 0, JSON.stringify([...stats.errors]));
    assert.ok(stats.ok > 100, `only ${stats.ok} requests`);
    assert.equal(proxyB.child.exitCode, null, 'the new proxy serves');
  });

  test('non-default values render objects the real apiserver accepts (server-side dry run, strict validation)', async () => {
    const sets = [
      ['proxy.kind=DaemonSet', 'proxy.hostNetwork=true', 'proxy.tcpMigrateReq.enabled=true', 'controller.watchNamespace=apps',
        'controller.proxyProtocol=true', 'controller.trustedProxies={10.0.0.0/8}', 'controller.enableExternalName=true'],
      ['controller.leaderElection.enabled=false', 'controller.publishService=false', 'proxy.workers=4', 'proxy.service.type=NodePort'],
    ];
    for (const set of sets) {
      const rendered = await cluster.helm(['template', 'dry', CHART, '-n', NS, ...set.flatMap((v) => ['--set', v])], { timeoutMs: 60_000 });
      assert.equal(rendered.code, 0, rendered.stderr);
      const applied = await cluster.kubectl(['apply', '--dry-run=server', '--validate=strict', '-n', NS, '-f', '-'], { stdin: rendered.stdout });
      assert.equal(applied.code, 0, `${set.join(' ')}: ${applied.stderr}`);
      assert.match(applied.stdout, /daemonset|deployment/i);
    }
  });

  test('helm uninstall leaves only the CRD (and what the controller itself wrote: its Lease)', async () => {
    for (const p of procs) await p.stop();
    const r = await cluster.helm(['uninstall', RELEASE, '-n', NS], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const kinds = 'deployments,services,secrets,configmaps,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,ingressclasses,poddisruptionbudgets';
    const labelled = await cluster.kubectl(['get', kinds, '-A', '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name']);
    assert.equal(labelled.code, 0, labelled.stderr);
    assert.equal(labelled.stdout.trim(), '', 'objects of the release left');
    const inNs = await cluster.kubectl(['get', 'deployments,services,secrets,configmaps,serviceaccounts,roles,rolebindings,poddisruptionbudgets', '-n', NS, '-o', 'name']);
    // (no kube-root-ca.crt ConfigMap: the e2e control plane does not run that controller)
    assert.deepEqual(inNs.stdout.trim().split('\n').sort(), ['serviceaccount/default'], 'helm release records and every namespaced object are gone');
    const clusterWide = await cluster.kubectl(['get', 'clusterroles,clusterrolebindings,ingressclasses', '-o', 'name']);
    assert.doesNotMatch(clusterWide.stdout, /edge-turnout|ingressclass.*turnout/);
    assert.equal((await cluster.kubectl(['get', 'crd', 'routes.turnout.dev', '-o', 'name'])).stdout.trim(), 'customresourcedefinition.apiextensions.k8s.io/routes.turnout.dev', 'helm keeps CRDs');
    const leases = await cluster.kubectl(['get', 'leases', '-n', NS, '-o', 'name']);
    assert.equal(leases.stdout.trim(), `lease.coordination.k8s.io/${FULL}-controller`, 'the leader-election Lease, written by the controller, not the release');
  });
});
