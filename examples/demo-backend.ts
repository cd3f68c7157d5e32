// The tiny backend `npm start` runs next to Turnout so a first `curl` shows a
// routed answer. examples/demo.yaml points its EndpointSlice at it.
// examples/50-tcp-and-passthrough.yaml passes TLS through to its HTTPS side,
// which presents its own self-signed certificate.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { generate } from 'selfsigned';

/** Where examples/demo.yaml expects the demo backend. */
export const DEMO_BACKEND = { address: '127.0.0.1', port: 18081 };

/** Where examples/50-tcp-and-passthrough.yaml expects its HTTPS side. */
export const DEMO_TLS_BACKEND = { address: '127.0.0.1', port: 18443 };

/** The Common Name of its certificate: what a passthrough client sees. */
export const DEMO_TLS_CN = 'Turnout demo backend';

/** Starts the demo backend; it answers every request with what it received. */
export function startDemoBackend(address = DEMO_BACKEND.address, port = DEMO_BACKEND.port): Promise<Server> {
  return listen(createServer(answer), address, port, 'demo backend');
}

/** Starts the demo backend's HTTPS side, with a certificate generated now. */
export async function startDemoTlsBackend(address = DEMO_TLS_BACKEND.address, port = DEMO_TLS_BACKEND.port): Promise<Server> {
  const pems = await generate([{ name: 'commonName', value: DEMO_TLS_CN }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
  return listen(createHttpsServer({ cert: pems.cert, key: pems.private }, answer), address, port, 'demo TLS backend');
}

function answer(req: IncomingMessage, res: ServerResponse): void {
  const body =
    `Hello from the Turnout demo backend.\n` +
    `You asked for ${req.method} ${req.url} on host ${req.headers.host ?? '(none)'}.\n` +
    `x-forwarded-for: ${req.headers['x-forwarded-for'] ?? ''}\n` +
    `x-forwarded-proto: ${req.headers['x-forwarded-proto'] ?? ''}\n`;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function listen(server: Server, address: string, port: number, what: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`${what}: cannot listen on ${address}:${port}: ${err.code ?? err.message}`)),
    );
    server.listen(port, address, () => resolve(server));
  });
}
