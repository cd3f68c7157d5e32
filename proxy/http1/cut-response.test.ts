// A response the upstream breaks mid-body (here: a malformed chunk after a
// good one) is relayed cut, not dropped: the client gets the head and the
// bytes that came before the fault, then the connection closes, on both
// engines alike (found by h1-response.fuzz.test.ts: the net engine lost a
// first chunk it was still holding to coalesce with the head).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { cluster, directProxy, route, vhost } from '../testkit.ts';

let upstream: net.Server;
let port = 0;

before(async () => {
  upstream = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nre\r\nzz\r\n'));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as net.AddressInfo).port;
});

after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

/** What a client reads through `engine` until the proxy closes (bounded: 5 s). */
async function through(engine: 'node' | 'net'): Promise<string> {
  const p = await directProxy({ engine });
  p.use({ virtualHosts: { '*': vhost([route('Prefix', '/', 'c/b:1')]) }, clusters: { 'c/b:1': cluster(port) } });
  try {
    return await new Promise<string>((resolve) => {
      const c = net.connect(p.port, '127.0.0.1');
      let got = '';
      const timer = setTimeout(() => c.destroy(), 5_000);
      c.on('data', (d) => { got += d.toString('latin1'); });
      c.on('error', () => {});
      c.on('close', () => { clearTimeout(timer); resolve(got.replace(/Date: [^\r]*\r\n/, '')); });
      c.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    });
  } finally {
    await p.close();
  }
}

test('an upstream fault mid-body: the client gets the head and the good chunk, then a cut, on both engines', async () => {
  const [viaNode, viaNet] = [await through('node'), await through('net')];
  assert.match(viaNet, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n2\r\nre\r\n$/);
  assert.equal(viaNet, viaNode);
});
