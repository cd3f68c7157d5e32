import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WeightedBackend } from '../../api/snapshot.ts';
import { ClusterBalancer } from './balancer.ts';
import { pickBackend, splitFor, WeightedSplit } from './split.ts';

const names = (split: WeightedSplit, n: number): string[] =>
  Array.from({ length: n }, () => split.pick()?.cluster ?? '(unresolved)');

test('smooth weighted round-robin: exact shares, interleaved (nginx order)', () => {
  const split = new WeightedSplit([{ cluster: 'a', weight: 5 }, { cluster: 'b', weight: 1 }, { cluster: 'c', weight: 1 }]);
  assert.deepEqual(names(split, 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  assert.deepEqual(names(split, 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'the sequence repeats every sum(weights) picks');
});

test('proportions are exact over every whole cycle, whatever the weights', () => {
  const cases: Array<readonly WeightedBackend[]> = [
    [{ cluster: 'a', weight: 90 }, { cluster: 'b', weight: 10 }],
    [{ cluster: 'a', weight: 1 }, { cluster: 'b', weight: 1 }],
    [{ cluster: 'a', weight: 3 }, { cluster: 'b', weight: 0 }, { cluster: 'c', weight: 7 }],
    [{ cluster: 'a', weight: 1_000_000 }, { cluster: 'b', weight: 1 }, { cluster: 'c', weight: 999_999 }],
  ];
  for (const backends of cases) {
    const split = new WeightedSplit(backends);
    const total = backends.reduce((s, b) => s + b.weight, 0);
    const counts = new Map<string, number>();
    for (let i = 0; i < total; i++) {
      const b = split.pick()?.cluster as string;
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    for (const b of backends) assert.equal(counts.get(b.cluster as string) ?? 0, b.weight, JSON.stringify(backends));
  }
});

test('weight 0 is never picked; all weights 0 picks nothing', () => {
  const split = new WeightedSplit([{ cluster: 'a', weight: 0 }, { cluster: 'b', weight: 2 }]);
  assert.deepEqual(names(split, 5), ['b', 'b', 'b', 'b', 'b']);
  assert.equal(new WeightedSplit([{ cluster: 'a', weight: 0 }, { weight: 0 }]).pick(), undefined);
});

test('an unresolved backend takes its share', () => {
  const split = new WeightedSplit([{ cluster: 'a', weight: 1 }, { weight: 1 }]);
  assert.deepEqual(names(split, 4), ['a', '(unresolved)', 'a', '(unresolved)']);
});

test('the state belongs to the backends list object: shared by tables that share the route', () => {
  const backends = Object.freeze([{ cluster: 'a', weight: 1 }, { cluster: 'b', weight: 1 }]);
  assert.equal(splitFor(backends), splitFor(backends));
  assert.equal(splitFor(backends).pick()?.cluster, 'a');
  assert.equal(splitFor(backends).pick()?.cluster, 'b', 'the sequence continues');
  assert.notEqual(splitFor([...backends]), splitFor(backends), 'an equal but new list starts afresh');
});

test('pickBackend resolves the chosen cluster in the table; undefined for an unresolved share', () => {
  const a = new ClusterBalancer('ns/a:80', []);
  const table = { cluster: (key: string) => (key === 'ns/a:80' ? a : undefined) };
  const backends = [{ cluster: 'ns/a:80', weight: 1 }, { weight: 1 }];
  assert.equal(pickBackend(backends, table), a);
  assert.equal(pickBackend(backends, table), undefined);
  assert.equal(pickBackend([{ cluster: 'ns/a:80', weight: 0 }], table), undefined);
});
