// nginx and HAProxy for scenario 5: the same proxies as servers.ts but able
// to carry a thousand long-lived connections and websockets: nginx passes
// Upgrade/Connection on (a map keeps plain requests on the keep-alive
// upstream pool) and gets enough worker connections and open files; HAProxy
// gets a tunnel timeout and a server maxconn above the connection count (with
// servers.ts's maxconn 1000, websocket tunnels would take every slot and queue
// the plain requests). Turnout needs nothing special (servers.ts startTurnout).
// Old workers are bounded as in servers.ts: nginx worker_shutdown_timeout and
// HAProxy hard-stop-after, both 10 s.
import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './procs.ts';
import { nofileHardLimit } from './proctree.ts';

// Open files a proxy may have: a child can raise its soft limit up to our hard
// limit (20,000 here); nginx asks for it with worker_rlimit_nofile, HAProxy
// derives it from maxconn (about 2 files per connection) and refuses to start
// above the limit. Capped so a huge limit does not make huge tables.
const nofile = () => Math.min(20_000, nofileHardLimit());
import { reloadable, type Target } from './servers.ts';

/** nginx (1 worker) in front of `backendPort`, websockets passed on; change(n) adds a location and sends SIGHUP. */
export async function startNginxWs(dir: string, backendPort: number): Promise<Target> {
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const file = path.join(dir, 'nginx.conf');
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const conf = (n: number) => `${user}daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile ${nofile()};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_shutdown_timeout 10s;
events { worker_connections ${Math.floor(nofile() / 2)}; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backend; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s; proxy_send_timeout 3600s;
    }
${n > 0 ? `    location = /bench-change-${n} { return 204; }\n` : ''}  }
}
`;
  return reloadable('nginx x1', 'nginx', ['-p', dir, '-c', file], file, conf, port, 'SIGHUP', {});
}

/** HAProxy master-worker (1 thread) in front of `backendPort`; change(n) adds a rule and sends SIGUSR2. */
export async function startHaproxyWs(dir: string, backendPort: number): Promise<Target> {
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const file = path.join(dir, 'haproxy.cfg');
  const conf = (n: number) => `global
  nbthread 1
  maxconn ${Math.min(6000, Math.floor((nofile() - 100) / 2))}
  hard-stop-after 10s
defaults
  mode http
  timeout connect 5s
  timeout client 75s
  timeout server 75s
  timeout tunnel 3600s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${port}
${n > 0 ? `  http-request return status 204 if { path /bench-change-${n} }\n` : ''}  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:${backendPort} maxconn 5000
`;
  return reloadable('haproxy x1', 'haproxy', ['-W', '-db', '-f', file, '-p', path.join(dir, 'haproxy.pid')], file, conf, port, 'SIGUSR2', {});
}
