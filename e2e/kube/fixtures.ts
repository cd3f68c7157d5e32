// What the e2e/kube suites apply and serve alike: the Route CRD, the
// controller's RBAC, the app namespace with its `web` Service, an Ingress
// template, and an echo backend at the pod address.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { Proc } from '../harness.ts';
import type { Cluster } from './cluster.ts';
import { podAddress } from './pods.ts';
import { liveGroups } from './procs.ts';

/** The Route CRD, as `kubectl apply -f` takes it. */
export const CRD = fileURLToPath(new URL('../../crds/turnout.dev_routes.yaml', import.meta.url));

/** The controller's RBAC (the chart grants the same; charts/turnout/chart.test.ts checks). */
export const RBAC = readFileSync(fileURLToPath(new URL('./rbac.yaml', import.meta.url)), 'utf8');

/** Namespace `app` and its Service `web` (port 80 → the pods' named port `http`). */
export const APP = `apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`;

/** The IngressClass `turnout`, APP, and the Service a controller publishes (--publish-service turnout-system/turnout). */
export const SETUP = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: turnout}
spec: {controller: turnout.dev/ingress-controller}
---
${APP}---
apiVersion: v1
kind: Service
metadata: {name: turnout, namespace: turnout-system}
spec:
  ports: [{name: http, port: 80}]
`;

/** An Ingress in `app` sending every path of `host` to `service` port 80. */
export const ingress = (name: string, host: string, service = 'web', className = 'turnout') => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ${name}, namespace: app}
spec:
  ingressClassName: ${className}
  rules:
  - host: ${host}
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: ${service}, port: {number: 80}}}}
`;

/** An echo backend (`<name> <url>`) at the machine's pod address (EndpointSlices refuse loopback). */
export async function podBackend(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => res.end(`${name} ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, podAddress(), resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * The suites' teardown: the Turnout processes, the backend and the control
 * plane stopped, and none of them left running (a leak here would make the
 * next suite's ports and process counts lie).
 */
export async function teardown(procs: readonly Proc[], backend: Server | undefined, cluster: Cluster | undefined): Promise<void> {
  for (const p of procs) await p.stop();
  backend?.close();
  const pids = cluster ? Object.values(cluster.procs).map((p) => p.pid) : [];
  await cluster?.stop();
  assert.equal(procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null).length, 0, 'turnout processes left running');
  assert.deepEqual(liveGroups().filter((g) => pids.includes(g.pid)), [], 'control-plane processes left running');
}
