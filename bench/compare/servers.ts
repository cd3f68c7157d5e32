// The servers under test, started from configs generated here (templates with
// the ports, worker count and a "change" number filled in) in a temp folder:
// a backend nginx answering 13 bytes, and nginx, HAProxy and Turnout as proxies
// in front of it. `change(n)` really changes each one's configuration (adds a
// route named after n) and triggers its own reload mechanism.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, get, startServer, waitReady, type Server } from './procs.ts';

/** The backend's body: 13 bytes, as in issue 8. */
export const BODY = 'Hello, world!';

/** A running target: where wrk sends load, and how to change its configuration. */
export interface Target {
  readonly name: string;
  readonly port: number;
  /** Applies configuration change number n (a new route) through the server's reload path. */
  change(n: number): Promise<void>;
  /** The status GET /bench-change-n answers once change n is live. */
  readonly changedStatus: number;
  /** The version the server reports serving, when it has one (Turnout). */
  version(): Promise<string | undefined>;
  /** The server's recent output (for diagnostics). */
  output(): string;
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

function nginxConf(dir: string, workers: number, server: string, upstream = ''): string {
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_shutdown_timeout 10s;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
${upstream}
${server}
}
`;
}

async function nginx(name: string, dir: string, conf: (n: number) => string, port: number): Promise<Target> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, 'nginx.conf');
  await fs.writeFile(file, conf(0));
  const s = startServer(name, 'nginx', ['-p', dir, '-c', file]);
  await waitReady(s, port, '/');
  return {
    name, port,
    async change(n) {
      await fs.writeFile(file, conf(n));
      // What `nginx -s reload` does (it reads the pid file and sends SIGHUP),
      // without forking an nginx binary 10 times a second on a 2-core machine.
      process.kill(s.child.pid!, 'SIGHUP');
    },
    changedStatus: 204,
    version: async () => undefined,
    output: s.output,
    stop: () => s.stop(),
  };
}

/** The backend: nginx, one worker, a fixed 13-byte body on every path. */
export async function startBackend(dir: string): Promise<Target> {
  const port = await freePort();
  const server = `  server { listen 127.0.0.1:${port}; location / { default_type text/plain; return 200 "${BODY}"; } }`;
  return nginx('backend nginx', dir, () => nginxConf(dir, 1, server), port);
}

/** nginx as a reverse proxy with a keep-alive upstream pool. */
export async function startNginxProxy(dir: string, workers: number, backendPort: number): Promise<Target> {
  const port = await freePort();
  const upstream = `  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; keepalive_requests 1000000; }`;
  const conf = (n: number) => nginxConf(dir, workers, `  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
${n > 0 ? `    location = /bench-change-${n} { return 204; }\n` : ''}  }`, upstream);
  return nginx(`nginx x${workers}`, dir, conf, port);
}

/** HAProxy in master-worker mode (-W), http mode, keep-alive on both sides; reload is SIGUSR2 to the master. */
export async function startHaproxy(dir: string, threads: number, backendPort: number): Promise<Target> {
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const file = path.join(dir, 'haproxy.cfg');
  const conf = (n: number) => `global
  nbthread ${threads}
  maxconn 4000
  hard-stop-after 10s
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${port}
${n > 0 ? `  http-request return status 204 if { path /bench-change-${n} }\n` : ''}  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:${backendPort} maxconn 1000
`;
  await fs.writeFile(file, conf(0));
  const s = startServer(`haproxy x${threads}`, 'haproxy', ['-W', '-db', '-f', file, '-p', path.join(dir, 'haproxy.pid')]);
  await waitReady(s, port, '/');
  return {
    name: s.name, port,
    async change(n) {
      await fs.writeFile(file, conf(n));
      process.kill(s.child.pid!, 'SIGUSR2');
    },
    changedStatus: 204,
    version: async () => undefined,
    output: s.output,
    stop: () => s.stop(),
  };
}

function manifests(backendPort: number): string {
  return `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: turnout }
spec: { controller: turnout.dev/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: backend, namespace: default }
spec: { ports: [{ name: http, port: 80, targetPort: ${backendPort} }] }
---
apiVersion: v1
kind: Service
metadata: { name: bench-empty, namespace: default }
spec: { ports: [{ name: http, port: 80, targetPort: 9 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: backend-1, namespace: default, labels: { kubernetes.io/service-name: backend } }
addressType: IPv4
ports: [{ name: http, port: ${backendPort} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: backend, namespace: default }
spec:
  ingressClassName: turnout
  rules: [{ http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: backend, port: { name: http } } } }] } }]
`;
}

// Change n: a second Ingress with a path named after n, to a Service without
// endpoints, so GET /bench-change-n answers 503 once the change is live
// (and 200 from the backend, through the / route, before).
function changeManifest(n: number): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: bench-change, namespace: default }
spec:
  ingressClassName: turnout
  rules: [{ http: { paths: [{ path: /bench-change-${n}, pathType: Exact, backend: { service: { name: bench-empty, port: { name: http } } } }] } }]
`;
}

/** Turnout local mode (controller + proxy, real manifest reload path); extra node flags e.g. --cpu-prof. */
export async function startTurnout(dir: string, workers: number, backendPort: number, nodeFlags: string[] = []): Promise<Target> {
  const mdir = path.join(dir, 'manifests');
  await fs.mkdir(mdir, { recursive: true });
  await fs.writeFile(path.join(mdir, 'backend.yaml'), manifests(backendPort));
  const [port, https, admin] = [await freePort(), await freePort(), await freePort()];
  const args = [...nodeFlags, path.join(root, 'bin/turnout.js'), 'local', '--manifests', mdir, '--workers', String(workers),
    '--http-port', String(port), '--https-port', String(https), '--admin-port', String(admin), '--log-level', process.env.BENCH_TURNOUT_LOG ?? 'warn', '--drain-timeout', '2s'];
  const s = startServer(`turnout --workers ${workers}`, process.execPath, args);
  await waitReady(s, port, '/', 200, 30_000);
  return {
    name: s.name, port,
    async change(n) {
      // Rewritten in place (one small write), as most editors do. (Renames
      // were missed until the manifest source stopped using Node's recursive
      // watcher: docs/performance.md.)
      await fs.writeFile(path.join(mdir, 'change.yaml'), changeManifest(n));
    },
    changedStatus: 503,
    output: s.output,
    async version() {
      try { return String(JSON.parse((await get(admin, '/snapshot')).body).version); } catch { return undefined; }
    },
    async stop() {
      // SIGINT: local mode's clean shutdown (writes --cpu-prof profiles); the group is killed after.
      if (s.child.exitCode === null) {
        const exited = new Promise((resolve) => s.child.once('exit', resolve));
        process.kill(s.child.pid!, 'SIGINT');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      }
      await s.stop();
    },
  };
}
