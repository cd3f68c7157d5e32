// The runtime's HTTP/2 ceiling, as a benchmark reference (not part of
// Turnout): Node 24's http2 secure server answering the backend's 13 bytes
// itself over TLS (ALPN h2), through the compatibility API (request/response
// objects, what Turnout's https listener uses) or the stream API (`stream`
// event, `respond()`). PORT answers plain HTTP for readiness only.
//
//   node_modules/.bin/node bench/compare/reference/node-h2.ts PORT TLS_PORT compat|stream CERT_FILE KEY_FILE
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';

const [port, tlsPort, mode, certFile, keyFile] = process.argv.slice(2);
if (!port || !tlsPort || (mode !== 'compat' && mode !== 'stream') || !certFile || !keyFile) {
  throw new Error('usage: node-h2.ts PORT TLS_PORT compat|stream CERT_FILE KEY_FILE');
}
const BODY = 'Hello, world!';
const server = http2.createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), allowHTTP1: true });
if (mode === 'compat') {
  server.on('request', (_req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '13' });
    res.end(BODY);
  });
} else {
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': '13' });
    stream.end(BODY);
  });
}
server.listen(Number(tlsPort), '127.0.0.1');
http.createServer((_req, res) => res.end('ready')).listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
