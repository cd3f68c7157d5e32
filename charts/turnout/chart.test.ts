// The chart, rendered by the real helm and checked object by object: RBAC,
// hardening, flags the CLI really has, drain timing, TLS wiring, the values
// schema and the CRD copy. What needs a real API server (install, upgrade,
// uninstall, server-side validation) is the e2e suite's job (kube-cp's harness).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseTimeoutMs } from '../../lib/duration.ts';
import { CHART_DIR, REPO_ROOT, RELEASE, helm, one, render, type K8sObject } from './render.ts';

interface Container {
  name: string;
  args?: string[];
  ports?: { containerPort: number }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string }[];
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  readinessProbe?: { httpGet?: { path: string; port: number } };
  livenessProbe?: { httpGet?: { path: string; port: number } };
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  securityContext?: Record<string, unknown> & { sysctls?: { name: string; value: string }[] };
  containers: Container[];
  initContainers?: Container[];
  volumes: { name: string; secret?: { secretName: string; items?: { key: string }[] }; projected?: { sources: { serviceAccountToken?: { audience: string; path: string } }[] }; emptyDir?: object }[];
}
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

const pod = (o: K8sObject): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec;
const container = (o: K8sObject, name: string): Container => {
  const c = pod(o).containers.find((x) => x.name === name);
  assert.ok(c, `${o.kind} ${o.metadata.name} has a container ${name}`);
  return c;
};
/** `--name=value` args as a map (`--flag` alone maps to ''). */
const flags = (c: Container): Map<string, string> => {
  const out = new Map<string, string>();
  for (const a of (c.args ?? []).slice(1)) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    assert.ok(m, `arg ${a} of ${c.name} is --name or --name=value`);
    out.set(m[1]!, m[2] ?? '');
  }
  return out;
};
const flag = (c: Container, name: string): string => {
  const v = flags(c).get(name);
  assert.ok(v !== undefined, `${c.name} has --${name}`);
  return v;
};

// The controller's RBAC, written out so a change to it is a visible test
// change; the RBAC test also checks e2e/kube/rbac.yaml (what the e2e tests run
// the controller with) grants the same.
const CLUSTER_RULES: Rule[] = [
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'ingressclasses'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['patch'] },
  { apiGroups: [''], resources: ['services', 'secrets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['turnout.dev'], resources: ['routes'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['turnout.dev'], resources: ['routes/status'], verbs: ['patch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
];
const LEASE_RULES: Rule[] = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }];

// Rendered once on first use, inside a test, so a missing helm fails that test.
let defaultObjs: Promise<K8sObject[]> | undefined;
let daemonSetObjs: Promise<K8sObject[]> | undefined;
const DEFAULT = () => (defaultObjs ??= render());
const DAEMONSET = () => (daemonSetObjs ??= render(['proxy.kind=DaemonSet', 'proxy.hostNetwork=true', 'proxy.tcpMigrateReq.enabled=true', 'controller.watchNamespace=apps', 'controller.proxyProtocol=true', 'controller.trustedProxies={10.0.0.0/8,192.0.2.1}']));

/** `turnout <cmd> --help`, run for real: the flag names the CLI accepts. */
function cliFlags(cmd: string): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(REPO_ROOT, 'bin', 'turnout.js'), cmd, '--help'], { timeout: 30_000 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(new Set([...stdout.matchAll(/^\s+--(?:\[no-\])?([a-z0-9-]+)/gm)].map((m) => m[1]!)));
    });
  });
}

test('helm lint --strict passes with the default and the DaemonSet values', async () => {
  for (const set of [[], ['proxy.kind=DaemonSet,proxy.hostNetwork=true,proxy.tcpMigrateReq.enabled=true'], ['streamTLS.mode=certManager']]) {
    const r = await helm(['lint', '--strict', CHART_DIR, ...set.flatMap((s) => ['--set', s])]);
    assert.equal(r.code, 0, `helm lint --strict ${set.join(' ')}: ${r.stdout}${r.stderr}`);
  }
});

