// The backend of scenario 5: nginx as a backend cannot echo websockets, so
// this small Node server answers plain GETs with the same 13 bytes and
// echoes every websocket message (ws, no compression). It runs in its own
// process (started through procs.ts, so it is killed with the rest), with
// long keep-alive timeouts so that the backend never closes a proxy's idle
// upstream connection during the run (that would be the backend's doing, not
// the proxy's).
//
//   node bench/compare/ws-backend.ts PORT
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { freePort, startServer, waitReady, type Server } from './procs.ts';

/** Starts the backend on a free port; resolves once it answers GET /. */
export async function startWsBackend(): Promise<{ port: number; server: Server }> {
  const port = await freePort();
  const server = startServer('ws backend', process.execPath, [fileURLToPath(import.meta.url), String(port)]);
  await waitReady(server, port, '/');
  return { port, server };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const body = Buffer.from('Hello, world!');
  const srv = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  srv.keepAliveTimeout = 120_000;
  srv.headersTimeout = 130_000;
  srv.requestTimeout = 0;
  srv.maxConnections = 20_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  srv.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, binary) => ws.send(data, { binary }));
      ws.on('error', () => ws.terminate());
    });
  });
  srv.listen(Number(process.argv[2]), '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
