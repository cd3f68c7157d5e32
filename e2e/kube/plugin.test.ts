// End-to-end: `kubectl turnout status` against a real kube-apiserver, with a
// controller and a proxy running as local processes (as in controller.test.ts:
// ServiceAccount tokens, the RBAC of e2e/kube/rbac.yaml). kubectl itself runs
// the plugin (found on PATH as `kubectl-turnout`, kubeconfig from $KUBECONFIG),
// so this is the command a person types.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, get, turnout, type Proc } from '../harness.ts';
import { binary } from './binaries.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { makePodsReady } from './pods.ts';
import { waitFor, waitForCondition } from './wait.ts';
import { CRD, ingress, podBackend, RBAC, SETUP, teardown } from './fixtures.ts';

const PLUGIN = fileURLToPath(new URL('../../bin/kubectl-turnout.js', import.meta.url));


const route = (name: string, backend: string) => `apiVersion: turnout.dev/v1alpha1
kind: Route
metadata: {name: ${name}, namespace: app}
spec:
  ingressClassName: turnout
  hostnames: [${name}.test]
  rules: [{backends: [{name: ${backend}, port: 80}]}]
`;


describe('kubectl turnout status on a real kube-apiserver', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let backend: Server;
  let pluginPath: string;
  const procs: Proc[] = [];
  let admin = 0;
  let http = 0;
  let controllerArgs: string[] = [];

  /** `kubectl turnout <args>`: kubectl finds the plugin on PATH; the kubeconfig comes from $KUBECONFIG. */
  function plugin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(binary('kubectl'), ['turnout', ...args], { env: { ...cluster.env, PATH: `${pluginPath}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
    });
  }

  before(async () => {
    cluster = await startCluster();
    // The plugin as a user installs it: an executable named kubectl-turnout on PATH (run with this Node 24).
    pluginPath = join(cluster.dir, 'plugins');
    mkdirSync(pluginPath);
    writeFileSync(join(pluginPath, 'kubectl-turnout'), `#!/bin/sh\nexec '${process.execPath}' '${PLUGIN}' "$@"\n`);
    chmodSync(join(pluginPath, 'kubectl-turnout'), 0o755);
    const crd = await cluster.kubectl(['apply', '-f', CRD]);
    assert.equal(crd.code, 0, crd.stderr);
    await waitForCondition(cluster, 'crd/routes.turnout.dev', 'Established', 60_000);
    await cluster.applyYaml(RBAC);
    await cluster.applyYaml(SETUP);
    const web = await podBackend('web');
    backend = web.server;
    await makePodsReady(cluster, 'app', [{ name: 'web-1', labels: { app: 'web' }, ports: { http: web.port } }]);
    const kubeconfig = await cluster.serviceAccountKubeconfig('turnout-system', 'turnout-controller');
    const tokenFile = join(cluster.dir, 'proxy-token');
    writeFileSync(tokenFile, await cluster.createToken('turnout-system', 'turnout-proxy', { audiences: ['turnout'] }));
    const stream = await freePort();
    admin = await freePort();
    http = await freePort();
    const padmin = await freePort();
    controllerArgs = ['controller', '--kubeconfig', kubeconfig,
      '--auth', 'serviceaccount', '--allowed-proxy-serviceaccounts', 'turnout-system/turnout-proxy',
      '--http-port', String(http), '--https-port', String(await freePort()), '--listen-address', '127.0.0.1',
      '--publish-service', 'turnout-system/turnout', '--leader-election-namespace', 'turnout-system'];
    const controller = turnout([...controllerArgs, '--stream-port', String(stream), '--admin-port', String(admin)]);
    procs.push(controller);
    await waitFor('controller ready', async () => (await get(admin, '/readyz', { timeoutMs: 2_000 })).status === 200, 60_000).catch((err) => {
      throw new Error(`${err.message}\n${controller.output().slice(-3000)}`);
    });
    const proxy = turnout(['proxy', '--controller', `ws://127.0.0.1:${stream}`, '--token-file', tokenFile, '--admin-port', String(padmin), '--proxy-id', 'e2e-proxy']);
    procs.push(proxy);
    await waitFor('proxy ready', async () => (await get(padmin, '/readyz', { timeoutMs: 2_000 })).status === 200, 60_000).catch((err) => {
      throw new Error(`${err.message}\n${proxy.output().slice(-3000)}`);
    });
  });

  after(() => teardown(procs, backend, cluster));

  test('all well: exit 0, the proxy listed with the acked version', async () => {
    await cluster.applyYaml(route('good', 'web') + '---\n' + ingress('shop', 'shop.test', 'web'));
    await waitFor('good.test routed', async () => (await get(http, '/', { host: 'good.test', timeoutMs: 2_000 })).status === 200, 30_000);
    // Programmed and the load-balancer address are written after the proxy's ACK: poll the command itself.
    const r = await waitFor('status exit 0', async () => {
      const res = await plugin(['status', '--controller-admin', `http://127.0.0.1:${admin}`]);
      return res.code === 0 ? res : (() => { throw new Error(`exit ${res.code}: ${res.stdout}${res.stderr}`); })();
    }, 60_000, 500);
    assert.match(r.stdout, /^Ingresses \(class turnout\): 1, 0 not served as written\nRoutes: 1, 0 not served as written\nProxies of http:\/\/127\.0\.0\.1:\d+: 1 connected, controller version (\S+)\nok    proxy e2e-proxy \(system:serviceaccount:turnout-system:turnout-proxy\) acked (\S+) lag 0ms\nall well\n$/);
    const [, controllerVersion, acked] = /controller version (\S+)\n.*acked (\S+)/.exec(r.stdout)!;
    assert.equal(acked, controllerVersion);
    const json = JSON.parse((await plugin(['status', '-o', 'json', '--controller-admin', `http://127.0.0.1:${admin}`])).stdout);
    assert.equal(json.ok, true);
    assert.equal(json.controllers[0].proxies[0].proxyId, 'e2e-proxy');
  });

  test('a Route and an Ingress with a missing backend: exit 1, each named with the reason', async () => {
    await cluster.applyYaml(route('bad', 'missing') + '---\n' + ingress('broken', 'broken.test', 'missing'));
    const r = await waitFor('status names app/bad and app/broken', async () => {
      const res = await plugin(['status']);
      return res.code === 1 && /route app\/bad/.test(res.stdout) && /ingress app\/broken/.test(res.stdout) ? res : (() => { throw new Error(`exit ${res.code}: ${res.stdout}${res.stderr}`); })();
    }, 60_000, 500);
    assert.match(r.stdout, /FAIL  route app\/bad\n {8}ResolvedRefs=False \w+: .*missing/);
    assert.match(r.stdout, /FAIL  ingress app\/broken \(\d+\.\d+\.\d+\.\d+\)\n {8}Warning ServiceNotFound: .*missing/);
    assert.doesNotMatch(r.stdout, /app\/good|app\/shop/, 'healthy objects are not listed');
    assert.match(r.stdout, /^Ingresses \(class turnout\): 2, 1 not served as written$/m);
    const json = JSON.parse((await plugin(['status', '-o', 'json'])).stdout);
    assert.equal(json.ok, false);
    assert.deepEqual(json.routes.failing.map((v: { object: string }) => v.object), ['app/bad']);
    // Another namespace has nothing of ours: all well there.
    const other = await plugin(['status', '-n', 'default']);
    assert.equal(other.code, 0, other.stdout + other.stderr);
    assert.match(other.stdout, /Ingresses \(class turnout\): 0, 0/);
  });

  test('usage errors exit 2; an unreachable admin URL exits 1 and says so', async () => {
    assert.equal((await plugin(['status', '--nope'])).code, 2);
    const dead = await plugin(['status', '-n', 'default', '--controller-admin', `http://127.0.0.1:${await freePort()}`]);
    assert.equal(dead.code, 1);
    assert.match(dead.stdout, /^error: reading the controller admin http:\/\/127\.0\.0\.1:\d+/);
  });

  test('one --controller-admin per replica: a replica without proxies is fine, no proxy anywhere is not', async () => {
    const admin2 = await freePort();
    const second = turnout([...controllerArgs, '--stream-port', String(await freePort()), '--admin-port', String(admin2)]);
    procs.push(second);
    await waitFor('second controller ready', async () => (await get(admin2, '/readyz', { timeoutMs: 2_000 })).status === 200, 60_000).catch((err) => {
      throw new Error(`${err.message}\n${second.output().slice(-3000)}`);
    });
    const both = await waitFor('status with both replicas exit 0', async () => {
      const res = await plugin(['status', '-n', 'default', '--controller-admin', `http://127.0.0.1:${admin}`, '--controller-admin', `http://127.0.0.1:${admin2}`]);
      return res.code === 0 ? res : (() => { throw new Error(`exit ${res.code}: ${res.stdout}${res.stderr}`); })();
    }, 30_000, 500);
    assert.match(both.stdout, new RegExp(`Proxies of http://127\\.0\\.0\\.1:${admin}/?: 1 connected`));
    assert.match(both.stdout, new RegExp(`Proxies of http://127\\.0\\.0\\.1:${admin2}/?: 0 connected`));
    const alone = await plugin(['status', '-n', 'default', '--controller-admin', `http://127.0.0.1:${admin2}`]);
    assert.equal(alone.code, 1, alone.stdout);
    assert.match(alone.stdout, /FAIL  no proxy is connected to any controller asked/);
  });
});
