// A real Kubernetes control plane for end-to-end tests: etcd, kube-apiserver and
// kube-controller-manager built from Go modules (e2e/controlplane/build.sh), on
// free loopback ports in a temp directory. The apiserver authenticates the admin
// with a static token, authorizes with RBAC and signs ServiceAccount tokens, so a
// test can run a component with exactly the RBAC the helm chart grants.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../proxy/testkit.ts';
import { binary, controlPlaneBin } from './binaries.ts';
import { startGroup, type GroupProc } from './procs.ts';
import { waitFor } from './wait.ts';

/** What a kubectl run printed and how it exited (never throws on a non-zero exit). */
export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Options of one kubectl run. */
export interface KubectlOptions {
  stdin?: string;
  /** Another kubeconfig (a ServiceAccount's) instead of the admin one. */
  kubeconfig?: string;
  timeoutMs?: number;
}

/** A running control plane; `stop()` always tears it down (idempotent). */
export interface Cluster {
  /** Temp directory with the kubeconfig, keys, data and one log per component. */
  readonly dir: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Admin kubeconfig (system:masters via a static token). */
  readonly kubeconfig: string;
  /** The apiserver's serving CA bundle. */
  readonly caFile: string;
  /** The audience the apiserver accepts in ServiceAccount tokens. */
  readonly apiAudience: string;
  /** Environment for kubectl/helm children: KUBECONFIG and caches inside `dir`. */
  readonly env: NodeJS.ProcessEnv;
  /** Milliseconds from the first spawn to a ready cluster. */
  readonly startupMs: number;
  readonly procs: { etcd: GroupProc; apiserver: GroupProc; controllerManager: GroupProc };
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** helm with the same kubeconfig handling and caches inside `dir`. */
  helm(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** `kubectl apply -f -`; throws with kubectl's stderr when it fails. */
  applyYaml(text: string): Promise<string>;
  /** A bound ServiceAccount token from the TokenRequest API (`kubectl create token`). */
  createToken(namespace: string, name: string, opts?: { audiences?: string[]; durationSeconds?: number }): Promise<string>;
  /**
   * Creates ServiceAccount `namespace/name` (and the namespace) if missing, and
   * writes a kubeconfig that authenticates as it with a TokenRequest token. With
   * `audiences`, the apiserver only accepts it if they include `apiAudience`.
   */
  serviceAccountKubeconfig(namespace: string, name: string, audiences?: string[]): Promise<string>;
  /** Stops and starts kube-apiserver on the same port and data (outage tests). */
  restartApiserver(): Promise<void>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000; // 2 shared cores: an apiserver start has been seen to take tens of seconds

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** kube-controller-manager's --controllers (default: endpointslice, namespace, garbage-collector, serviceaccount). */
  controllers?: string[];
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager; throws (after cleaning
 * up) if any fails to get ready. A free port can be taken between the probe and
 * the bind, so a start that lost such a race is retried (3 attempts in all).
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  controlPlaneBin(); // build (or find) before the clock starts
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(opts: ClusterOptions): Promise<Cluster> {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'turnout-kube-'));
  const removeDir = () => {
    process.off('exit', removeDir);
    if (process.env.TURNOUT_E2E_KEEP) console.error(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const started: GroupProc[] = [];
  const stopAll = async () => {
    for (const p of started.reverse()) await p.stop();
    started.length = 0;
  };
  try {
    const [etcdPort, peerPort, apiPort, cmPort] = await distinctFreePorts(4);
    const token = randomBytes(24).toString('hex');
    const server = `https://127.0.0.1:${apiPort}`;
    const caFile = join(dir, 'pki', 'apiserver.crt');
    const apiAudience = 'https://kubernetes.default.svc.cluster.local';
    const kubeconfig = join(dir, 'admin.kubeconfig');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: kubeconfig,
      KUBECACHEDIR: join(dir, 'kube-cache'),
      HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
      HELM_DATA_HOME: join(dir, 'helm', 'data'),
    };
    writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
    writeKubeconfig(kubeconfig, server, caFile, 'admin', token);
    mkdirSync(join(dir, 'etcd'));

    const etcd = startGroup('etcd', binary('etcd'), [
      `--data-dir=${join(dir, 'etcd')}`, '--name=default',
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`, `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`, '--unsafe-no-fsync', '--log-level=warn',
    ], join(dir, 'etcd.log'));
    started.push(etcd);
    // A run that exits without stop() (a crash, process.exit) still removes the dir,
    // after procs.ts's exit hook (registered by the first start) killed the groups.
    process.on('exit', removeDir);
    await waitReady(etcd, 'etcd /health', () => httpGet(`http://127.0.0.1:${etcdPort}/health`).then((b) => b.includes('"true"')));

    const apiArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`, `--cert-dir=${join(dir, 'pki')}`, '--service-cluster-ip-range=10.0.0.0/24',
      `--service-account-issuer=${apiAudience}`, `--service-account-key-file=${join(dir, 'sa.key')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`, `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC', '--allow-privileged=true', '--endpoint-reconciler-type=none', '--profiling=false',
    ];
    const startApiserver = () => startGroup('kube-apiserver', binary('kube-apiserver'), apiArgs, join(dir, 'kube-apiserver.log'));
    const apiReady = (p: GroupProc) => waitReady(p, 'kube-apiserver /readyz', () => httpGet(`${server}/readyz`, token, caFile).then((b) => b === 'ok'));
    let apiserver = startApiserver();
    started.push(apiserver);
    await apiReady(apiserver);

    const controllers = opts.controllers ?? ['endpointslice-controller', 'namespace-controller', 'garbage-collector-controller', 'serviceaccount-controller'];
    const controllerManager = startGroup('kube-controller-manager', binary('kube-controller-manager'), [
      `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${cmPort}`, `--cert-dir=${join(dir, 'cm-pki')}`,
      `--controllers=${controllers.join(',')}`, '--profiling=false',
    ], join(dir, 'kube-controller-manager.log'));
    started.push(controllerManager);

    const kubectl = (args: string[], o: KubectlOptions = {}) => runTool('kubectl', args, o.kubeconfig ?? kubeconfig, env, o);
    const helm = (args: string[], o: KubectlOptions = {}) => runTool('helm', args, o.kubeconfig ?? kubeconfig, env, o);
    if (controllers.includes('serviceaccount-controller')) {
      // Pods need their namespace's default ServiceAccount (ServiceAccount admission).
      await waitReady(controllerManager, 'the default ServiceAccount', () => kubectl(['get', 'serviceaccount', 'default', '-n', 'default']).then((r) => r.code === 0));
    }
    const applyYaml = async (text: string) => {
      const r = await kubectl(['apply', '-f', '-'], { stdin: text });
      if (r.code !== 0) throw new Error(`kubectl apply failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    };
    const createToken = async (namespace: string, name: string, o: { audiences?: string[]; durationSeconds?: number } = {}) => {
      const args = ['create', 'token', name, '-n', namespace, `--duration=${o.durationSeconds ?? 3600}s`];
      for (const a of o.audiences ?? []) args.push(`--audience=${a}`);
      const r = await kubectl(args);
      if (r.code !== 0) throw new Error(`kubectl create token ${namespace}/${name} failed: ${r.stderr.trim()}`);
      return r.stdout.trim();
    };
    let stopped = false;
    const cluster: Cluster = {
      dir, server, kubeconfig, caFile, apiAudience, env, startupMs: Date.now() - t0,
      procs: { etcd, get apiserver() { return apiserver; }, controllerManager },
      kubectl, helm, applyYaml, createToken,
      async serviceAccountKubeconfig(namespace, name, audiences) {
        await applyYaml(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${namespace}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${name}, namespace: ${namespace}}\n`);
        const saToken = await createToken(namespace, name, { audiences });
        const file = join(dir, `sa-${namespace}-${name}.kubeconfig`);
        writeKubeconfig(file, server, caFile, `system:serviceaccount:${namespace}:${name}`, saToken);
        return file;
      },
      async restartApiserver() {
        await apiserver.stop();
        apiserver = startApiserver();
        started.splice(1, 1, apiserver);
        await apiReady(apiserver);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
        removeDir();
      },
    };
    return cluster;
  } catch (err) {
    const logs = started.map((p) => `--- ${p.name} (${p.logFile}):\n${p.tail(2000)}`).join('\n');
    await stopAll();
    removeDir();
    throw new Error(`control plane did not start: ${(err as Error).message}\n${logs}`);
  }
}

/** Waits for `check`, failing at once with the log tail when the process exited. */
async function waitReady(proc: GroupProc, what: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(what, async () => {
    if (!proc.running()) throw new Error(`${proc.name} exited early: ${proc.tail(3000)}`);
    return check().catch(() => false);
  }, READY_TIMEOUT_MS, 250);
  if (!proc.running()) throw new Error(`${proc.name} exited: ${proc.tail(3000)}`);
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let i = 0; ports.size < n && i < 50; i++) ports.add(await freePort());
  if (ports.size < n) throw new Error('cannot find free ports');
  return [...ports];
}

function writeKubeconfig(file: string, server: string, caFile: string, user: string, token: string): void {
  // JSON is YAML: kubectl, helm and client-node's loadFromFile all read it.
  const config = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'e2e',
    clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user, namespace: 'default' } }],
  };
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
}

function httpGet(url: string, token?: string, caFile?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const opts = { timeout: 5_000, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(caFile ? { ca: readFileSync(caFile) } : {}) };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function runTool(tool: 'kubectl' | 'helm', args: string[], kubeconfig: string, env: NodeJS.ProcessEnv, opts: KubectlOptions): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = spawn(binary(tool), [`--kubeconfig=${kubeconfig}`, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${opts.timeoutMs ?? 60_000} ms)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (err) => (stderr += err.message));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1 });
    });
    child.stdin.on('error', () => {}); // kubectl may exit before reading stdin
    child.stdin.end(opts.stdin ?? '');
  });
}
