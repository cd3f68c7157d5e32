// Helpers of the cluster-layer tests (cluster-layers.test.ts, cluster-rebase.test.ts):
// a snapshot with enough clusters for its map to be an overlay, edits of it
// as the controller makes them, and what a table does with it, to compare a
// table built from deltas with one built in full.
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { noteMapCopy } from '../../api/snapshot.ts';
import type { Cluster, Snapshot, VirtualHost } from '../../api/snapshot.ts';
import type { DeltaMessage } from '../../api/stream.ts';
import { deepFreeze, sealSnapshot } from '../../api/version.ts';
import { cluster, content, route, vhost } from '../testkit.ts';
import { MIN_KEYS } from '../stream/overlay.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { buildTable, type RoutingTable } from './table.ts';

/** Clusters in the base snapshot: enough for the clusters map to be an overlay. */
export const CLUSTERS = MIN_KEYS + 60;
/** Hosts h0..h(HOSTS-1) route to clusters c0..c(HOSTS-1); the rest are referenced by nothing. */
export const HOSTS = 24;
/** The key of cluster i. */
export const key = (i: number) => `ns/c${i}:80`;

/** The sealed base snapshot: CLUSTERS clusters (every 5th with two endpoints), HOSTS hosts and a catch-all. */
export function base(): Snapshot {
  const clusters: Record<string, Cluster> = {};
  for (let i = 0; i < CLUSTERS; i++) clusters[key(i)] = i % 5 === 0 ? cluster(20_000 + i, 40_000 + i) : cluster(20_000 + i);
  const hosts: Record<string, VirtualHost> = { '*': vhost([route('Prefix', '/', key(0))]) };
  for (let i = 0; i < HOSTS; i++) hosts[`h${i}.example.com`] = vhost([route('Prefix', '/', key(i)), route('Exact', '/other', key((i + 1) % HOSTS))]);
  return sealSnapshot(content({ virtualHosts: hosts, clusters }));
}

/** `prev` with its clusters map edited, sharing every other object (as the controller's snapshots do). */
export function edit(prev: Snapshot, change: (c: Record<string, Cluster>) => void): Snapshot {
  const { version: _v, ...rest } = prev;
  const clusters = { ...prev.clusters };
  change(clusters);
  const written = new Set<string>();
  for (const k of new Set([...Object.keys(clusters), ...Object.keys(prev.clusters)])) if (clusters[k] !== prev.clusters[k]) written.add(k);
  noteMapCopy(clusters, prev.clusters, written);
  return sealSnapshot({ ...rest, clusters });
}

/** A JSON copy (what the stream carries). */
export const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
/** The delta message from one snapshot to another. */
export const delta = (from: Snapshot, to: Snapshot): DeltaMessage =>
  ({ type: 'delta', base: from.version, version: to.version, patch: plain(jsonpatch.compare(from, to)) as Operation[] });

/** What a table does with every cluster key ever used and with a request to each host. */
export function behaviour(t: RoutingTable, keys: Iterable<string>): unknown {
  const eps = (k: string) => t.cluster(k)?.endpoints.map((e) => `${e.address}:${e.port}`) ?? null;
  const hosts = ['h0.example.com', 'h3.example.com', `h${HOSTS - 1}.example.com`, 'nobody.example.com'];
  return {
    counts: t.counts,
    clusters: [...keys].map((k) => [k, eps(k), t.cluster(k)?.key ?? null]),
    routes: hosts.flatMap((h) => ['/', '/other'].map((p) => {
      const hit = t.match(h, p);
      return [h, p, hit?.cluster?.key ?? null, hit?.cluster?.endpoints.map((e) => e.port) ?? null];
    })),
  };
}

/** A table built in full from the same content, in its own registry, then closed. */
export function fresh(s: Snapshot, keys: Iterable<string>): unknown {
  const pools = new UpstreamPools();
  const t = buildTable(deepFreeze(plain(s)) as Snapshot, undefined, { pools });
  try {
    return behaviour(t, keys);
  } finally {
    t.retire();
  }
}

/** Every endpoint of a live table is registered (the same object), and nothing else is. */
export function assertReferences(pools: UpstreamPools, live: readonly RoutingTable[], what: string): void {
  const want = new Set<string>();
  for (const t of live) {
    assert.equal(t.closed, false, `${what}: a live table`);
    for (const k of Object.keys(t.snapshot.clusters)) {
      for (const ep of t.cluster(k)?.endpoints ?? []) {
        assert.equal(pools.get(ep.key), ep, `${what}: ${k}'s endpoint ${ep.key} is held`);
        want.add(ep.key);
      }
    }
  }
  assert.equal(pools.size, want.size, `${what}: no endpoint held that no live table reads`);
}

