// The runtime's own limits, run next to the proxies as reference rows (not
// contenders): Node's http.Server answering by itself, the least a Node proxy
// on undici does, the same with undici swapped for a lean llhttp client, a
// net-level Node proxy parsing both sides with llhttp, and a TCP byte pipe with
// no HTTP at all (bench/compare/reference/). They show how much of
// the distance between Turnout and nginx belongs to Node's HTTP stack, and how
// much a data plane rewritten below it could win back.
import { fileURLToPath } from 'node:url';
import { freePort, startServer, waitReady } from './procs.ts';
import type { Cert, Target } from './servers.ts';

const dir = fileURLToPath(new URL('./reference/', import.meta.url));

/** Which reference: `node-hello` answers itself; the others relay to the backend. */
export type ReferenceKind = 'node-hello' | 'node-proxy' | 'node-hybrid' | 'node-raw' | 'node-pipe';

const NAMES: Record<ReferenceKind, string> = {
  'node-hello': 'Node http.Server alone (ceiling)',
  'node-proxy': 'minimal Node proxy (floor)',
  'node-hybrid': 'http.Server + lean llhttp client (prototype)',
  'node-raw': 'net-level Node proxy, llhttp (prototype)',
  'node-pipe': 'Node TCP byte pipe, no HTTP',
};

/** Starts a reference server on a free port; it has no configuration to change. */
export async function startReference(kind: ReferenceKind, backendPort: number): Promise<Target> {
  const port = await freePort();
  return start(NAMES[kind], port, undefined, [`${dir}${kind}.ts`, String(port), String(backendPort)]);
}

/** HTTP/2 references: Node's http2 server answering by itself over TLS, through the compatibility or the stream API. */
export type H2ReferenceKind = 'compat' | 'stream';

/** Starts an HTTP/2 reference on free ports with `cert`: `tlsPort` serves h2, `port` readiness only. */
export async function startH2Reference(kind: H2ReferenceKind, cert: Cert): Promise<Target> {
  const port = await freePort();
  const tlsPort = await freePort();
  return start(`Node http2 alone, ${kind === 'compat' ? 'compatibility' : 'stream'} API (ceiling)`, port, tlsPort,
    [`${dir}node-h2.ts`, String(port), String(tlsPort), kind, cert.certFile, cert.keyFile]);
}

/** Runs one reference script and waits until `port` answers; a Target without configuration. */
async function start(name: string, port: number, tlsPort: number | undefined, args: string[]): Promise<Target> {
  const t0 = performance.now();
  const s = startServer(name, process.execPath, args);
  // A server that never answers is stopped before the error goes up (else it keeps the bench alive).
  await waitReady(s, port, '/').catch(async (err: unknown) => { await s.stop(); throw err; });
  return {
    name: s.name, port, tlsPort, pid: s.child.pid, startMs: performance.now() - t0,
    change: () => Promise.reject(new Error(`${name} has no configuration to change`)),
    changedStatus: 0,
    version: async () => undefined,
    output: s.output,
    stop: () => s.stop(),
  };
}
