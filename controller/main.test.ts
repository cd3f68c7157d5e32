import assert from 'node:assert/strict';
import { test } from 'node:test';
import { edgeFlags, proxyListeners } from './main.ts';

test('--trusted-proxies: CIDRs checked at start-up, the flag named on a bad one; --proxy-protocol reaches both listeners', () => {
  const edge = edgeFlags({ 'trusted-proxies': '10.0.0.0/8, 192.0.2.1', 'proxy-protocol': true });
  assert.deepEqual(edge, { proxyProtocol: true, trustedProxies: ['10.0.0.0/8', '192.0.2.1'] });
  const l = proxyListeners('0.0.0.0', 8080, 8443, edge);
  assert.equal(l.http?.proxyProtocol, true);
  assert.deepEqual(l.https?.trustedProxies, ['10.0.0.0/8', '192.0.2.1']);
  assert.equal(proxyListeners('0.0.0.0', 8080, 8443).http?.proxyProtocol, undefined, 'off: not even written into the snapshot');
  assert.throws(() => edgeFlags({ 'trusted-proxies': '10.0.0.0/8,lb.internal' }), /--trusted-proxies: "lb.internal" is not an IP address or a CIDR/);
});
