// The clients of scenario 5: many long-lived connections, each sending one
// request (HTTP/1.1 keep-alive, precomputed bytes on a raw socket) or one
// websocket message every second, and counting what happened to them: a
// connection closed by the other side while the client still wanted it is a
// drop (an HTTP connection closed idle without `Connection: close`, or while
// a request was outstanding; a websocket closed by anyone but the client).
// After a drop the slot reconnects at its next send, so drops keep being
// counted through the run. Everything is bounded: requests time out after
// 5 s, and stop() closes every socket.
import net from 'node:net';
import WebSocket from 'ws';
import { ResponseReader } from './http1.ts';

/** What one group of connections saw. */
export interface ClientCounts {
  connections: number;
  /** Connections opened, reconnections included. */
  opened: number;
  connectFailed: number;
  /** Closed by the proxy while idle without announcing it (HTTP), or websocket closes the client did not start. */
  droppedIdle: number;
  /** Closed by the proxy with a request or message outstanding. */
  droppedBusy: number;
  /** HTTP: responses with `Connection: close` (the proxy closed politely; not a failure). */
  announcedClose: number;
  /** Websocket close codes received from the proxy (1006 = no close frame). */
  closeCodes: Record<string, number>;
  requests: number;
  ok: number;
  failed: number;
  /** Latency of successful requests/echoes, ms, and when each was sent (monotonic ms). */
  latencies: number[];
  sentAt: number[];
}

/** A running group; stop() closes every socket (bounded) and resolves with the counts. */
export interface ClientGroup {
  /** Connections open right now. */
  open(): number;
  stop(): Promise<ClientCounts>;
}

const TIMEOUT_MS = 5_000;
/** Monotonic ms, the clock of `sentAt`. */
export const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The timers of a group's slots, so stop() can clear them all. */
interface Timers { stopping: boolean; readonly set: Set<NodeJS.Timeout> }

/** Calls `tick` after a random part of `everyMs` (slots spread out), then every `everyMs` until the group stops. */
function every(timers: Timers, everyMs: number, tick: () => void, firstMs = Math.random() * everyMs): void {
  const t = setTimeout(() => {
    timers.set.delete(t);
    if (timers.stopping) return;
    tick();
    every(timers, everyMs, tick, everyMs);
  }, firstMs);
  timers.set.add(t);
}

/** Stops a group's timers. */
function stopTimers(timers: Timers): void {
  timers.stopping = true;
  for (const t of timers.set) clearTimeout(t);
  timers.set.clear();
}

function counts(connections: number): ClientCounts {
  return { connections, opened: 0, connectFailed: 0, droppedIdle: 0, droppedBusy: 0, announcedClose: 0, closeCodes: {}, requests: 0, ok: 0, failed: 0, latencies: [], sentAt: [] };
}

