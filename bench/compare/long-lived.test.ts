import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { httpClients, wsClients, type ClientCounts } from './long-lived-clients.ts';
import { longLivedMarkdown, summarize, type LongLivedResult } from './long-lived.ts';

function counts(over: Partial<ClientCounts>): ClientCounts {
  return { connections: 2, opened: 2, connectFailed: 0, droppedIdle: 0, droppedBusy: 0, announcedClose: 0, closeCodes: {}, requests: 0, ok: 0, failed: 0, latencies: [], sentAt: [], ...over };
}

test('summarize: drops are idle + busy; p99 split by send time into during the changes and the rest', () => {
  const latencies = Array.from({ length: 200 }, (_, i) => (i < 100 ? 1 : 50));
  const sentAt = Array.from({ length: 200 }, (_, i) => i);
  const s = summarize(counts({ droppedIdle: 3, droppedBusy: 2, latencies, sentAt, requests: 200, ok: 200 }), { from: 100, to: 200 });
  assert.equal(s.dropped, 5);
  assert.equal(s.p99During, 50);
  assert.equal(s.p99Before, 1);
  assert.ok(Number.isNaN(s.p99After));
  assert.equal(s.p99, 50);
  assert.equal('latencies' in s, false);
});

test('markdown: an HTTP and a websocket row per proxy, and the process-tree table', () => {
  const during = { from: 0, to: 1 };
  const tree = { processes: 2, rssKiB: 10_240, pssKiB: 5_120, cpuSeconds: 1 };
  const r: LongLivedResult = {
    target: 'nginx x1', kind: 'nginx', workers: 1, changes: 100, intervalMs: 300, settleSeconds: 12, lastChangeServed: true,
    http: summarize(counts({ opened: 7, droppedIdle: 5, requests: 10, ok: 10, latencies: [1], sentAt: [0] }), during),
    ws: summarize(counts({ opened: 4, droppedIdle: 2, closeCodes: { 1006: 2 }, requests: 9, ok: 9, latencies: [2], sentAt: [5] }), during),
    openBefore: { http: 2, ws: 2 }, openAtEnd: { http: 2, ws: 2 },
    tree: { before: tree, peak: { processes: 30, rssKiB: 102_400, pssKiB: 51_200, cpuSeconds: 3 }, after: { ...tree, cpuSeconds: 3.5 } }, allClosed: true, loadavg: [1, 1, 1],
  };
  const md = longLivedMarkdown([r]);
  assert.match(md, /\| nginx x1 \| HTTP \| 7 \(5\) \| 5 \| 0 \| 0 \| 10 \| 0 \| 1\.00 \| n\/a \/ 1\.00 \/ n\/a \|/);
  assert.match(md, /\| nginx x1 \| websocket \| 4 \(2\) \| 2 \| 0 \|  \| 9 \| 0 \| 2\.00 \| n\/a \/ n\/a \/ 2\.00 \| 2\.00 \| 1006×2 \|/);
  assert.match(md, /\| nginx x1 \| 2 \/ 30 \/ 2 \| 10 \/ 100 \/ 10 \| 5 \/ 50 \/ 5 \| 2\.50 \| 2 \+ 2 \| 2 \+ 2 \| yes \| yes \|/);
  assert.equal(longLivedMarkdown([]), '');
});

test('clients count a server closing idle keep-alive connections and websockets as drops, and close everything on stop', async () => {
  // Closes each connection 100 ms after its response, before the client's next request.
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok', () => setTimeout(() => req.socket.destroy(), 100));
  });
  const wss = new WebSocketServer({ noServer: true });
  let sockets = 0;
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
    sockets++;
    ws.on('message', (d) => ws.send(d));
    if (sockets === 1) setTimeout(() => ws.terminate(), 150); // the first websocket is cut while idle
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const h = httpClients(port, 2, 300);
  const w = wsClients(port, 1, 100);
  let hc: ClientCounts, wc: ClientCounts;
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    [hc, wc] = [await h.stop(), await w.stop()];
  } finally {
    await Promise.all([h.stop(), w.stop()]);
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  assert.equal(h.open() + w.open(), 0);
  assert.ok(hc.requests >= 4, `requests ${hc.requests}`);
  assert.equal(hc.failed, 0);
  assert.ok(hc.droppedIdle >= 2, `idle drops ${hc.droppedIdle}`);
  assert.equal(hc.opened, hc.requests, 'one connection per request: each was closed idle');
  assert.equal(wc.droppedIdle + wc.droppedBusy, 1);
  assert.ok(wc.ok >= 2, `echoes ${wc.ok}`);
});