test('the rendered kinds: one of each workload, the two Services, the IngressClass', async () => {
  for (const [objs, proxyKind] of [[await DEFAULT(), 'Deployment'], [await DAEMONSET(), 'DaemonSet']] as const) {
    const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.ok(kinds.includes(`${proxyKind}/turnout-proxy`), kinds.join(' '));
    assert.ok(kinds.includes('Deployment/turnout-controller'));
    assert.equal(one(objs, 'IngressClass').metadata.name, 'turnout');
    for (const o of objs) if (o.kind !== 'IngressClass' && !o.kind.startsWith('Cluster')) assert.equal(o.metadata.namespace, RELEASE.namespace, `${o.kind} ${o.metadata.name}`);
  }
});

test('RBAC: exactly the rules of e2e/kube/rbac.yaml, the Lease Role in the release namespace, proxies get none', async () => {
  const objs = await DEFAULT();
  const cr = one(objs, 'ClusterRole');
  assert.deepEqual(cr.rules, CLUSTER_RULES);
  const role = one(objs, 'Role');
  assert.equal(role.metadata.namespace, RELEASE.namespace);
  assert.deepEqual(role.rules, LEASE_RULES);
  const controllerSA = pod(one(objs, 'Deployment', '-controller')).serviceAccountName;
  for (const b of [one(objs, 'ClusterRoleBinding'), one(objs, 'RoleBinding')]) {
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: controllerSA, namespace: RELEASE.namespace }]);
  }
  assert.equal((one(objs, 'ClusterRoleBinding').roleRef as { name: string }).name, cr.metadata.name);
  assert.equal((one(objs, 'RoleBinding').roleRef as { name: string }).name, role.metadata.name);
  // Only the controller's bindings exist: the proxy's ServiceAccount has no permission.
  assert.equal(objs.filter((o) => o.kind.endsWith('Binding')).length, 2);
  const noLeader = await render(['controller.leaderElection.enabled=false']);
  assert.equal(noLeader.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding').length, 0);
  assert.equal(flag(container(one(noLeader, 'Deployment', '-controller'), 'controller'), 'leader-elect'), 'false');

  const file = join(REPO_ROOT, 'e2e', 'kube', 'rbac.yaml');
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as K8sObject);
  assert.deepEqual(one(docs, 'ClusterRole').rules, CLUSTER_RULES, 'the chart and e2e/kube/rbac.yaml grant the same');
  assert.deepEqual(one(docs, 'Role').rules, LEASE_RULES, 'the chart and e2e/kube/rbac.yaml grant the same');
});

test('every container is hardened; the only exception is the opt-in sysctl init container', async () => {
  const hardened = {
    runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
  };
  let privileged = 0;
  for (const objs of [await DEFAULT(), await DAEMONSET()]) {
    for (const w of objs.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')) {
      const spec = pod(w);
      assert.deepEqual(spec.securityContext?.seccompProfile, { type: 'RuntimeDefault' }, w.metadata.name);
      assert.equal(spec.securityContext?.runAsNonRoot, true, w.metadata.name);
      for (const c of spec.containers) assert.deepEqual(c.securityContext, hardened, `${w.metadata.name}/${c.name}`);
      for (const c of spec.initContainers ?? []) {
        assert.equal(c.name, 'sysctl-tcp-migrate-req', `unexpected init container ${c.name}`);
        privileged++;
      }
    }
  }
  assert.equal(privileged, 1, 'the privileged init container exists only with hostNetwork + tcpMigrateReq');
});

