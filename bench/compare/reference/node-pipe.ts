// The floor of Node's socket layer, as a benchmark reference (not part of
// Turnout and not an HTTP proxy): each client connection paired with one
// backend connection and bytes copied both ways, no parsing at all. What it
// costs per request is what Node's net layer and the kernel cost a proxy that
// does nothing else; the rest of any Node proxy's cost is HTTP work.
//
//   node_modules/.bin/node bench/compare/reference/node-pipe.ts PORT BACKEND_PORT
import net from 'node:net';

const [port, backendPort] = process.argv.slice(2).map(Number);
if (!port || !backendPort) throw new Error('usage: node-pipe.ts PORT BACKEND_PORT');
net.createServer({ noDelay: true }, (client) => {
  const backend = net.connect({ port: backendPort, host: '127.0.0.1', noDelay: true });
  // 'data' + write rather than pipe(): measured cheaper per request (fewer stream frames).
  client.on('data', (d) => backend.write(d));
  backend.on('data', (d) => client.write(d));
  client.on('error', () => backend.destroy());
  backend.on('error', () => client.destroy());
  client.on('close', () => backend.destroy());
  backend.on('close', () => client.destroy());
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
