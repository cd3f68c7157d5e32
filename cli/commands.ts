// The flag tables of every subcommand. `turnout local` flags are a contract
// other tools rely on (--manifests, --http-port, --https-port, --admin-port, --bind).
import { availableParallelism } from 'node:os';
import type { CommandSpec, FlagSpec } from './flags.ts';
import { DEFAULT_HTTP1_ENGINE } from '../proxy/http1/engine.ts';
import { DEFAULT_HEAP_FLAGS, HEAP_FLAGS_ENV } from './heap.ts';

const ingressClass: FlagSpec = { name: 'ingress-class', kind: 'string', default: 'turnout', metavar: 'NAME', help: 'IngressClass name this controller serves' };
const defaultCert: FlagSpec = { name: 'default-cert', kind: 'string', metavar: 'FILE', help: 'PEM certificate for hosts without a usable Secret (self-signed if unset)' };
const defaultKey: FlagSpec = { name: 'default-key', kind: 'string', metavar: 'FILE', help: 'PEM private key of --default-cert' };
const timeout: FlagSpec = { name: 'upstream-timeout', kind: 'duration', default: '15s', help: 'Default wait for upstream response headers (annotation turnout.dev/response-timeout overrides)' };
const externalName: FlagSpec = { name: 'enable-external-name', kind: 'boolean', help: 'Serve ExternalName Services: the proxy resolves their name at run time. Off by default: a Service author could point it at the proxy\'s own loopback' };
const dnsMinTtl: FlagSpec = { name: 'dns-min-ttl', kind: 'duration', default: '5s', help: 'Shortest re-resolution interval of an ExternalName backend (and the retry after a failed lookup)' };
const dnsMaxTtl: FlagSpec = { name: 'dns-max-ttl', kind: 'duration', default: '5m', help: 'Longest re-resolution interval of an ExternalName backend, whatever its TTL says' };
const proxyProtocol: FlagSpec = { name: 'proxy-protocol', kind: 'boolean', help: 'The HTTP and HTTPS listeners expect a PROXY protocol (v1/v2) header from a load balancer on every connection, naming the client; connections without one are closed' };
const trustedProxies: FlagSpec = { name: 'trusted-proxies', kind: 'string', metavar: 'CIDR,...', help: 'Proxies in front whose X-Forwarded-For is believed: X-Real-IP becomes the rightmost address not in these ranges' };
const drainTimeout: FlagSpec = { name: 'drain-timeout', kind: 'duration', default: '5m', help: 'On SIGTERM, and for a listener a snapshot removes: how long open requests, websockets and tcp streams may finish before they are cut' };
const reusePort: FlagSpec = { name: 'reuse-port', kind: 'boolean', default: 'true', help: 'Bind listeners with SO_REUSEPORT, so a new proxy process can take over the ports while this one drains (a zero-downtime upgrade)' };
const workers = (dflt: string, why: string): FlagSpec => ({ name: 'workers', kind: 'count', default: dflt, metavar: 'N', help: `Worker processes serving traffic, sharing the ports with SO_REUSEPORT; 0 serves in this process (${why})` });
const http1Engine: FlagSpec = {
  name: 'http1-engine', kind: 'string', default: DEFAULT_HTTP1_ENGINE, metavar: 'ENGINE', choices: ['node', 'net'],
  help: 'Who speaks HTTP/1.1, to clients (plain and TLS) and to upstreams: node (node:http and undici) or net (Turnout\'s own engine on the same llhttp parser, 1.5× the requests per CPU). HTTP/2 is node:http2 either way',
};
const logLevel: FlagSpec = { name: 'log-level', kind: 'string', default: 'info', metavar: 'LEVEL', choices: ['debug', 'info', 'warn', 'error'], help: 'debug, info, warn or error' };

/** `turnout local`: controller and proxy in one process, from a folder of YAML. */
export const LOCAL: CommandSpec = {
  name: 'local',
  summary: 'Serve a folder of Ingress/Route/Service/EndpointSlice/Secret YAML: a controller and a proxy in one process,\nconnected by the same authenticated websocket stream as in a cluster (loopback, random per-run token).',
  flags: [
    { name: 'manifests', kind: 'string', required: true, metavar: 'DIR', help: 'Folder of .yaml/.yml/.json manifests, read recursively and reloaded on change' },
    { name: 'http-port', kind: 'port', default: '8080', help: 'HTTP listener port' },
    { name: 'https-port', kind: 'port', default: '8443', help: 'HTTPS listener port' },
    { name: 'admin-port', kind: 'port', default: '9901', help: 'Admin port (/healthz, /readyz, /snapshot, /status)' },
    { name: 'bind', kind: 'address', default: '127.0.0.1', help: 'Address of the HTTP, HTTPS and admin listeners' },
    ingressClass, defaultCert, defaultKey, timeout, externalName, proxyProtocol, trustedProxies, workers('0', 'the default here'), drainTimeout, reusePort, http1Engine, dnsMinTtl, dnsMaxTtl, logLevel,
  ],
};