test('flags: every flag the chart passes exists in `turnout <cmd> --help`', async () => {
  for (const objs of [await DEFAULT(), await DAEMONSET()]) {
    for (const [w, cmd] of [[one(objs, 'Deployment', '-controller'), 'controller'], [one(objs, objs.some((o) => o.kind === 'DaemonSet') ? 'DaemonSet' : 'Deployment', '-proxy'), 'proxy']] as const) {
      const c = pod(w).containers[0]!;
      assert.equal(c.args?.[0], cmd, 'container args start with the subcommand (the image entrypoint is turnout)');
      const known = await cliFlags(cmd);
      for (const name of flags(c).keys()) assert.ok(known.has(name), `turnout ${cmd} has no --${name}`);
    }
  }
  // Values that become flags: the client-address settings reach the controller.
  const ctl = flags(pod(one(await DAEMONSET(), 'Deployment', '-controller')).containers[0]!);
  assert.equal(ctl.get('trusted-proxies'), '10.0.0.0/8,192.0.2.1');
  assert.ok(ctl.has('proxy-protocol'));
  assert.ok(!flags(pod(one(await DEFAULT(), 'Deployment', '-controller')).containers[0]!).has('proxy-protocol'));
  // The check can fail: a made-up flag is caught.
  const bad = await render(['controller.extraArgs={--no-such-flag}']);
  const known = await cliFlags('controller');
  assert.ok(!known.has('no-such-flag') && flags(container(one(bad, 'Deployment', '-controller'), 'controller')).has('no-such-flag'));
});

test('proxy drain: terminationGracePeriodSeconds covers preStop + --drain-timeout, readiness on /readyz', async () => {
  for (const [set, drainS] of [[[], 300], [['proxy.drainTimeoutSeconds=30', 'proxy.preStopSleepSeconds=10'], 30]] as const) {
    const proxy = one(await render([...set]), 'Deployment', '-proxy');
    const c = container(proxy, 'proxy');
    const drainMs = parseTimeoutMs(flag(c, 'drain-timeout'));
    assert.equal(drainMs, drainS * 1000);
    const sleep = Number(c.lifecycle?.preStop?.exec?.command[1]);
    assert.ok(sleep > 0, 'a preStop sleep');
    assert.ok(pod(proxy).terminationGracePeriodSeconds! > sleep + drainS, `grace ${pod(proxy).terminationGracePeriodSeconds} > ${sleep} + ${drainS}`);
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(c.readinessProbe?.httpGet?.port, Number(flag(c, 'admin-port')));
    assert.equal(flag(c, 'admin-bind'), '0.0.0.0', 'the kubelet probes the pod IP');
    assert.equal(flag(c, 'workers'), '2');
    assert.equal(flag(c, 'http1-engine'), 'net');
    const state = flag(c, 'state-dir');
    const mount = c.volumeMounts?.find((m) => m.mountPath === state);
    assert.ok(mount && pod(proxy).volumes.find((v) => v.name === mount.name)?.emptyDir, '--state-dir is an emptyDir');
  }
});

test('controller: 2 replicas, leader election, probes on its admin port, stream on 0.0.0.0 with TLS', async () => {
  const w = one(await DEFAULT(), 'Deployment', '-controller');
  assert.equal((w.spec as { replicas: number }).replicas, 2);
  const c = container(w, 'controller');
  assert.equal(flag(c, 'leader-elect'), 'true');
  assert.equal(flag(c, 'leader-election-namespace'), RELEASE.namespace);
  const admin = Number(flag(c, 'admin-port'));
  assert.deepEqual([c.livenessProbe?.httpGet, c.readinessProbe?.httpGet], [{ path: '/healthz', port: admin }, { path: '/readyz', port: admin }]);
  assert.equal(flag(c, 'admin-bind'), '0.0.0.0');
  assert.equal(flag(c, 'stream-bind'), '0.0.0.0');
  assert.ok(flag(c, 'stream-cert').startsWith('/etc/turnout/stream-tls/') && flag(c, 'stream-key').startsWith('/etc/turnout/stream-tls/'));
  assert.equal(flag(c, 'publish-service'), `${RELEASE.namespace}/turnout-proxy`);
  assert.equal(flag(container(one(await DAEMONSET(), 'Deployment', '-controller'), 'controller'), 'watch-namespace'), 'apps');
});
