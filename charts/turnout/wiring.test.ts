// The chart's wiring between objects (Services → ports, proxy → controller over
// TLS with a projected token, IngressClass → the controller's class filter),
// the values schema, the appVersion and the CRD copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONTROLLER_NAME } from '../../controller/k8s/types.ts';
import { CHART_DIR, REPO_ROOT, RELEASE, helm, one, render, type K8sObject } from './render.ts';

type Args = Map<string, string>;
interface Pod {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  containers: { name: string; args: string[]; ports?: { containerPort: number }[]; volumeMounts: { name: string; mountPath: string }[] }[];
  volumes: { name: string; secret?: { secretName: string; items?: { key: string }[] }; projected?: { sources: { serviceAccountToken?: { audience: string; path: string } }[] } }[];
}
const pod = (o: K8sObject): Pod => (o.spec as { template: { spec: Pod } }).template.spec;
const args = (o: K8sObject): Args =>
  new Map(pod(o).containers[0]!.args.slice(1).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k!, v.join('=')] as [string, string];
  }));
const get = (a: Args, k: string): string => {
  const v = a.get(k);
  assert.ok(v !== undefined, `--${k} is passed`);
  return v;
};
/** The volume mounted at the directory of `file` in the pod's first container. */
const volumeOf = (o: K8sObject, file: string) => {
  const m = pod(o).containers[0]!.volumeMounts.find((x) => file.startsWith(`${x.mountPath}/`));
  assert.ok(m, `${file} is on a mounted volume`);
  return pod(o).volumes.find((v) => v.name === m.name)!;
};
const b64 = (s: unknown): string => Buffer.from(String(s), 'base64').toString('utf8');

test('Services: the proxies 80/443 → the ports the controller tells them to open; the stream is ClusterIP', async () => {
  const objs = await render();
  const ctl = args(one(objs, 'Deployment', '-controller'));
  const proxySvc = one(objs, 'Service', '-proxy');
  const spec = proxySvc.spec as { type: string; ports: { port: number; targetPort: number }[] };
  assert.equal(spec.type, 'LoadBalancer');
  assert.deepEqual(spec.ports.map((p) => [p.port, p.targetPort]), [[80, Number(get(ctl, 'http-port'))], [443, Number(get(ctl, 'https-port'))]]);
  assert.deepEqual(spec.ports.map((p) => p.targetPort), [8080, 8443]);
  const proxy = one(objs, 'Deployment', '-proxy');
  assert.deepEqual(pod(proxy).containers[0]!.ports?.map((p) => p.containerPort).slice(0, 2), [8080, 8443]);
  const stream = one(objs, 'Service', '-stream').spec as { type: string; ports: { targetPort: number }[] };
  assert.equal(stream.type, 'ClusterIP');
  assert.equal(stream.ports[0]!.targetPort, Number(get(ctl, 'stream-port')));
  const url = new URL(get(args(proxy), 'controller'));
  assert.equal(url.protocol, 'wss:');
  assert.equal(url.hostname, `turnout-stream.${RELEASE.namespace}.svc`);
  assert.equal(Number(url.port), stream.ports[0]!.targetPort);
  const np = await render(['proxy.service.type=NodePort', 'proxy.service.externalTrafficPolicy=Local']);
  assert.deepEqual([(one(np, 'Service', '-proxy').spec as { type: string }).type, (one(np, 'Service', '-proxy').spec as { externalTrafficPolicy: string }).externalTrafficPolicy], ['NodePort', 'Local']);
});

test('proxy auth: a projected token with audience turnout, from the ServiceAccount the controller allows', async () => {
  const objs = await render();
  const proxy = one(objs, 'Deployment', '-proxy');
  const vol = volumeOf(proxy, get(args(proxy), 'token-file'));
  const sat = vol.projected?.sources.find((s) => s.serviceAccountToken)?.serviceAccountToken;
  assert.equal(sat?.audience, 'turnout');
  assert.ok(get(args(proxy), 'token-file').endsWith(`/${sat.path}`));
  assert.equal(pod(proxy).automountServiceAccountToken, false, 'no API token in proxy pods');
  const ctl = args(one(objs, 'Deployment', '-controller'));
  assert.equal(get(ctl, 'auth'), 'serviceaccount');
  assert.equal(get(ctl, 'allowed-proxy-serviceaccounts'), `${RELEASE.namespace}/${pod(proxy).serviceAccountName}`);
  assert.ok(objs.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod(proxy).serviceAccountName));
});

