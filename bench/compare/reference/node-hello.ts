// The runtime's ceiling for a server, as a benchmark reference (not part of
// Turnout): Node 24's http.Server answering the backend's 13 bytes itself,
// no proxying. A proxy does this work plus a client's, so a Node proxy on one
// core cannot exceed about half of this figure.
//
//   node_modules/.bin/node bench/compare/reference/node-hello.ts PORT
import http from 'node:http';

const port = Number(process.argv[2]);
if (!port) throw new Error('usage: node-hello.ts PORT');
const HEAD = ['content-type', 'text/plain', 'content-length', '13'];
http.createServer((_req, res) => {
  res.writeHead(200, HEAD);
  res.end('Hello, world!');
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
