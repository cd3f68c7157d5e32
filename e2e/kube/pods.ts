// Pods without a kubelet: the harness plays the kubelet's part so the real
// endpointslice controller writes real EndpointSlices. A test creates a Node,
// Pods bound to it (spec.nodeName), then patches pods/status Running and Ready
// with an IP where its own backend listens.
//
// That IP cannot be a loopback one: the apiserver rejects EndpointSlice
// addresses in 127.0.0.0/8 ("may not be in the loopback range"), so the
// endpointslice controller could never write them. The harness uses this
// machine's own non-loopback address instead; pods share it and differ by port
// (a named targetPort resolves per pod, as in a real cluster).
import { networkInterfaces } from 'node:os';
import type { Cluster } from './cluster.ts';
import { waitFor } from './wait.ts';

/** The node every harness pod is bound to. */
export const NODE_NAME = 'e2e-node';

/**
 * This machine's first non-loopback, non-link-local IPv4 address: where test
 * backends must listen to be reachable at a pod IP the apiserver accepts.
 * Throws (never skips) on a machine that has none.
 */
export function podAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.') && !a.address.startsWith('127.')) return a.address;
    }
  }
  throw new Error('e2e needs a non-loopback IPv4 address on this machine (EndpointSlices refuse 127.0.0.0/8), and there is none');
}

/** One pod to run: its name, labels and named container ports (e.g. `{http: 8080}`). */
export interface PodSpec {
  name: string;
  labels: Record<string, string>;
  ports: Record<string, number>;
  /** Defaults to {@link podAddress}. */
  ip?: string;
}

/**
 * Creates the Node (once), the pods bound to it and makes them Running and
 * Ready, in `namespace` (which must exist). Resolves when every pod's status
 * says so; the EndpointSlices follow asynchronously (wait for them).
 */
export async function makePodsReady(cluster: Cluster, namespace: string, pods: PodSpec[]): Promise<void> {
  await cluster.applyYaml(JSON.stringify({
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: NODE_NAME, labels: { 'kubernetes.io/hostname': NODE_NAME } },
  }));
  // ServiceAccount admission needs the namespace's default ServiceAccount first.
  await waitFor(`ServiceAccount ${namespace}/default`, async () => (await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', namespace])).code === 0, 60_000);
  const list = {
    apiVersion: 'v1', kind: 'List',
    items: pods.map((p) => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: p.name, namespace, labels: p.labels },
      spec: {
        nodeName: NODE_NAME,
        terminationGracePeriodSeconds: 0,
        automountServiceAccountToken: false,
        containers: [{
          name: 'app', image: 'turnout.dev/e2e-none:0',
          ports: Object.entries(p.ports).map(([name, containerPort]) => ({ name, containerPort, protocol: 'TCP' })),
        }],
      },
    })),
  };
  await cluster.applyYaml(JSON.stringify(list));
  for (const p of pods) await setPodReady(cluster, namespace, p.name, true, p.ip);
}

/**
 * Patches pods/status the way a kubelet would: Running with `ip` and
 * Ready=`ready`. Flipping Ready to false takes the pod out of the
 * EndpointSlices' ready endpoints without deleting it.
 */
export async function setPodReady(cluster: Cluster, namespace: string, name: string, ready: boolean, ip = podAddress()): Promise<void> {
  const status = ready ? 'True' : 'False';
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const patch = {
    status: {
      phase: 'Running', hostIP: ip, hostIPs: [{ ip }], podIP: ip, podIPs: [{ ip }], startTime: now,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
        type, status: type === 'ContainersReady' || type === 'Ready' ? status : 'True', lastTransitionTime: now,
      })),
      containerStatuses: [{
        name: 'app', image: 'turnout.dev/e2e-none:0', imageID: '', ready, restartCount: 0, started: true,
        state: { running: { startedAt: now } },
      }],
    },
  };
  const r = await cluster.kubectl(['patch', 'pod', name, '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify(patch)]);
  if (r.code !== 0) throw new Error(`cannot patch pods/${name} status: ${r.stderr.trim()}`);
}

/** Deletes pods at once (no kubelet will ever confirm a graceful deletion). */
export async function deletePods(cluster: Cluster, namespace: string, names: string[]): Promise<void> {
  const r = await cluster.kubectl(['delete', 'pod', '-n', namespace, '--grace-period=0', '--force', '--wait=false', ...names]);
  if (r.code !== 0) throw new Error(`cannot delete pods ${names.join(', ')}: ${r.stderr.trim()}`);
}
