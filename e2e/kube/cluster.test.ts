// Smoke test of the control-plane harness against the real binaries: the CRD
// installs and admits/refuses Routes, the real endpointslice controller writes
// EndpointSlices for pods the harness made ready, and RBAC denies a bare
// ServiceAccount. Every other e2e/kube test builds on these working.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from './cluster.ts';
import { makePodsReady, podAddress } from './pods.ts';
import { liveGroups } from './procs.ts';
import { waitFor, waitForCondition } from './wait.ts';

const CRD = fileURLToPath(new URL('../../crds/turnout.dev_routes.yaml', import.meta.url));
let cluster: Cluster;

before(async () => {
  cluster = await startCluster();
  console.log(`control plane ready in ${cluster.startupMs} ms at ${cluster.server}`);
});

after(async () => {
  const pids = cluster ? Object.values(cluster.procs).map((p) => p.pid) : [];
  await cluster?.stop();
  assert.deepEqual(liveGroups().filter((g) => pids.includes(g.pid)), [], 'control-plane processes left running');
  for (const pid of pids) assert.throws(() => process.kill(-pid, 0), { code: 'ESRCH' }, `process group ${pid} still exists`);
});

test('the Route CRD installs, and admission runs its schema and CEL rules', async () => {
  const applied = await cluster.kubectl(['apply', '-f', CRD]);
  assert.equal(applied.code, 0, applied.stderr);
  await waitForCondition(cluster, 'crd/routes.turnout.dev', 'Established', 60_000);

  const route = 'apiVersion: turnout.dev/v1alpha1\nkind: Route\nmetadata: {name: web, namespace: default}\n'
    + 'spec: {hostnames: [web.example.com], rules: [{backends: [{name: web, port: 80}]}]}\n';
  // Discovery of a just-established CRD can lag a moment behind the condition.
  await waitFor('the Route to apply', async () => (await cluster.kubectl(['apply', '-f', '-'], { stdin: route })).code === 0, 30_000);
  const got = await cluster.kubectl(['get', 'routes', '-n', 'default']);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stdout, /^NAME\s+HOSTNAMES\s+ACCEPTED\s+PROGRAMMED\s+AGE$/m);
  assert.match(got.stdout, /^web\s+\["web\.example\.com"\]/m);

  const invalid = 'apiVersion: turnout.dev/v1alpha1\nkind: Route\nmetadata: {name: both, namespace: default}\n'
    + 'spec: {rules: [{backends: [{name: web, port: 80}]}], tcp: {port: 5432, backends: [{name: pg, port: 5432}]}}\n';
  const refused = await cluster.kubectl(['apply', '-f', '-'], { stdin: invalid });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /is invalid/);
  assert.match(refused.stderr, /set exactly one of rules \(HTTP routing\) and tcp/);
  const none = await cluster.kubectl(['get', 'route', 'both', '-n', 'default']);
  assert.notEqual(none.code, 0, 'the invalid Route was stored');
});

test('two ready pods behind a Service become real EndpointSlice endpoints', async () => {
  await cluster.applyYaml(`apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`);
  const ip = podAddress();
  await makePodsReady(cluster, 'shop', [
    { name: 'web-1', labels: { app: 'web' }, ports: { http: 18081 } },
    { name: 'web-2', labels: { app: 'web' }, ports: { http: 18082 } },
  ]);
  // A named targetPort resolves per pod: one slice per distinct port, each with its pod.
  const seen = await waitFor('EndpointSlices for shop/web with both pods', async () => {
    const r = await cluster.kubectl(['get', 'endpointslices', '-n', 'shop', '-l', 'kubernetes.io/service-name=web', '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr);
    const slices = JSON.parse(r.stdout).items as Array<{ ports?: Array<{ port: number }>; endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean }; targetRef?: { name: string } }> }>;
    const ready = slices.flatMap((s) => (s.endpoints ?? [])
      .filter((e) => e.conditions?.ready)
      .map((e) => `${e.targetRef?.name} ${e.addresses.join(',')}:${s.ports?.[0]?.port}`));
    return ready.length === 2 ? ready.sort() : undefined;
  }, 60_000);
  assert.deepEqual(seen, [`web-1 ${ip}:18081`, `web-2 ${ip}:18082`]);
});

test('a ServiceAccount without RBAC is authenticated but forbidden', async () => {
  const kubeconfig = await cluster.serviceAccountKubeconfig('turnout-system', 'nobody');
  const whoami = await cluster.kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig });
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal(whoami.stdout, 'system:serviceaccount:turnout-system:nobody');
  const list = await cluster.kubectl(['get', 'ingresses', '-A'], { kubeconfig });
  assert.notEqual(list.code, 0);
  assert.match(list.stderr, /Forbidden.*cannot list resource "ingresses"/);
});

test('the apiserver refuses loopback EndpointSlice addresses (why pods use the machine address)', async () => {
  const slice = JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: 'loopback', namespace: 'default' },
    endpoints: [{ addresses: ['127.0.0.2'] }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  });
  const r = await cluster.kubectl(['create', '-f', '-'], { stdin: slice });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /may not be in the loopback range/);
});

test('the binaries are version-stamped, so helm kubeVersion constraints hold', async () => {
  const version = await cluster.kubectl(['version', '-o', 'json']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(JSON.parse(version.stdout).serverVersion.gitVersion, /^v1\.\d+\.\d+$/);
  const chart = join(cluster.dir, 'smoke-chart');
  mkdirSync(join(chart, 'templates'), { recursive: true });
  writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: smoke\nversion: 0.1.0\nkubeVersion: ">=1.30.0-0"\n');
  writeFileSync(join(chart, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: smoke}\ndata: {kube: "{{ .Capabilities.KubeVersion.Version }}"}\n');
  const installed = await cluster.helm(['install', 'smoke', chart, '-n', 'default']);
  assert.equal(installed.code, 0, installed.stderr);
  const cm = await cluster.kubectl(['get', 'configmap', 'smoke', '-n', 'default', '-o', 'jsonpath={.data.kube}']);
  assert.match(cm.stdout, /^v1\.\d+\.\d+$/);
});

test('restartApiserver() brings the apiserver back on the same port with the same data', async () => {
  const before = cluster.procs.apiserver.pid;
  await cluster.restartApiserver();
  assert.notEqual(cluster.procs.apiserver.pid, before);
  const got = await cluster.kubectl(['get', 'route', 'web', '-n', 'default', '-o', 'name']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.trim(), 'route.turnout.dev/web');
});
