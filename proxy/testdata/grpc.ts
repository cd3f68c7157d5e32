// A gRPC service defined in code (no .proto, no protoc): messages are UTF-8
// strings serialized as their bytes. Used by proxy/grpc.test.ts and
// bench/grpc.ts to run real @grpc/grpc-js clients and servers through the
// proxy. Never used outside tests and benchmarks.
import * as grpc from '@grpc/grpc-js';
import { DEFAULT } from './tls.ts';

const ser = (s: string): Buffer => Buffer.from(s, 'utf8');
const de = (b: Buffer): string => b.toString('utf8');

function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<string, string> {
  return {
    path: `/test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: ser,
    requestDeserialize: de,
    responseSerialize: ser,
    responseDeserialize: de,
  };
}

/**
 * test.Echo: Echo (unary), Fail (unary, always NOT_FOUND: a trailers-only
 * answer), Count (server streaming: "1".."n", then OK), CountThenFail (two
 * messages, then RESOURCE_EXHAUSTED in the trailers), Chat (bidi: each
 * message echoed back as "<backend>:<message>").
 */
export const ECHO_SERVICE = {
  Echo: method('Echo', false, false),
  Fail: method('Fail', false, false),
  Count: method('Count', false, true),
  CountThenFail: method('CountThenFail', false, true),
  Chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

/** The generated-style client for ECHO_SERVICE, with its methods typed loosely. */
export type EchoClient = grpc.Client & Record<keyof typeof ECHO_SERVICE, (...args: unknown[]) => unknown>;

/** A running gRPC backend (h2c, insecure) that tags answers with its name. */
export interface GrpcBackend {
  /** Bound port (set once the server listens). */
  port: number;
  readonly server: grpc.Server;
  /** Metadata of the last call, to check what the proxy forwarded. */
  lastMetadata: grpc.Metadata | undefined;
  close(): Promise<void>;
}

/** Starts an ECHO_SERVICE server on 127.0.0.1:0 in clear text (the proxy reaches it with h2c). */
export async function grpcBackend(name: string): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const backend: GrpcBackend = {
    port: 0,
    server,
    lastMetadata: undefined,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  const seen = (call: { metadata: grpc.Metadata }) => { backend.lastMetadata = call.metadata; };
  server.addService(ECHO_SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => {
      seen(call);
      cb(null, `${name}:${call.request}`);
    },
    Fail: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => {
      seen(call);
      cb({ code: grpc.status.NOT_FOUND, details: `no ${call.request} here` });
    },
    Count: (call: grpc.ServerWritableStream<string, string>) => {
      seen(call);
      const n = Number(call.request);
      for (let i = 1; i <= n; i++) call.write(String(i));
      call.end();
    },
    CountThenFail: (call: grpc.ServerWritableStream<string, string>) => {
      seen(call);
      call.write('1');
      call.write('2');
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'out of numbers' });
    },
    Chat: (call: grpc.ServerDuplexStream<string, string>) => {
      seen(call);
      call.on('data', (m: string) => call.write(`${name}:${m}`));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  backend.port = port;
  return backend;
}

/**
 * A client of ECHO_SERVICE through the proxy's HTTPS listener at `port`: TLS
 * with ALPN h2, trusting the listener's default certificate (DEFAULT, whose
 * name the client is told to expect).
 */
export function echoClient(port: number): EchoClient {
  const Ctor = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  const creds = grpc.credentials.createSsl(Buffer.from(DEFAULT.cert));
  return new Ctor(`127.0.0.1:${port}`, creds, {
    'grpc.ssl_target_name_override': 'turnout-default.invalid',
    'grpc.default_authority': 'turnout-default.invalid',
  }) as unknown as EchoClient;
}
