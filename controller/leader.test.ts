import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaderElector, microTime, type Lease, type LeaseApi, type LeaderClock } from './leader.ts';
import { httpError } from './sources/kube-testing.ts';
import { createLogger } from '../lib/log.ts';

const quiet = createLogger({ level: 'error', write: () => {} });

/** Virtual time: sleeps resolve only when the test advances the clock. */
class FakeClock implements LeaderClock {
  t = 0;
  #timers: Array<{ at: number; resolve: () => void }> = [];
  now = () => this.t;
  wall = () => new Date(Date.UTC(2026, 10, 25) + this.t);
  sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = { at: this.t + ms, resolve };
    this.#timers.push(timer);
    signal.addEventListener('abort', () => {
      this.#timers = this.#timers.filter((x) => x !== timer);
      resolve();
    }, { once: true });
  });

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((x) => x !== due);
      this.t = due.at;
      due.resolve();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** One Lease with resourceVersion checks, as the API server does them; `down` fails every call. */
class LeaseStore {
  lease: Lease | undefined;
  rv = 0;
  down = false;
  writes = 0;
  api(): LeaseApi {
    return {
      get: async () => {
        if (this.down) throw httpError(503);
        return structuredClone(this.lease);
      },
      create: async (l) => {
        if (this.down) throw httpError(503);
        if (this.lease) throw httpError(409, 'AlreadyExists');
        this.writes++;
        this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
        return structuredClone(this.lease);
      },
      update: async (l) => {
        if (this.down) throw httpError(503);
        if (l.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) throw httpError(409, 'Conflict');
        this.writes++;
        this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
        return structuredClone(this.lease);
      },
    };
  }
}

/** A candidate with its own view of the store: `frozen` makes its calls hang (a crashed or partitioned replica); `raceNextUpdate` lets another writer in between its read and its write. */
function candidate(store: LeaseStore, clock: FakeClock, identity: string, log: string[]) {
  const ctl = { frozen: false, raceNextUpdate: false };
  const api = store.api();
  const hang = new Promise<never>(() => {});
  const wrapped: LeaseApi = {
    get: () => (ctl.frozen ? hang : api.get()),
    create: (l) => (ctl.frozen ? hang : api.create(l)),
    update: (l) => {
      if (ctl.frozen) return hang;
      if (ctl.raceNextUpdate) {
        ctl.raceNextUpdate = false;
        store.lease!.metadata.resourceVersion = String(++store.rv);
      }
      return api.update(l);
    },
  };
  const elector = new LeaderElector({
    api: wrapped, name: 'turnout-controller', namespace: 'turnout', identity, clock, random: () => 0, log: quiet,
    onStartedLeading: () => log.push(`${identity} started@${clock.t}`),
    onStoppedLeading: () => log.push(`${identity} stopped@${clock.t}`),
  });
  return Object.assign(elector, { ctl });
}

test('MicroTime has six fractional digits', () => {
  assert.equal(microTime(new Date('2026-11-25T10:00:00.123Z')), '2026-11-25T10:00:00.123000Z');
});

test('one leader at a time; a crashed leader is replaced only after the lease duration, by our own clock', async () => {
  const store = new LeaseStore();
  const clock = new FakeClock();
  const log: string[] = [];
  const a = candidate(store, clock, 'a', log);
  const b = candidate(store, clock, 'b', log);
  a.start();
  await clock.advance(0);
  b.start();
  await clock.advance(30_000);
  assert.deepEqual(log, ['a started@0']);
  assert.equal(b.isLeader, false);
  const spec = store.lease!.spec!;
  assert.equal(spec.holderIdentity, 'a');
  assert.equal(spec.leaseDurationSeconds, 15);
  assert.equal(spec.leaseTransitions, 0);
  assert.match(spec.renewTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.ok(store.writes >= 14, `renewed every 2 s (${store.writes} writes in 30 s)`);

  a.ctl.frozen = true; // a crashes without releasing
  const lastRenew = clock.t;
  await clock.advance(14_000);
  assert.equal(log.some((l) => l.startsWith('b started')), false, 'b waits at least the lease duration');
  assert.ok(log.includes(`a stopped@${lastRenew + 10_000}`), `a gave up at its renew deadline: ${log.join(', ')}`);
  await clock.advance(6_000);
  const started = log.find((l) => l.startsWith('b started@'));
  assert.ok(started, `b took over: ${log.join(', ')}`);
  const after = Number(started!.split('@')[1]) - lastRenew;
  assert.ok(after >= 15_000 && after <= 19_000, `b took over ${after} ms after the last renewal`);
  assert.equal(store.lease!.spec!.holderIdentity, 'b');
  assert.equal(store.lease!.spec!.leaseTransitions, 1);
  b.ctl.frozen = false;
  const stopping = b.stop();
  await clock.advance(0);
  await stopping;
  assert.equal(store.lease!.spec!.holderIdentity, '', 'b released the lease on stop');
  assert.equal(log.at(-1)!.startsWith('b stopped'), true);
});

test('renewals failing for the renew deadline stop leading; a conflict or another holder stops it at once', async () => {
  const store = new LeaseStore();
  const clock = new FakeClock();
  const log: string[] = [];
  const a = candidate(store, clock, 'a', log);
  a.start();
  await clock.advance(4_000); // renewed at 2 s and 4 s
  store.down = true;
  await clock.advance(9_000);
  assert.deepEqual(log, ['a started@0'], 'still leading within the renew deadline');
  await clock.advance(2_000);
  assert.deepEqual(log, ['a started@0', 'a stopped@14000']);
  store.down = false;
  await clock.advance(3_000);
  assert.equal(log.at(-1), 'a started@16000', 'campaigns again and wins (the lease is still its own)');

  a.ctl.raceNextUpdate = true; // the renewal at 20 s meets a concurrent write
  await clock.advance(2_000);
  assert.deepEqual(log.slice(3), ['a stopped@20000', 'a started@20000'], '409 on renew: lost at once (then re-won: the record still names a)');

  store.lease!.spec!.holderIdentity = 'z'; // someone else took it (a force-acquire, an admin)
  store.lease!.metadata.resourceVersion = String(++store.rv);
  await clock.advance(2_000);
  assert.equal(log.at(-1), 'a stopped@22000');
  const stopping = a.stop();
  await clock.advance(0);
  await stopping;
  assert.equal(store.lease!.spec!.holderIdentity, 'z', 'a lease held by another is not released');
});

test('stop() does not wait for a hung API call', async () => {
  const store = new LeaseStore();
  const clock = new FakeClock();
  const log: string[] = [];
  const a = candidate(store, clock, 'a', log);
  a.ctl.frozen = true;
  a.start();
  await clock.advance(0);
  const stopped = a.stop().then(() => 'stopped');
  const winner = await Promise.race([stopped, new Promise((r) => setTimeout(() => r('hung'), 2_000))]);
  assert.equal(winner, 'stopped');
  assert.deepEqual(log, []);
});
