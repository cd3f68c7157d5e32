import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { sealSnapshot } from '../api/version.ts';
import type { Listener } from '../api/snapshot.ts';
import { DataPlane } from './apply.ts';
import { cluster, content, freePort, testEngine } from './testkit.ts';

let echo: net.Server;
let echoPort: number;
before(async () => {
  echo = net.createServer((s) => s.pipe(s));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as net.AddressInfo).port;
});
after(() => echo.close());

const tcp = (port: number, key = 'default/echo:9'): Listener => ({ protocol: 'tcp', address: '127.0.0.1', port, backends: [{ cluster: key, weight: 1 }] });

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

/** A client connection and a function sending a line and waiting for it to come back. */
async function client(port: number) {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.setEncoding('utf8');
  let buf = '';
  s.on('data', (d: string) => { buf += d; });
  const say = async (msg: string) => {
    buf = '';
    s.write(msg);
    const deadline = Date.now() + 2_000;
    while (buf.length < msg.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return buf;
  };
  return { s, say };
}

test('a tcp listener echoes, keeps its connections across swaps, drains on removal', async () => {
  const port = await freePort();
  const dp = new DataPlane({ http1Engine: testEngine(), drainTimeoutMs: 300 });
  const snap = (n: number, withTcp = true) => sealSnapshot(content({
    listeners: withTcp ? { 'tcp-default-echo': tcp(port) } : {},
    clusters: { 'default/echo:9': cluster(echoPort), [`default/other:${n}`]: cluster(1) },
  }));
  try {
    assert.ok((await dp.apply(snap(0))).ok);
    assert.equal(dp.listeners.list()['tcp-default-echo']?.protocol, 'tcp');
    const c = await client(port);
    assert.equal(await c.say('hello'), 'hello');
    for (let i = 1; i <= 10; i++) {
      assert.ok((await dp.apply(snap(i))).ok);
      assert.equal(await c.say(`ping ${i}`), `ping ${i}`);
    }
    const closed = once(c.s, 'close');
    assert.ok((await dp.apply(snap(99, false))).ok);
    assert.ok(await refused(port), 'new connections are refused once the listener is removed');
    assert.equal(await c.say('still'), 'still', 'an open connection lives until the drain deadline');
    const t0 = Date.now();
    await closed;
    assert.ok(Date.now() - t0 < 2_000);
  } finally {
    await dp.close();
  }
});

test('a tcp connect failure retries another endpoint', async () => {
  const port = await freePort();
  const dead = await freePort();
  const dp = new DataPlane({ http1Engine: testEngine() });
  try {
    assert.ok((await dp.apply(sealSnapshot(content({
      listeners: { t: tcp(port) },
      clusters: { 'default/echo:9': cluster(dead, echoPort) },
    })))).ok);
    for (let i = 0; i < 4; i++) {
      const c = await client(port);
      assert.equal(await c.say(`x${i}`), `x${i}`);
      c.s.destroy();
    }
  } finally {
    await dp.close();
  }
});
