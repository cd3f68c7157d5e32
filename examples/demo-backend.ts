// The tiny backend `npm start` runs next to Turnout so a first `curl` shows a
// routed answer. examples/demo.yaml points its EndpointSlice at it.
import { createServer, type Server } from 'node:http';

/** Where examples/demo.yaml expects the demo backend. */
export const DEMO_BACKEND = { address: '127.0.0.1', port: 18081 };

/** Starts the demo backend; it answers every request with what it received. */
export function startDemoBackend(address = DEMO_BACKEND.address, port = DEMO_BACKEND.port): Promise<Server> {
  const server = createServer((req, res) => {
    const body =
      `Hello from the Turnout demo backend.\n` +
      `You asked for ${req.method} ${req.url} on host ${req.headers.host ?? '(none)'}.\n` +
      `x-forwarded-for: ${req.headers['x-forwarded-for'] ?? ''}\n` +
      `x-forwarded-proto: ${req.headers['x-forwarded-proto'] ?? ''}\n`;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`demo backend: cannot listen on ${address}:${port}: ${err.code ?? err.message}`)),
    );
    server.listen(port, address, () => resolve(server));
  });
}
