import assert from 'node:assert/strict';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import vm from 'node:vm';
import { collectAfterFullApply } from './compact.ts';

test('collectAfterFullApply runs a full (major) collection without exposing gc to anything else', async () => {
  const kinds: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) kinds.push((e.detail as { kind: number }).kind);
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    assert.equal(collectAfterFullApply(), true);
    assert.equal(collectAfterFullApply(), true);
    // Entries are delivered asynchronously; bounded wait.
    for (let i = 0; i < 50 && !kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR); i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    obs.disconnect();
  }
  assert.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR), `gc kinds seen: ${kinds.join(',')}`);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  assert.equal(vm.runInNewContext('typeof gc'), 'undefined');
});