/** `turnout controller`: compiles sources into snapshots and streams them to proxies. */
export const CONTROLLER: CommandSpec = {
  name: 'controller',
  summary: 'Watch a cluster (or a folder of manifests), compile snapshots and stream them to proxies over an authenticated websocket.',
  flags: [
    { name: 'manifests', kind: 'string', metavar: 'DIR', help: 'Serve a folder of manifests instead of watching a cluster' },
    { name: 'kubeconfig', kind: 'string', metavar: 'FILE', help: 'Kubeconfig of the cluster to watch and to send TokenReviews to (default: in-cluster configuration)' },
    { name: 'watch-namespace', kind: 'string', metavar: 'NS', help: 'Watch only this namespace (default: all; IngressClasses are cluster-wide)' },
    { name: 'publish-service', kind: 'string', metavar: 'NS/NAME', help: "Write this Service's load-balancer addresses (else its ClusterIP) to Ingress status" },
    { name: 'publish-address', kind: 'string', metavar: 'ADDR,...', help: 'Write these IPs or DNS names to Ingress status instead' },
    { name: 'leader-elect', kind: 'string', metavar: 'BOOL', choices: ['true', 'false'], help: 'Elect one replica (Lease) to write status; every replica serves the stream (default true with a cluster)' },
    { name: 'leader-election-namespace', kind: 'string', metavar: 'NS', help: "Namespace of the Lease (default: the pod's namespace)" },
    { name: 'leader-election-id', kind: 'string', metavar: 'NAME', help: 'Name of the Lease (default turnout-controller)' },
    { name: 'stream-port', kind: 'port', default: '18000', help: 'Port proxies connect to for snapshots' },
    { name: 'stream-bind', kind: 'address', default: '127.0.0.1', help: 'Address of the snapshot stream' },
    { name: 'auth', kind: 'string', default: 'token', metavar: 'MODE', choices: ['token', 'serviceaccount'], help: 'How proxies authenticate: token (the shared --token-file) or serviceaccount (TokenReview of their ServiceAccount token, audience turnout)' },
    { name: 'token-file', kind: 'string', metavar: 'FILE', help: 'File holding the bearer token proxies must present (required with --auth token)' },
    { name: 'allowed-proxy-serviceaccounts', kind: 'string', metavar: 'NS/NAME,...', help: 'ServiceAccounts whose tokens may receive snapshots (required with --auth serviceaccount)' },
    { name: 'stream-cert', kind: 'string', metavar: 'FILE', help: 'PEM certificate of the stream (wss); required unless --stream-bind is loopback' },
    { name: 'stream-key', kind: 'string', metavar: 'FILE', help: 'PEM private key of --stream-cert' },
    { name: 'admin-port', kind: 'port', default: '9902', help: 'Admin port (/healthz, /readyz, /snapshot, /status, /proxies)' },
    { name: 'admin-bind', kind: 'address', default: '127.0.0.1', help: 'Address of the admin port' },
    { name: 'http-port', kind: 'port', default: '8080', help: 'HTTP port the proxies open' },
    { name: 'https-port', kind: 'port', default: '8443', help: 'HTTPS port the proxies open' },
    { name: 'listen-address', kind: 'address', default: '0.0.0.0', help: 'Address the proxies bind their HTTP and HTTPS listeners to' },
    ingressClass, defaultCert, defaultKey, timeout, externalName, proxyProtocol, trustedProxies, logLevel,
  ],
};

/** `turnout proxy`: applies snapshots from a controller and serves traffic. */
export const PROXY: CommandSpec = {
  name: 'proxy',
  summary: 'Connect to a controller, apply each snapshot by swapping a whole new routing table, and serve traffic.',
  flags: [
    { name: 'controller', kind: 'string', required: true, metavar: 'URL', help: 'Snapshot stream URL: wss://HOST:PORT (ws:// only to loopback)' },
    { name: 'controller-ca', kind: 'string', metavar: 'FILE', help: "PEM CA bundle that signed the controller's stream certificate (default: system CAs)" },
    { name: 'token-file', kind: 'string', required: true, metavar: 'FILE', help: 'File holding the bearer token for the controller (a projected ServiceAccount token works; re-read on every reconnect)' },
    { name: 'proxy-id', kind: 'string', metavar: 'ID', help: 'Name reported to the controller (default: hostname-pid)' },
    { name: 'state-dir', kind: 'string', metavar: 'DIR', help: 'Keep the last applied snapshot in DIR/snapshot.json (0600: it holds TLS keys) and serve it at start-up, before the controller answers' },
    { name: 'admin-port', kind: 'port', default: '9901', help: 'Admin port (/healthz, /readyz, /snapshot)' },
    { name: 'admin-bind', kind: 'address', default: '127.0.0.1', help: 'Address of the admin port' },
    workers(String(availableParallelism()), 'default: one per CPU'), drainTimeout, reusePort, http1Engine, dnsMinTtl, dnsMaxTtl, logLevel,
    {
      name: 'heap-flags', kind: 'string', metavar: 'FLAGS',
      help: `V8 flags of the proxy process and its workers (it restarts itself with them, same PID): a small young generation and slow heap growth keep RSS near the live heap. Default "${DEFAULT_HEAP_FLAGS}", or $${HEAP_FLAGS_ENV}; "" for Node's defaults; flags given to node itself win`,
    },
  ],
};

/** Every subcommand, in help order. */
export const COMMANDS: readonly CommandSpec[] = [LOCAL, CONTROLLER, PROXY];
