// gRPC unary call rate through the proxy (not a test): a grpc-js client →
// the proxy's HTTPS listener (TLS, ALPN h2) → an h2c cluster → a grpc-js
// server, all on loopback. The proxy runs in this process, as do client and
// server, so the figure is a floor for the proxy on a shared core, useful to
// compare before/after a change, not a capacity number.
//
//   node_modules/.bin/node bench/grpc.ts [concurrency=32]
//
// Bounded: a 2 s warm-up, then 20,000 calls or 10 s, whichever comes first.
// The direct rate (client → server without the proxy) is printed for scale.
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { sealSnapshot } from '../api/version.ts';
import { DataPlane } from '../proxy/apply.ts';
import { DEFAULT } from '../proxy/testdata/tls.ts';
import { ECHO_SERVICE, echoClient, grpcBackend } from '../proxy/testdata/grpc.ts';
import type { EchoClient } from '../proxy/testdata/grpc.ts';
import { freePort } from '../proxy/testkit.ts';

const concurrency = Number(process.argv[2] ?? 32);


function call(client: EchoClient): Promise<void> {
  return new Promise((resolve, reject) => {
    (client.Echo as (r: string, cb: (err: grpc.ServiceError | null) => void) => void)('ping', (err) => (err ? reject(err) : resolve()));
  });
}

async function rate(client: EchoClient, max: number, ms: number): Promise<{ calls: number; secs: number }> {
  const start = performance.now();
  let calls = 0;
  const worker = async () => {
    while (calls < max && performance.now() - start < ms) {
      calls++;
      await call(client);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { calls, secs: (performance.now() - start) / 1000 };
}

const backend = await grpcBackend('a');
const port = await freePort();
const dp = new DataPlane();
const applied = await dp.apply(sealSnapshot({
  listeners: { https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' } },
  virtualHosts: { '*': { routes: { 'Prefix:/': { match: { type: 'Prefix', path: '/' }, cluster: 'grpc/a', timeoutMs: 10_000, origin: 'bench' } } } },
  clusters: { 'grpc/a': { endpoints: { [`127.0.0.1:${backend.port}`]: { address: '127.0.0.1', port: backend.port } }, protocol: 'h2c' } },
  secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key } },
}));
if (!applied.ok) throw new Error(`apply refused: ${applied.reason}`);

const direct = new (grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo'))(`127.0.0.1:${backend.port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
const proxied = echoClient(port);
for (const [name, client] of [['direct (no proxy)', direct], ['through the proxy', proxied]] as const) {
  await rate(client, 5_000, 2_000);
  const { calls, secs } = await rate(client, 20_000, 10_000);
  console.log(`${name}: ${calls} unary calls in ${secs.toFixed(2)} s = ${Math.round(calls / secs)} calls/s (concurrency ${concurrency})`);
}
direct.close();
proxied.close();
await dp.close();
await backend.close();
