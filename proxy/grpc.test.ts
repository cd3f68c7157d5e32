// gRPC through the proxy with real @grpc/grpc-js clients and servers on
// loopback: client → HTTPS listener (TLS, ALPN h2) → h2c cluster (appProtocol
// kubernetes.io/h2c) → gRPC server. Unary, server streaming and bidi calls,
// non-zero statuses (in trailers, and as trailers-only answers), and a bidi
// stream that lives through snapshot swaps.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { sealSnapshot } from '../api/version.ts';
import type { Snapshot } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import { cluster, content, freePort, route, testEngine, vhost } from './testkit.ts';
import { DEFAULT } from './testdata/tls.ts';
import { echoClient, grpcBackend } from './testdata/grpc.ts';
import type { EchoClient, GrpcBackend } from './testdata/grpc.ts';

let dp: DataPlane;
let port: number;
let a: GrpcBackend;
let b: GrpcBackend;
let client: EchoClient;

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 2_000 });
  port = await freePort();
  [a, b] = [await grpcBackend('a'), await grpcBackend('b')];
  client = echoClient(port);
});

after(async () => {
  client.close();
  await dp.close();
  await Promise.all([a.close(), b.close()]);
});

/** The service's path prefix routed to `backend` (an h2c cluster); `generation` only changes the version. */
function snapshot(backend: GrpcBackend, generation = 0): Snapshot {
  return sealSnapshot(content({
    listeners: { https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' } },
    virtualHosts: {
      '*': vhost([route('Prefix', '/test.Echo', `grpc/${backend === a ? 'a' : 'b'}`, 10_000)]),
      ...(generation > 0 ? { [`gen${generation}.example`]: vhost([route('Prefix', '/', 'grpc/a')]) } : {}),
    },
    clusters: {
      'grpc/a': { ...cluster(a.port), protocol: 'h2c' },
      'grpc/b': { ...cluster(b.port), protocol: 'h2c' },
    },
    secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key } },
  }));
}

const deadline = () => ({ deadline: Date.now() + 10_000 });

function unary(method: 'Echo' | 'Fail', request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    (client[method] as (r: string, m: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: string) => void) => void)(
      request, new grpc.Metadata(), deadline(), (err, res) => (err ? reject(err) : resolve(res as string)));
  });
}

/** Every message of a server-streaming call, and how it ended. */
function serverStream(method: 'Count' | 'CountThenFail', request: string): Promise<{ messages: string[]; error: grpc.ServiceError | undefined }> {
  return new Promise((resolve) => {
    const call = (client[method] as (r: string, o: grpc.CallOptions) => grpc.ClientReadableStream<string>)(request, deadline());
    const messages: string[] = [];
    let error: grpc.ServiceError | undefined;
    call.on('data', (m: string) => messages.push(m));
    call.on('error', (e: grpc.ServiceError) => { error = e; });
    call.on('status', () => resolve({ messages, error }));
  });
}

test('unary calls pass through the HTTPS listener to an h2c backend, metadata included', async () => {
  assert.ok((await dp.apply(snapshot(a))).ok);
  assert.equal(await unary('Echo', 'hello'), 'a:hello');
  const md = a.lastMetadata;
  assert.equal(md?.get('x-forwarded-proto')[0], 'https');
  const many = await Promise.all(Array.from({ length: 30 }, (_, i) => unary('Echo', String(i))));
  assert.deepEqual(many, Array.from({ length: 30 }, (_, i) => `a:${i}`));
});

test('a non-zero grpc-status is relayed: a trailers-only answer and an error after messages', async () => {
  assert.ok((await dp.apply(snapshot(a))).ok);
  await assert.rejects(unary('Fail', 'thing'), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, 'no thing here');
    return true;
  });
  const r = await serverStream('CountThenFail', 'go');
  assert.deepEqual(r.messages, ['1', '2']);
  assert.equal(r.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(r.error?.details, 'out of numbers');
});

test('server streaming delivers every message, then OK', async () => {
  assert.ok((await dp.apply(snapshot(a))).ok);
  const r = await serverStream('Count', '500');
  assert.equal(r.error, undefined);
  assert.equal(r.messages.length, 500);
  assert.equal(r.messages[499], '500');
});

test('a bidi stream keeps its backend through snapshot swaps, even one that moves the route elsewhere', { timeout: 60_000 }, async () => {
  assert.ok((await dp.apply(snapshot(a))).ok);
  const call = (client.Chat as (o: grpc.CallOptions) => grpc.ClientDuplexStream<string, string>)({ deadline: Date.now() + 30_000 });
  const replies: string[] = [];
  let waiting: (() => void) | undefined;
  call.on('data', (m: string) => { replies.push(m); waiting?.(); });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => {});
  const say = async (m: string): Promise<string> => {
    const n = replies.length;
    const got = new Promise<void>((resolve) => { waiting = resolve; });
    call.write(m);
    while (replies.length === n) await got;
    return replies[n] as string;
  };
  assert.equal(await say('m0'), 'a:m0');
  for (let gen = 1; gen <= 5; gen++) {
    assert.ok((await dp.apply(snapshot(a, gen))).ok);
    assert.equal(await say(`m${gen}`), `a:m${gen}`);
  }
  // The route now sends new calls to b; the open stream stays on a.
  assert.ok((await dp.apply(snapshot(b, 6))).ok);
  assert.equal(await say('m6'), 'a:m6');
  assert.equal(await unary('Echo', 'new'), 'b:new');
  call.end();
  assert.equal((await status).code, grpc.status.OK);
});
