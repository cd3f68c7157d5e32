// End-to-end: `turnout controller` on a real kube-apiserver (with the real
// endpointslice controller), authenticated as its ServiceAccount with exactly
// the RBAC of e2e/kube/rbac.yaml, and `turnout proxy` authenticated by its own
// ServiceAccount token (TokenReview). Both run as local processes.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clientLoad, freePort, get, selfSignedPair, turnout, type Proc } from '../harness.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { makePodsReady, podAddress, setPodReady, deletePods } from './pods.ts';
import { waitFor, waitForCondition } from './wait.ts';
import { CRD, ingress, podBackend, RBAC, SETUP, teardown } from './fixtures.ts';





describe('turnout controller on a real kube-apiserver', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let backend: { server: Server; port: number };
  let controllerKubeconfig: string;
  let tokenFile: string;
  let certFile: string;
  let keyFile: string;
  const procs: Proc[] = [];
  const ports = { http: 0, https: 0, padmin: 0 };
  let a: { proc: Proc; stream: number; admin: number };

  async function kubectlJson(args: string[]): Promise<any> {
    const r = await cluster.kubectl([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr.trim());
    return JSON.parse(r.stdout);
  }

  /** A controller replica; `status` are the status and leader election flags (the replicas' defaults unless replaced). */
  async function startController(kubeconfig: string, status = ['--publish-service', 'turnout-system/turnout', '--leader-election-namespace', 'turnout-system']): Promise<{ proc: Proc; stream: number; admin: number }> {
    const stream = await freePort();
    const admin = await freePort();
    const proc = turnout(['controller', '--kubeconfig', kubeconfig,
      '--auth', 'serviceaccount', '--allowed-proxy-serviceaccounts', 'turnout-system/turnout-proxy',
      '--stream-port', String(stream), '--admin-port', String(admin),
      '--http-port', String(ports.http), '--https-port', String(ports.https), '--listen-address', '127.0.0.1',
      '--default-cert', certFile, '--default-key', keyFile,
      '--log-level', 'debug', ...status]);
    procs.push(proc);
    return { proc, stream, admin };
  }

  const ready = async (port: number) => (await get(port, '/readyz', { timeoutMs: 2_000 })).status === 200;

  before(async () => {
    cluster = await startCluster();
    const crd = await cluster.kubectl(['apply', '-f', CRD]);
    assert.equal(crd.code, 0, crd.stderr);
    await waitForCondition(cluster, 'crd/routes.turnout.dev', 'Established', 60_000);
    await cluster.applyYaml(RBAC);
    await cluster.applyYaml(SETUP);
    backend = await podBackend('web');
    await makePodsReady(cluster, 'app', [{ name: 'web-1', labels: { app: 'web' }, ports: { http: backend.port } }]);
    controllerKubeconfig = await cluster.serviceAccountKubeconfig('turnout-system', 'turnout-controller');
    tokenFile = join(cluster.dir, 'proxy-token');
    writeFileSync(tokenFile, await cluster.createToken('turnout-system', 'turnout-proxy', { audiences: ['turnout'] }));
    // Every replica must serve the same default certificate, or their snapshot versions differ.
    const pair = await selfSignedPair('turnout-default');
    certFile = join(cluster.dir, 'default.crt');
    keyFile = join(cluster.dir, 'default.key');
    writeFileSync(certFile, pair.cert);
    writeFileSync(keyFile, pair.key);
    for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
    a = await startController(controllerKubeconfig);
    await waitFor('controller A ready', () => ready(a.admin), 60_000).catch((err) => {
      throw new Error(`${err.message}\n${a.proc.output().slice(-3000)}`);
    });
    const proxy = turnout(['proxy', '--controller', `ws://127.0.0.1:${a.stream}`, '--token-file', tokenFile, '--admin-port', String(ports.padmin)]);
    procs.push(proxy);
    await waitFor('proxy ready', () => ready(ports.padmin), 60_000).catch((err) => {
      throw new Error(`${err.message}\n${proxy.output().slice(-3000)}`);
    });
  });

  after(() => teardown(procs, backend?.server, cluster));

  test('kubectl apply -f of an Ingress routes traffic through the proxy', async () => {
    const t0 = Date.now();
    const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: ingress('shop', 'shop.test') });
    assert.equal(r.code, 0, r.stderr);
    const answer = await waitFor('shop.test routed', async () => {
      const res = await get(ports.http, '/cart', { host: 'shop.test', timeoutMs: 2_000 });
      return res.status === 200 ? res : undefined;
    }, 30_000, 20);
    console.log(`kubectl apply -> first routed request: ${Date.now() - t0} ms`);
    assert.equal(answer.body, 'web /cart');
  });

  test('editing the Ingress changes routing: a new host is served, the old one is not', async () => {
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: ingress('edit', 'before.test') })).code, 0);
    await waitFor('before.test routed', async () => (await get(ports.http, '/', { host: 'before.test', timeoutMs: 2_000 })).status === 200, 30_000, 20);
    const patch = JSON.stringify([{ op: 'replace', path: '/spec/rules/0/host', value: 'after.test' }]);
    assert.equal((await cluster.kubectl(['patch', 'ingress', 'edit', '-n', 'app', '--type=json', '-p', patch])).code, 0);
    const after = await waitFor('after.test routed', async () => {
      const res = await get(ports.http, '/x', { host: 'after.test', timeoutMs: 2_000 });
      return res.status === 200 ? res : undefined;
    }, 30_000, 20);
    assert.equal(after.body, 'web /x');
    assert.equal((await get(ports.http, '/', { host: 'before.test', timeoutMs: 2_000 })).status, 404, 'the old host is gone');
  });

  test('Ingress status.loadBalancer is the --publish-service ClusterIP', async () => {
    const svc = await kubectlJson(['get', 'service', 'turnout', '-n', 'turnout-system']);
    const ip = svc.spec.clusterIP as string;
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    const lb = await waitFor('shop status.loadBalancer', async () => {
      const ing = await kubectlJson(['get', 'ingress', 'shop', '-n', 'app']);
      return ing.status?.loadBalancer?.ingress?.length ? ing.status.loadBalancer.ingress : undefined;
    }, 30_000);
    assert.deepEqual(lb, [{ ip }]);
  });

  test('Route status conditions carry observedGeneration, and keep lastTransitionTime across generations', async () => {
    const route = (hosts: string[]) => `apiVersion: turnout.dev/v1alpha1
kind: Route
metadata: {name: api, namespace: app}
spec:
  ingressClassName: turnout
  hostnames: ${JSON.stringify(hosts)}
  rules: [{backends: [{name: web, port: 80}]}]
`;
    const accepted = async (generation: number) => waitFor(`Route Accepted at generation ${generation}`, async () => {
      const r = await kubectlJson(['get', 'route', 'api', '-n', 'app']);
      const c = (r.status?.conditions ?? []).find((x: any) => x.type === 'Accepted');
      return r.metadata.generation === generation && c?.status === 'True' && c.observedGeneration === generation ? c : undefined;
    }, 30_000);
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: route(['api.test']) })).code, 0);
    const first = await accepted(1);
    assert.match(first.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal((await get(ports.http, '/v1', { host: 'api.test' })).body, 'web /v1');
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: route(['api.test', 'api2.test']) })).code, 0);
    const second = await accepted(2);
    assert.equal(second.lastTransitionTime, first.lastTransitionTime, 'status unchanged: the transition time stays');
    // Programmed: joined from the proxy's ACK of a snapshot containing the Route.
    const programmed = await waitFor('Route Programmed', async () => {
      const r = await kubectlJson(['get', 'route', 'api', '-n', 'app']);
      const c = (r.status?.conditions ?? []).find((x: any) => x.type === 'Programmed');
      return c?.status === 'True' && c.observedGeneration === 2 ? c : undefined;
    }, 30_000);
    assert.equal(programmed.reason, 'Programmed');
    const printed = await cluster.kubectl(['get', 'route', 'api', '-n', 'app']);
    assert.match(printed.stdout, /^NAME\s+HOSTNAMES\s+ACCEPTED\s+PROGRAMMED\s+AGE\n/);
    assert.match(printed.stdout, /\napi\s+\["api.test","api2.test"\]\s+True\s+True\s+/);
  });

  test('an Ingress with a missing backend Service gets a Warning Event, once', async () => {
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: ingress('broken', 'broken.test', 'missing') })).code, 0);
    const events = await waitFor('a Warning Event on app/broken', async () => {
      const list = await kubectlJson(['get', 'events', '-n', 'app', '--field-selector', 'involvedObject.kind=Ingress,involvedObject.name=broken']);
      return list.items.length > 0 ? list.items : undefined;
    }, 30_000);
    assert.equal(events[0].type, 'Warning');
    assert.equal(events[0].reason, 'ServiceNotFound');
    assert.match(events[0].message, /missing/);
    await new Promise((r) => setTimeout(r, 2_000)); // later compiles must not repeat it
    const again = await kubectlJson(['get', 'events', '-n', 'app', '--field-selector', 'involvedObject.kind=Ingress,involvedObject.name=broken']);
    assert.equal(again.items.length, events.length);
  });

  test('missing RBAC: a controller whose ServiceAccount has no rules never becomes ready, and says why', async () => {
    const kubeconfig = await cluster.serviceAccountKubeconfig('turnout-system', 'no-rbac');
    const c = await startController(kubeconfig, ['--leader-elect', 'false', '--publish-address', '192.0.2.1']);
    try {
      await waitFor('a 403 in its log', () => /HTTP 403/.test(c.proc.output()), 30_000).catch((err) => {
        throw new Error(`${err.message}\n${c.proc.output().slice(-3000)}`);
      });
      const readyz = await get(c.admin, '/readyz');
      assert.equal(readyz.status, 503, 'alive but not ready');
      assert.match(readyz.body, /not synced/);
      const status = JSON.parse((await get(c.admin, '/status')).body);
      assert.ok(status.problems.some((p: { code: string; message: string }) => p.code === 'KUBE_WATCH_FAILED' && /403/.test(p.message)), JSON.stringify(status.problems));
    } finally {
      await c.proc.stop();
    }
  });

  /** Applies `yaml` and resolves with the ms until `host` answers through the proxy. */
  async function applyToRouted(yaml: string, host: string): Promise<number> {
    const t0 = Date.now();
    const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: yaml });
    assert.equal(r.code, 0, r.stderr);
    await waitFor(`${host} routed`, async () => (await get(ports.http, '/', { host, timeoutMs: 2_000 })).status === 200, 60_000, 10);
    return Date.now() - t0;
  }

  test('an Ingress of another class is ignored (not routed, no status); one moved to another class loses our addresses', async () => {
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: ingress('foreign', 'foreign.test', 'web', 'nginx') })).code, 0);
    await applyToRouted(ingress('marker', 'marker.test'), 'marker.test'); // applied after: once it routes, the other was seen
    assert.equal((await get(ports.http, '/', { host: 'foreign.test' })).status, 404);
    await waitFor('marker status', async () => (await kubectlJson(['get', 'ingress', 'marker', '-n', 'app'])).status?.loadBalancer?.ingress?.length > 0, 30_000);
    const foreign = await kubectlJson(['get', 'ingress', 'foreign', '-n', 'app']);
    assert.deepEqual(foreign.status?.loadBalancer ?? {}, {});
    // Moving an Ingress to another class withdraws it and the addresses we wrote.
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: ingress('marker', 'marker.test', 'web', 'nginx') })).code, 0);
    await waitFor('marker status cleared', async () => !(await kubectlJson(['get', 'ingress', 'marker', '-n', 'app'])).status?.loadBalancer?.ingress, 30_000);
    await waitFor('marker.test no longer routed', async () => (await get(ports.http, '/', { host: 'marker.test' })).status === 404, 30_000);
  });

  test('the kube-apiserver restarts mid-run: the proxy fails no request, the controller recovers by itself', async () => {
    const load = clientLoad({ port: ports.http, host: 'shop.test', path: '/load', expect: 'web /load', keepAlive: 2, fresh: 1, maxRequests: 1_000_000, maxMs: 180_000 });
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await cluster.restartApiserver();
    console.log(`kube-apiserver restarted in ${Date.now() - t0} ms`);
    const ms = await applyToRouted(ingress('after-restart', 'after-restart.test'), 'after-restart.test');
    console.log(`after the restart, kubectl apply -> first routed request: ${ms} ms`);
    await waitFor('after-restart status', async () => (await kubectlJson(['get', 'ingress', 'after-restart', '-n', 'app'])).status?.loadBalancer?.ingress?.length > 0, 60_000);
    const stats = await load.stop();
    console.log(`requests through the proxy during the restart: ${stats.ok} ok, ${stats.failed} failed`);
    assert.equal(stats.failed, 0, JSON.stringify([...stats.errors]));
    assert.ok(stats.ok > 0);
  });

  test('kubectl apply -> first routed request: median and worst of 20, at ~10 and at 1,000 Ingresses', async () => {
    const sample = async (tag: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 20; i++) out.push(await applyToRouted(ingress(`lat-${tag}-${i}`, `lat-${tag}-${i}.test`), `lat-${tag}-${i}.test`));
      return out.sort((x, y) => x - y);
    };
    const report = (what: string, ms: number[]) => console.log(`${what}: median ${ms[Math.floor(ms.length / 2)]} ms, worst ${ms.at(-1)} ms`);
    const small = await sample('small');
    report('apply -> routed at ~10 Ingresses', small);
    const bulk = Array.from({ length: 1000 }, (_, i) => ingress(`bulk-${i}`, `bulk-${i}.test`)).join('---\n');
    const t0 = Date.now();
    const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: bulk, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const applied = Date.now() - t0;
    await waitFor('bulk-999 routed', async () => (await get(ports.http, '/', { host: 'bulk-999.test', timeoutMs: 2_000 })).status === 200, 120_000, 50);
    console.log(`1,000 Ingresses: kubectl apply took ${applied} ms, all routed ${Date.now() - t0} ms after it started`);
    const large = await sample('large');
    report('apply -> routed at 1,000 Ingresses', large);
    assert.ok(large.at(-1)! < 30_000 && small.at(-1)! < 30_000);
  });

  test('scaling pods up and down changes the endpoints without a failed request', async () => {
    const second = await podBackend('web');
    const load = clientLoad({ port: ports.http, host: 'shop.test', path: '/scale', expect: 'web /scale', keepAlive: 2, fresh: 1, maxRequests: 1_000_000, maxMs: 180_000 });
    const endpoints = async () => {
      const list = await kubectlJson(['get', 'endpointslices', '-n', 'app', '-l', 'kubernetes.io/service-name=web']);
      return list.items.flatMap((sl: any) => (sl.endpoints ?? []).filter((e: any) => e.conditions?.ready).map((e: any) => `${e.addresses[0]}:${sl.ports?.[0]?.port}`)).sort().join(' ');
    };
    try {
      await makePodsReady(cluster, 'app', [{ name: 'web-2', labels: { app: 'web' }, ports: { http: second.port } }]);
      await waitFor('two ready endpoints', async () => (await endpoints()).split(' ').length === 2, 60_000);
      // Both pods must now be served: requests reach the second backend.
      let hits = 0;
      second.server.on('request', () => hits++);
      await waitFor('the new pod receives traffic', () => hits > 0, 30_000);
      // Scale down the first pod: not ready first (as a kubelet does on termination), then deleted.
      await setPodReady(cluster, 'app', 'web-1', false);
      await waitFor('one ready endpoint', async () => (await endpoints()) === `${podAddress()}:${second.port}`, 60_000);
      await new Promise((r) => setTimeout(r, 1_000)); // the proxy applies the change
      backend.server.close(); // the old pod's process goes away
      const before = load.stats.ok;
      await waitFor('traffic keeps flowing on the remaining pod', () => load.stats.ok > before + 20, 30_000);
      await deletePods(cluster, 'app', ['web-1']);
    } finally {
      const stats = await load.stop();
      console.log(`requests through the proxy while scaling 1 -> 2 -> 1 pods: ${stats.ok} ok, ${stats.failed} failed`);
      assert.equal(stats.failed, 0, JSON.stringify([...stats.errors]));
    }
    backend = second; // later tests run on web-2 (closed in after())
  });

  test('two replicas: only the leader writes status; when it dies the other takes over within the lease duration', async () => {
    const b = await startController(controllerKubeconfig);
    await waitFor('controller B ready', () => ready(b.admin), 60_000);
    const lease = await kubectlJson(['get', 'lease', 'turnout-controller', '-n', 'turnout-system']);
    const holder = lease.spec.holderIdentity as string;
    assert.ok(a.proc.output().includes(holder), `A (the first replica) holds the lease: ${holder}`);
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: ingress('second', 'second.test') })).code, 0);
    await waitFor('second status.loadBalancer', async () => (await kubectlJson(['get', 'ingress', 'second', '-n', 'app'])).status?.loadBalancer?.ingress?.length > 0, 30_000);
    assert.equal(/"msg":"wrote status"/.test(b.proc.output()), false, 'the follower wrote no status');

    // The proxy follows A; while A is dead it keeps serving its last snapshot.
    const load = clientLoad({ port: ports.http, host: 'shop.test', path: '/failover', expect: 'web /failover', keepAlive: 2, fresh: 1, maxRequests: 1_000_000, maxMs: 120_000 });
    a.proc.child.kill('SIGKILL'); // no lease release: B must wait for it to expire
    const killed = Date.now();
    await waitFor('B leads', () => /"msg":"became leader"/.test(b.proc.output()), 40_000);
    const takeover = Date.now() - killed;
    console.log(`leader killed -> follower leads: ${takeover} ms`);
    assert.ok(takeover <= 15_000 + 2_000 + 8_000, `took over in ${takeover} ms (lease 15 s + retry 2 s + slack)`);
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: ingress('third', 'third.test') })).code, 0);
    await waitFor('third status.loadBalancer (written by B)', async () => (await kubectlJson(['get', 'ingress', 'third', '-n', 'app'])).status?.loadBalancer?.ingress?.length > 0, 30_000);
    assert.match(b.proc.output(), /"msg":"wrote status"/);
    const stats = await load.stop();
    console.log(`requests through the proxy across the leader's death: ${stats.ok} ok, ${stats.failed} failed`);
    assert.equal(stats.failed, 0, JSON.stringify([...stats.errors]));
  });
});
