import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCidr } from '../api/validate.ts';
import { peerAddress, realClient, trustedList, noteClient } from './client-address.ts';

test('isCidr: addresses and prefixes of both families', () => {
  const cases: Array<[string, boolean]> = [
    ['10.0.0.0/8', true], ['192.0.2.1', true], ['fd00::/8', true], ['::1', true], ['10.0.0.0/33', false],
    ['fd00::/129', false], ['10.0.0.0/', false], ['10.0.0/8', false], ['example.com', false], ['1.2.3.4/8/9', false], ['', false],
  ];
  for (const [c, want] of cases) assert.equal(isCidr(c), want, c);
});

test('realClient: the peer, unless it is trusted; then the rightmost untrusted hop', () => {
  const trusted = trustedList(['10.0.0.0/8', '192.0.2.10']);
  const cases: Array<[string, string, string | undefined, string]> = [
    ['untrusted peer: its own address, whatever it claims', '198.51.100.1', '1.2.3.4', '198.51.100.1'],
    ['trusted peer, one hop', '10.1.1.1', '203.0.113.5', '203.0.113.5'],
    ['trusted peer, trusted hops skipped from the right', '10.1.1.1', '203.0.113.5, 198.51.100.9, 10.2.2.2, 192.0.2.10', '198.51.100.9'],
    ['every hop trusted: the leftmost', '10.1.1.1', '10.3.3.3, 10.4.4.4', '10.3.3.3'],
    ['trusted peer without X-Forwarded-For', '10.1.1.1', undefined, '10.1.1.1'],
    ['a garbled chain is not believed', '10.1.1.1', '203.0.113.5, not-an-ip', '10.1.1.1'],
  ];
  for (const [name, peer, xff, want] of cases) assert.equal(realClient(peer, xff, trusted), want, name);
  assert.equal(realClient('10.1.1.1', '203.0.113.5', undefined), '10.1.1.1', 'no trusted proxies: the peer');
});

test('peerAddress: a PROXY-reported client wins, also through a wrapping socket; IPv4-mapped addresses unmapped', () => {
  const raw = { remoteAddress: '10.0.0.1' };
  const wrapped = { remoteAddress: '10.0.0.1', _parent: raw };
  assert.equal(peerAddress(raw), '10.0.0.1');
  noteClient(raw, '203.0.113.7');
  assert.equal(peerAddress(raw), '203.0.113.7');
  assert.equal(peerAddress(wrapped), '203.0.113.7');
  assert.equal(peerAddress({ remoteAddress: '::ffff:192.0.2.1' }), '192.0.2.1');
});
