// A proxy worker process (forked by workers.ts): one DataPlane serving the
// same listeners as its siblings (SO_REUSEPORT; the kernel spreads
// connections), driven by its supervisor over IPC. It has no controller
// connection of its own: the supervisor streams, workers serve.
//
// A worker whose supervisor goes away (IPC disconnect: the supervisor crashed
// or was killed) drains and exits, so no orphan keeps ports after a restart.
import process from 'node:process';
import { DataPlane, type PrepareResult } from './apply.ts';
import { createLogger } from '../lib/log.ts';
import type { Snapshot } from '../api/snapshot.ts';
import { applyDelta } from './stream/delta.ts';
import type { FromWorker, ToWorker, WorkerConfig } from './worker-protocol.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const log = createLogger({ level: config.logLevel as 'info', base: { component: 'proxy', worker: process.pid } });
const plane = new DataPlane({ ...config, log });
let pending: { seq: number; result: Extract<PrepareResult, { ok: true }> } | undefined;
let draining = false;

function send(msg: FromWorker): void {
  if (process.connected) process.send!(msg);
}

async function prepare(msg: Extract<ToWorker, { type: 'prepare' }>): Promise<void> {
  let candidate: unknown;
  if ('snapshot' in msg) candidate = msg.snapshot;
  else {
    // The candidate stays in this process: the hosts map may be an overlay (stream/overlay.ts).
    const d = applyDelta(plane.current, { type: 'delta', base: msg.base, version: msg.version, patch: msg.patch }, { overlays: true });
    if (!d.ok) {
      send({ type: 'prepared', seq: msg.seq, ok: false, code: d.code, reason: d.reason });
      return;
    }
    candidate = d.candidate;
  }
  const r = await plane.prepare(candidate);
  if (!r.ok) {
    send({ type: 'prepared', seq: msg.seq, ok: false, code: r.code, reason: r.reason });
    return;
  }
  pending = { seq: msg.seq, result: r };
  send({ type: 'prepared', seq: msg.seq, ok: true, version: r.version });
}

async function drain(why: string): Promise<void> {
  if (draining) return;
  draining = true;
  log.info('worker draining', { why });
  await pending?.result.abort();
  await plane.close();
  process.exit(0);
}

process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'prepare':
      void prepare(msg);
      return;
    case 'commit':
      if (pending?.seq === msg.seq) {
        pending.result.commit();
        pending = undefined;
      }
      send({ type: 'committed', seq: msg.seq, version: (plane.current as Snapshot | undefined)?.version ?? '' });
      return;
    case 'abort': {
      const p = pending?.seq === msg.seq ? pending : undefined;
      pending = undefined;
      void (p?.result.abort() ?? Promise.resolve()).then(() => send({ type: 'aborted', seq: msg.seq }));
      return;
    }
    case 'status':
      send({ type: 'status', seq: msg.seq, status: plane.status() });
      return;
    case 'drain':
      void drain('supervisor asked');
  }
});
process.on('disconnect', () => void drain('supervisor gone'));
// The supervisor owns signals: a SIGTERM to the whole process group (a
// container stop) must not make workers exit before the supervisor says so.
process.on('SIGTERM', () => {});
process.on('SIGINT', () => {});
send({ type: 'ready' });
