import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { sealSnapshot } from '../api/version.ts';
import type { Snapshot, VirtualHost } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import type { TestServer } from './testkit.ts';
import { cluster, content, echoBackend, freePort, route, testEngine, vhost } from './testkit.ts';
import { BAR, DEFAULT, FOO } from './testdata/tls.ts';

// A TLS backend that presents BAR's certificate and echoes "<name>:<line>"
// for each line: the client must see BAR (the backend's), never the proxy's.
interface TlsBackend { port: number; accepted: number; close(): Promise<void> }

async function tlsEcho(name: string): Promise<TlsBackend> {
  const sockets = new Set<tls.TLSSocket>();
  const b = { port: 0, accepted: 0, close: async () => {} };
  const server = tls.createServer({ cert: BAR.cert, key: BAR.key }, (s) => {
    b.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.setEncoding('utf8');
    s.on('data', (d: string) => s.write(`${name}:${d}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.port = (server.address() as AddressInfo).port;
  b.close = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return b;
}

let dp: DataPlane;
let port: number;
let db: TlsBackend;
let db2: TlsBackend;
let web: TestServer;

before(async () => {
  dp = new DataPlane({ http1Engine: testEngine(), limits: { handshakeTimeoutMs: 400, headersTimeoutMs: 400, requestTimeoutMs: 800 } });
  port = await freePort();
  [db, db2, web] = await Promise.all([tlsEcho('db'), tlsEcho('db2'), echoBackend('web')]);
});

after(async () => {
  await dp.close();
  await Promise.all([db.close(), db2.close(), web.close()]);
});

const pass = (cluster: string): VirtualHost => ({ passthrough: { backends: [{ cluster, weight: 1 }] }, routes: {} });

function snapshot(extra: Record<string, VirtualHost> = {}, dbCluster = 'c/db:1'): Snapshot {
  return sealSnapshot(content({
    listeners: { https: { protocol: 'https', address: '127.0.0.1', port, defaultSecret: '@default' } },
    virtualHosts: {
      'db.example.com': pass(dbCluster),
      '*.pg.example.com': pass(dbCluster),
      // An exact terminated host under a passthrough wildcard stays terminated.
      'admin.pg.example.com': vhost([route('Prefix', '/', 'c/web:1')], 'ns/foo'),
      'foo.com': vhost([route('Prefix', '/', 'c/web:1')], 'ns/foo'),
      ...extra,
    },
    clusters: { 'c/db:1': cluster(db.port), 'c/db2:1': cluster(db2.port), 'c/web:1': cluster(web.port) },
    secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key }, 'ns/foo': { cert: FOO.cert, key: FOO.key } },
  }));
}

/** A TLS connection through the proxy: the certificate's O= and a line echoed back. */
function connect(servername: string | undefined): Promise<{ org: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      resolve({ org: String(socket.getPeerCertificate().subject?.O), socket });
    });
    socket.setEncoding('utf8');
    socket.on('error', reject);
  });
}

function echo(socket: tls.TLSSocket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (d: string) => resolve(d));
    socket.once('error', reject);
    socket.write(line);
  });
}

/** Resolves with how long the server took to close a raw connection that sent `bytes`. */
function closedAfter(bytes: Buffer | string): Promise<{ ms: number; data: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let data = '';
    const s = net.connect({ host: '127.0.0.1', port }, () => { if (bytes.length > 0) s.write(bytes); });
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => resolve({ ms: Date.now() - t0, data }));
  });
}

test('a passthrough host gets the backend\'s own TLS: its certificate, its bytes, undecrypted', async () => {
  assert.ok((await dp.apply(snapshot())).ok);
  for (const name of ['db.example.com', 'DB.Example.com', 'x.pg.example.com']) {
    const { org, socket } = await connect(name);
    assert.equal(org, BAR.org, name);
    assert.equal(await echo(socket, 'hello\n'), 'db:hello\n');
    socket.destroy();
  }
});

test('other names, no SNI and an exact host under a passthrough wildcard are terminated by the proxy', async () => {
  assert.ok((await dp.apply(snapshot())).ok);
  const cases: Array<[string | undefined, string]> = [['foo.com', FOO.org], ['admin.pg.example.com', FOO.org], ['other.com', DEFAULT.org], [undefined, DEFAULT.org]];
  for (const [name, org] of cases) {
    const c = await connect(name);
    assert.equal(c.org, org, String(name));
    c.socket.destroy();
  }
  // And HTTP over the terminated TLS still routes (the front handed the
  // socket to the HTTPS server with the peeked bytes put back).
  const body = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'foo.com', rejectUnauthorized: false }, () => {
      s.write('GET /x HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n');
    });
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
  assert.match(body, /^HTTP\/1.1 200/);
  assert.match(body, /"backend":"web"/);
});

test('an open passthrough connection survives swaps; a new connection follows the new backends', async () => {
  assert.ok((await dp.apply(snapshot())).ok);
  const { socket } = await connect('db.example.com');
  assert.equal(await echo(socket, 'a\n'), 'db:a\n');
  for (let i = 0; i < 5; i++) {
    assert.ok((await dp.apply(snapshot({ [`h${i}.com`]: vhost([route('Prefix', '/', 'c/web:1')]) }, i % 2 === 0 ? 'c/db2:1' : 'c/db:1'))).ok);
    assert.equal(await echo(socket, `${i}\n`), `db:${i}\n`, 'the open connection keeps its backend');
  }
  socket.destroy();
  assert.ok((await dp.apply(snapshot({}, 'c/db2:1'))).ok);
  const next = await connect('db.example.com');
  assert.equal(await echo(next.socket, 'b\n'), 'db2:b\n');
  next.socket.destroy();
});

test('a passthrough host whose backend is unresolved closes the connection; the listener keeps serving', async () => {
  assert.ok((await dp.apply(snapshot({ 'gone.example.com': { passthrough: { backends: [{ weight: 1 }] }, routes: {} } }))).ok);
  await assert.rejects(connect('gone.example.com'));
  const { org, socket } = await connect('foo.com');
  assert.equal(org, FOO.org);
  socket.destroy();
});

test('the peek is bounded: silence, a partial ClientHello and plain HTTP are closed; HTTP timeouts still apply behind it', async () => {
  assert.ok((await dp.apply(snapshot())).ok);
  const silent = await closedAfter('');
  assert.ok(silent.ms >= 300 && silent.ms < 5_000, `silent client closed after ${silent.ms} ms`);
  const partial = await closedAfter(Buffer.from([22, 3, 1, 0, 200, 1, 0, 0]));
  assert.ok(partial.ms >= 300 && partial.ms < 5_000, `partial hello closed after ${partial.ms} ms`);
  const plain = await closedAfter('GET / HTTP/1.1\r\nHost: foo.com\r\n\r\n');
  assert.ok(!plain.data.includes('HTTP/1.1 200'), 'plain HTTP on the TLS port is not served');
  // Headers that never finish over terminated TLS: the HTTP server's
  // headersTimeout (checked by the timer it starts on 'listening') closes it.
  const t0 = Date.now();
  const slow = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'foo.com', rejectUnauthorized: false }, () => s.write('GET / HTTP/1.1\r\nHost: foo.com\r\n'));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('error', () => {});
    s.on('close', () => resolve(out));
  });
  assert.match(slow, /^HTTP\/1.1 408/);
  assert.ok(Date.now() - t0 < 10_000);
});

test('a removed https listener drains a passthrough connection, then cuts it at the deadline', async () => {
  const local = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 300 });
  const p = await freePort();
  const snap = (listeners: boolean) => sealSnapshot(content({
    listeners: listeners ? { https: { protocol: 'https', address: '127.0.0.1', port: p, defaultSecret: '@default' } } : {},
    virtualHosts: { 'db.example.com': pass('c/db:1') },
    clusters: { 'c/db:1': cluster(db.port) },
    secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key } },
  }));
  try {
    assert.ok((await local.apply(snap(true))).ok);
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: p, servername: 'db.example.com', rejectUnauthorized: false }, () => resolve(s));
      s.setEncoding('utf8');
      s.on('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    const t0 = Date.now();
    assert.ok((await local.apply(snap(false))).ok);
    assert.equal(await echo(socket, 'still\n'), 'db:still\n', 'draining, not cut');
    const at = await closed;
    assert.ok(at - t0 >= 250, `cut after ${at - t0} ms`);
  } finally {
    await local.close();
  }
});

// PROXY protocol and trusted proxies, on their own listeners.
test('PROXY protocol on http and https listeners: the header names the client; a connection without one is closed', async () => {
  const local = new DataPlane({ http1Engine: testEngine(), limits: { handshakeTimeoutMs: 400, headersTimeoutMs: 400 } });
  const [h, s] = [await freePort(), await freePort()];
  const snapPP = sealSnapshot(content({
    listeners: {
      http: { protocol: 'http', address: '127.0.0.1', port: h, proxyProtocol: true },
      https: { protocol: 'https', address: '127.0.0.1', port: s, defaultSecret: '@default', proxyProtocol: true },
    },
    virtualHosts: { 'foo.com': vhost([route('Prefix', '/', 'c/web:1')], 'ns/foo'), 'db.example.com': pass('c/db:1') },
    clusters: { 'c/web:1': cluster(web.port), 'c/db:1': cluster(db.port) },
    secrets: { '@default': { cert: DEFAULT.cert, key: DEFAULT.key }, 'ns/foo': { cert: FOO.cert, key: FOO.key } },
  }));
  try {
    assert.ok((await local.apply(snapPP)).ok);
    // Cleartext: header, then the request, in one write.
    const raw = await new Promise<string>((resolve) => {
      let out = '';
      const c = net.connect(h, '127.0.0.1', () => c.write('PROXY TCP4 203.0.113.7 10.0.0.1 40000 80\r\nGET /pp HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n'));
      c.on('data', (d) => { out += d; });
      c.on('close', () => resolve(out));
    });
    assert.match(raw, /^HTTP\/1.1 200/);
    const echoed = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-forwarded-for'], '203.0.113.7');
    assert.equal(echoed.headers['x-real-ip'], '203.0.113.7');
    // Without a header: closed, nothing answered.
    const bare = await new Promise<string>((resolve) => {
      let out = '';
      const c = net.connect(h, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: foo.com\r\n\r\n'));
      c.on('data', (d) => { out += d; });
      c.on('error', () => {});
      c.on('close', () => resolve(out));
    });
    assert.equal(bare, '');
    // TLS after a v1 header: terminated, and passed through with the header stripped.
    for (const [servername, org] of [['foo.com', FOO.org], ['db.example.com', BAR.org]] as const) {
      const got = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(s, '127.0.0.1', () => {
          sock.write('PROXY TCP4 203.0.113.8 10.0.0.1 40001 443\r\n');
          const t = tls.connect({ socket: sock, servername, rejectUnauthorized: false }, () => {
            resolve(String(t.getPeerCertificate().subject?.O));
            t.destroy();
          });
          t.on('error', reject);
        });
      });
      assert.equal(got, org, servername);
    }
  } finally {
    await local.close();
  }
});

test('trusted proxies: X-Real-IP is the rightmost untrusted X-Forwarded-For hop only when the peer is trusted', async () => {
  const local = new DataPlane({ http1Engine: testEngine() });
  const p = await freePort();
  const snapT = (trustedProxies?: string[]) => sealSnapshot(content({
    listeners: { http: { protocol: 'http', address: '127.0.0.1', port: p, ...(trustedProxies ? { trustedProxies } : {}) } },
    virtualHosts: { '*': vhost([route('Prefix', '/', 'c/web:1')]) },
    clusters: { 'c/web:1': cluster(web.port) },
  }));
  const realIp = async () => {
    const r = await fetch(`http://127.0.0.1:${p}/x`, { headers: { 'x-forwarded-for': '198.51.100.4, 10.9.9.9' } });
    const body = await r.json() as { headers: Record<string, string> };
    return [body.headers['x-real-ip'], body.headers['x-forwarded-for']];
  };
  try {
    assert.ok((await local.apply(snapT())).ok);
    assert.deepEqual(await realIp(), ['127.0.0.1', '198.51.100.4, 10.9.9.9, 127.0.0.1'], 'untrusted peer: its own address');
    assert.ok((await local.apply(snapT(['127.0.0.0/8', '10.0.0.0/8']))).ok);
    assert.deepEqual(await realIp(), ['198.51.100.4', '198.51.100.4, 10.9.9.9, 127.0.0.1'], 'trusted peer and hop: the client behind them');
  } finally {
    await local.close();
  }
});