/** `connections` HTTP/1.1 keep-alive connections to 127.0.0.1:port, each sending GET / every `everyMs`. */
export function httpClients(port: number, connections: number, everyMs = 1000): ClientGroup {
  const c = counts(connections);
  const request = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: turnout-bench-long-lived\r\n\r\n');
  const timers: Timers = { stopping: false, set: new Set() };
  const live = new Set<net.Socket>();
  const slot = () => {
    let sock: net.Socket | undefined;
    let sentAt: number | undefined;
    let announced = false;
    const connect = () => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
      c.opened++;
      sock = s;
      announced = false;
      const reader = new ResponseReader();
      let connected = false;
      live.add(s);
      s.on('connect', () => { connected = true; });
      s.on('data', (d: Buffer) => {
        let rs;
        try { rs = reader.push(d); } catch { s.destroy(); return; }
        for (const r of rs) {
          if (sentAt === undefined) continue;
          c.latencies.push(now() - sentAt);
          c.sentAt.push(sentAt);
          sentAt = undefined;
          if (r.status >= 200 && r.status < 400) c.ok++; else c.failed++;
          if (r.close) { announced = true; c.announcedClose++; }
        }
      });
      s.on('error', () => {});
      s.on('close', () => {
        live.delete(s);
        if (sock === s) sock = undefined;
        if (!connected) c.connectFailed++;
        if (sentAt !== undefined) { c.failed++; sentAt = undefined; if (connected && !timers.stopping) c.droppedBusy++; }
        else if (connected && !timers.stopping && !announced) c.droppedIdle++;
      });
    };
    every(timers, everyMs, () => {
      if (sentAt !== undefined && now() - sentAt > TIMEOUT_MS) sock?.destroy(); // counted as failed on close
      if (sentAt === undefined) {
        if (!sock || sock.destroyed || announced) connect();
        sentAt = now();
        c.requests++;
        sock!.write(request);
      }
    });
  };
  for (let i = 0; i < connections; i++) slot();
  return {
    open: () => live.size,
    async stop() {
      stopTimers(timers);
      // In-flight requests get their answer (bounded), then every socket is closed.
      for (const deadline = Date.now() + TIMEOUT_MS; Date.now() < deadline && c.requests > c.ok + c.failed;) await sleep(20);
      for (const s of live) s.destroy();
      for (const deadline = Date.now() + 5_000; Date.now() < deadline && live.size > 0;) await sleep(20);
      return c;
    },
  };
}

/** `connections` websockets to ws://127.0.0.1:port/, each sending a 16-byte message every `everyMs` and expecting its echo. */
export function wsClients(port: number, connections: number, everyMs = 1000): ClientGroup {
  const c = counts(connections);
  const timers: Timers = { stopping: false, set: new Set() };
  const live = new Set<WebSocket>();
  const slot = () => {
    let ws: WebSocket | undefined;
    let sentAt: number | undefined;
    const connect = () => {
      const w = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, handshakeTimeout: TIMEOUT_MS });
      c.opened++;
      ws = w;
      let opened = false;
      live.add(w);
      w.on('open', () => { opened = true; });
      w.on('message', () => {
        if (sentAt === undefined) return;
        c.latencies.push(now() - sentAt);
        c.sentAt.push(sentAt);
        sentAt = undefined;
        c.ok++;
      });
      w.on('error', () => {});
      w.on('close', (code) => {
        live.delete(w);
        if (ws === w) ws = undefined;
        if (!opened) { c.connectFailed++; if (sentAt !== undefined) { c.failed++; sentAt = undefined; } return; }
        if (timers.stopping) return;
        c.closeCodes[code] = (c.closeCodes[code] ?? 0) + 1;
        if (sentAt !== undefined) { c.failed++; sentAt = undefined; c.droppedBusy++; } else c.droppedIdle++;
      });
    };
    every(timers, everyMs, () => {
      if (sentAt !== undefined && now() - sentAt > TIMEOUT_MS) ws?.terminate(); // counted on close
      if (!ws) connect();
      else if (sentAt === undefined && ws.readyState === WebSocket.OPEN) {
        sentAt = now();
        c.requests++;
        ws.send('turnout-bench-ws');
      }
    });
  };
  for (let i = 0; i < connections; i++) slot();
  return {
    open: () => [...live].filter((w) => w.readyState === WebSocket.OPEN).length,
    async stop() {
      stopTimers(timers);
      for (const deadline = Date.now() + TIMEOUT_MS; Date.now() < deadline && c.requests > c.ok + c.failed;) await sleep(20);
      // Outstanding echoes at this point failed.
      c.failed += c.requests - c.ok - c.failed;
      for (const w of live) w.close(1000);
      for (const deadline = Date.now() + 2_000; Date.now() < deadline && live.size > 0;) await sleep(20);
      for (const w of live) w.terminate();
      for (const deadline = Date.now() + 3_000; Date.now() < deadline && live.size > 0;) await sleep(20);
      return c;
    },
  };
}