test('stream TLS (generated): the certificate is signed by the CA proxies trust and names the stream Service', async () => {
  const objs = await render();
  const ctl = one(objs, 'Deployment', '-controller');
  const proxy = one(objs, 'Deployment', '-proxy');
  const ctlSecret = volumeOf(ctl, get(args(ctl), 'stream-cert')).secret!;
  const proxySecret = volumeOf(proxy, get(args(proxy), 'controller-ca')).secret!;
  assert.equal(ctlSecret.secretName, proxySecret.secretName);
  assert.deepEqual(proxySecret.items?.map((i) => i.key), ['ca.crt'], 'proxies see the CA, never the key');
  const data = one(objs, 'Secret').data as Record<string, string>;
  const ca = new X509Certificate(b64(data['ca.crt']));
  const cert = new X509Certificate(b64(data['tls.crt']));
  assert.ok(ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey), 'tls.crt is signed by ca.crt');
  assert.ok(cert.checkHost(new URL(get(args(proxy), 'controller')).hostname), `${cert.subjectAltName} covers the proxies' --controller host`);
  const other = new X509Certificate(b64((one(await render(), 'Secret').data as Record<string, string>)['ca.crt']));
  assert.ok(!cert.checkIssued(other), 'without a cluster to look up, each render makes a new CA (the check can fail)');
});

test('stream TLS: cert-manager issues into the Secret both pods mount; an existing Secret is used as is', async () => {
  const cm = await render(['streamTLS.mode=certManager']);
  assert.equal(cm.filter((o) => o.kind === 'Secret').length, 0);
  const cert = one(cm, 'Certificate', '-stream').spec as { secretName: string; dnsNames: string[]; issuerRef: { name: string } };
  assert.equal(volumeOf(one(cm, 'Deployment', '-controller'), '/etc/turnout/stream-tls/tls.crt').secret?.secretName, cert.secretName);
  assert.ok(cert.dnsNames.includes(`turnout-stream.${RELEASE.namespace}.svc`));
  assert.equal(one(cm, 'Issuer', '-stream-ca').metadata.name, cert.issuerRef.name);
  const ext = await render(['streamTLS.mode=certManager', 'streamTLS.certManager.issuerRef.name=corp', 'streamTLS.certManager.issuerRef.kind=ClusterIssuer']);
  assert.deepEqual(ext.filter((o) => o.kind === 'Issuer'), []);
  assert.deepEqual((one(ext, 'Certificate').spec as { issuerRef: unknown }).issuerRef, { name: 'corp', kind: 'ClusterIssuer' });
  const own = await render(['streamTLS.mode=secret', 'streamTLS.existingSecret=my-stream']);
  assert.equal(own.filter((o) => o.kind === 'Secret' || o.kind === 'Certificate').length, 0);
  assert.equal(volumeOf(one(own, 'Deployment', '-proxy'), '/etc/turnout/stream-ca/ca.crt').secret?.secretName, 'my-stream');
});

test('IngressClass: the controller name the compiler matches, isDefaultClass as a value', async () => {
  const ic = one(await render(), 'IngressClass');
  assert.equal((ic.spec as { controller: string }).controller, CONTROLLER_NAME);
  assert.equal(ic.metadata.annotations?.['ingressclass.kubernetes.io/is-default-class'], undefined);
  const def = one(await render(['ingressClass.isDefaultClass=true']), 'IngressClass');
  assert.equal(def.metadata.annotations?.['ingressclass.kubernetes.io/is-default-class'], 'true');
  assert.deepEqual((await render(['ingressClass.create=false'])).filter((o) => o.kind === 'IngressClass'), []);
});

test('hostNetwork DaemonSet: no declared ports (surge pods share them), DNS for the host network, sysctl by init container', async () => {
  const objs = await render(['proxy.kind=DaemonSet', 'proxy.hostNetwork=true', 'proxy.tcpMigrateReq.enabled=true']);
  const ds = one(objs, 'DaemonSet');
  const spec = pod(ds) as Pod & { hostNetwork: boolean; dnsPolicy: string; initContainers: { command: string[] }[] };
  assert.deepEqual([spec.hostNetwork, spec.dnsPolicy, spec.containers[0]!.ports], [true, 'ClusterFirstWithHostNet', undefined]);
  assert.ok(spec.initContainers[0]!.command.join(' ').includes('/proc/sys/net/ipv4/tcp_migrate_req'));
  assert.deepEqual((ds.spec as { updateStrategy: unknown }).updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  assert.ok(!objs.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name.endsWith('-proxy')), 'no PDB for DaemonSet pods');
  const podNet = pod(one(await render(['proxy.tcpMigrateReq.enabled=true']), 'Deployment', '-proxy')) as Pod & { securityContext: { sysctls: unknown } };
  assert.deepEqual(podNet.securityContext.sysctls, [{ name: 'net.ipv4.tcp_migrate_req', value: '1' }]);
});

