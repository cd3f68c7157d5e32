// The configuration text of every server the comparison starts, as pure
// functions of ports, worker count and options, so the generated configs can
// be unit-tested without nginx or HAProxy installed. servers.ts writes them
// to a temp folder and starts the programs.

/** TLS material on disk (nginx reads cert + key; HAProxy one PEM with both). */
export interface TlsFiles {
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  /** certificate then key, for HAProxy's `crt`. */
  readonly pemFile: string;
}

/** What a proxy serves besides plain HTTP keep-alive on one port. */
export interface ProxyOptions {
  /** Also listen with TLS, ALPN h2 and http/1.1 (scenario 1b). */
  readonly tls?: TlsFiles;
  /** Route only these Host names (scenario 3); unknown hosts get 404/503. */
  readonly hosts?: readonly string[];
  /** HAProxy's map file for `hosts` (written by servers.ts). */
  readonly mapFile?: string;
}

/** The host name TLS clients use (SNI and :authority); the certificate is for it. */
export const TLS_HOST = 'bench.test';

/** The n-th routed host of scenario 3: distinct names under one suffix. */
export function hostName(i: number): string {
  return `h${i}.bench.test`;
}

/** The first n host names of scenario 3. */
export function hostList(n: number): string[] {
  return Array.from({ length: n }, (_, i) => hostName(i));
}

/** nginx's main config around `server` blocks: no daemon, logs in `dir`, keep-alive never capped. */
export function nginxConf(dir: string, workers: number, server: string, upstream = '', http = ''): string {
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
${http}${upstream}
${server}
}
`;
}

/** The backend's server block: a fixed body on every path. */
export function backendServer(port: number, body: string): string {
  return `  server { listen 127.0.0.1:${port}; location / { default_type text/plain; return 200 "${body}"; } }`;
}

const PROXY_LOCATION = 'location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }';

/**
 * nginx as a reverse proxy (keep-alive upstream pool). With `hosts`: a 404
 * default server and one server block per host (issue 8: "nginx uses server
 * blocks"), with a server-names hash big enough for 50k names.
 */
export function nginxProxyConf(dir: string, workers: number, port: number, backendPort: number, n: number, opts: ProxyOptions = {}): string {
  const upstream = `  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; keepalive_requests 1000000; }\n`;
  const change = n > 0 ? `    location = /bench-change-${n} { return 204; }\n` : '';
  const blocks: string[] = [];
  let http = '';
  if (opts.hosts) {
    http = '  server_names_hash_max_size 131072;\n  server_names_hash_bucket_size 128;\n';
    blocks.push(`  server { listen 127.0.0.1:${port} default_server; location / { return 404; } }`);
    for (const h of opts.hosts) blocks.push(`  server { listen 127.0.0.1:${port}; server_name ${h}; ${PROXY_LOCATION} }`);
  } else {
    blocks.push(`  server {\n    listen 127.0.0.1:${port};\n    ${PROXY_LOCATION}\n${change}  }`);
  }
  if (opts.tls) {
    blocks.push(`  server {
    listen 127.0.0.1:${opts.tls.port} ssl http2;
    ssl_certificate ${opts.tls.certFile};
    ssl_certificate_key ${opts.tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ${PROXY_LOCATION}
  }`);
  }
  return nginxConf(dir, workers, blocks.join('\n'), upstream, http);
}

/**
 * HAProxy, http mode, keep-alive both sides. With `hosts`: the backend is
 * chosen by a `map_str` lookup of the Host header in `mapFile` (no default
 * backend, so an unknown host gets 503 and the lookup really happens).
 */
export function haproxyCfg(threads: number, port: number, backendPort: number, n: number, opts: ProxyOptions = {}): string {
  const route = opts.hosts
    ? `  use_backend %[req.hdr(host),lower,map_str(${opts.mapFile ?? 'hosts.map'})]\n`
    : '  default_backend be\n';
  const tls = opts.tls ? `  bind 127.0.0.1:${opts.tls.port} ssl crt ${opts.tls.pemFile} alpn h2,http/1.1\n` : '';
  return `global
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
${tls}${n > 0 ? `  http-request return status 204 if { path /bench-change-${n} }\n` : ''}${route}backend be
  http-reuse always
  server s1 127.0.0.1:${backendPort} maxconn 1000
`;
}

/** HAProxy's map file for `hosts`: every host to backend `be`. */
export function haproxyMap(hosts: readonly string[]): string {
  return hosts.map((h) => `${h} be\n`).join('');
}

/** Turnout's base manifests: the IngressClass, the backend Service and its endpoints, and an empty Service for changes. */
export function turnoutBase(backendPort: number): string {
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
`;
}

/** The catch-all Ingress (every host, path /) used by every scenario but the host-scale one. */
export function turnoutCatchAll(): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: backend, namespace: default }
spec:
  ingressClassName: turnout
  rules: [{ http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: backend, port: { name: http } } } }] } }]
`;
}

/** Change n: an Ingress with a path named after n to a Service without endpoints (503 once live, 200 through / before). */
export function turnoutChange(n: number): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: bench-change, namespace: default }
spec:
  ingressClassName: turnout
  rules: [{ http: { paths: [{ path: /bench-change-${n}, pathType: Exact, backend: { service: { name: bench-empty, port: { name: http } } } }] } }]
`;
}

/** The TLS host for scenario 1b: a kubernetes.io/tls Secret and an Ingress with `tls:` for TLS_HOST. */
export function turnoutTls(cert: string, key: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Secret
metadata: { name: bench-tls, namespace: default }
type: kubernetes.io/tls
data:
  tls.crt: ${b64(cert)}
  tls.key: ${b64(key)}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: bench-tls, namespace: default }
spec:
  ingressClassName: turnout
  tls: [{ hosts: [${TLS_HOST}], secretName: bench-tls }]
  rules: [{ host: ${TLS_HOST}, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: backend, port: { name: http } } } }] } }]
`;
}

/** One Ingress per host (scenario 3), all to the backend Service; `first` numbers the names. */
export function turnoutHostIngresses(hosts: readonly string[], first = 0): string {
  return hosts.map((h, i) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: host-${first + i}, namespace: default }
spec:
  ingressClassName: turnout
  rules: [{ host: ${h}, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: backend, port: { name: http } } } }] } }]
`).join('---\n');
}

/**
 * wrk's Lua script for scenario 3: reads the host list (one per line) once
 * and sends each request with a Host header drawn at random from it.
 */
export function randomHostLua(hostsFile: string): string {
  return `-- scenario 3: a random Host from ${hostsFile} on every request
local hosts = {}
for line in io.lines("${hostsFile}") do hosts[#hosts + 1] = line end
math.randomseed(os.time())
local n = #hosts
request = function()
  return wrk.format(nil, nil, { Host = hosts[math.random(n)] })
end
`;
}
