import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffCounters, parseNstat } from './nstat.ts';

// Recorded from `nstat -asz` (iproute2 6.1.0), shortened.
const before = `#kernel
IpInReceives                    162189988          0.0
TcpEstabResets                  105877             0.0
TcpOutRsts                      214210             0.0
TcpExtListenOverflows           0                  0.0
TcpExtListenDrops               0                  0.0
TcpExtTCPAbortOnData            56889              0.0
TcpExtTCPAbortOnClose           10381              0.0
TcpExtTCPMigrateReqSuccess      41                 0.0
`;
const after = before.replace('214210', '214310').replace('TcpExtListenDrops               0', 'TcpExtListenDrops               7');

test('parses nstat counters by name, header skipped', () => {
  const c = parseNstat(before);
  assert.equal(c.TcpOutRsts, 214210);
  assert.equal(c.TcpExtTCPAbortOnClose, 10381);
  assert.equal(c.IpInReceives, 162189988);
  assert.equal(Object.keys(c).includes('#kernel'), false);
});

test('differences of the reported counters; counters nstat did not print are left out', () => {
  const d = diffCounters(parseNstat(before), parseNstat(after));
  assert.equal(d.TcpOutRsts, 100);
  assert.equal(d.TcpExtListenDrops, 7);
  assert.equal(d.TcpExtTCPAbortOnData, 0);
  assert.equal('TcpExtTCPAbortOnTimeout' in d, false);
  assert.equal('IpInReceives' in d, false);
});