test('values.schema.json and the templates refuse wrong values', async () => {
  const refused = async (set: string[], why: RegExp) => {
    const r = await helm(['template', 't', CHART_DIR, ...set.flatMap((s) => ['--set', s])]);
    assert.notEqual(r.code, 0, `${set.join(' ')} is refused`);
    assert.match(r.stderr, why);
  };
  await refused(['proxy.kind=Foo'], /proxy\/kind/);
  await refused(['proxy.replicaz=2'], /replicaz/);
  await refused(['ports.http=80'], /ports\/http/); // containers bind >= 1024; the Service maps 80
  await refused(['proxy.drainTimeoutSeconds=5m'], /drainTimeoutSeconds/);
  await refused(['proxy.http1Engine=fast'], /http1Engine/);
  await refused(['proxy.hostNetwork=true'], /hostNetwork needs proxy.kind=DaemonSet/);
  await refused(['streamTLS.mode=secret'], /existingSecret is required/);
  const ok = await helm(['template', 't', CHART_DIR, '--set', 'controller.upstreamTimeout=1m30s']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('Chart.yaml appVersion is package.json version', () => {
  const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(chart.appVersion, pkg.version, 'bump appVersion in charts/turnout/Chart.yaml');
});

function runSync(root: string, ...a: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(root, 'scripts', 'sync-chart-crds.sh'), a, { timeout: 30_000 }, (err, _out, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

test('CRDs: the chart carries exact copies of crds/ (scripts/sync-chart-crds.sh --check), and helm installs them', async () => {
  const r = await runSync(REPO_ROOT, '--check');
  assert.equal(r.code, 0, r.stderr);
  // The check can fail: a copy tree with one edited byte drifts, and a sync repairs it.
  const tmp = mkdtempSync(join(tmpdir(), 'turnout-crd-drift-'));
  try {
    mkdirSync(join(tmp, 'charts', 'turnout'), { recursive: true });
    cpSync(join(REPO_ROOT, 'scripts'), join(tmp, 'scripts'), { recursive: true });
    cpSync(join(REPO_ROOT, 'crds'), join(tmp, 'crds'), { recursive: true });
    cpSync(join(CHART_DIR, 'crds'), join(tmp, 'charts', 'turnout', 'crds'), { recursive: true });
    const copy = join(tmp, 'charts', 'turnout', 'crds', 'turnout.dev_routes.yaml');
    writeFileSync(copy, readFileSync(copy, 'utf8').replace('shortNames: [rt]', 'shortNames: [rte]'));
    const drift = await runSync(tmp, '--check');
    assert.equal(drift.code, 1);
    assert.match(drift.stderr, /drift: charts\/turnout\/crds\/turnout.dev_routes.yaml/);
    assert.equal((await runSync(tmp)).code, 0);
    assert.equal((await runSync(tmp, '--check')).code, 0);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const withCrds = await render([], ['--include-crds']);
  const crd = one(withCrds, 'CustomResourceDefinition');
  assert.deepEqual(crd, parse(readFileSync(join(REPO_ROOT, 'crds', 'turnout.dev_routes.yaml'), 'utf8')));
});

test('NOTES: the proxy address command and a first Ingress of our class that parses', async () => {
  const r = await helm(['install', '--dry-run=client', RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace, '--set', 'ingressClass.name=edge']);
  assert.equal(r.code, 0, r.stderr);
  const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
  assert.match(notes, new RegExp(`kubectl -n ${RELEASE.namespace} get service turnout-proxy `));
  const body = /kubectl apply -f - <<'YAML'\n([\s\S]*?)\nYAML\n/.exec(notes)?.[1];
  assert.ok(body, 'a flush-left heredoc');
  const ing = parse(body) as { kind: string; spec: { ingressClassName: string } };
  assert.deepEqual([ing.kind, ing.spec.ingressClassName], ['Ingress', 'edge']);
});
