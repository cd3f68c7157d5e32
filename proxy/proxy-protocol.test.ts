import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readProxyHeader } from './proxy-protocol.ts';

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: command (0 LOCAL, 1 PROXY), family/proto byte, address block, then `rest`. */
function v2(cmd: number, famProto: number, addr: number[], rest = 'GET /'): Buffer {
  return Buffer.concat([Buffer.from([...SIG, 0x20 | cmd, famProto, addr.length >> 8, addr.length & 0xff, ...addr]), Buffer.from(rest)]);
}

test('PROXY headers, table-driven from the spec', () => {
  const v4 = [192, 0, 2, 1, 198, 51, 100, 7, 0x30, 0x39, 0x01, 0xbb];
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1, 0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2, 0x30, 0x39, 0x01, 0xbb];
  const cases: Array<[string, Buffer, unknown]> = [
    ['v1 TCP4', Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.7 12345 443\r\nGET /'), { kind: 'header', length: 45, source: { address: '192.0.2.1', port: 12345 } }],
    ['v1 TCP6', Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 12345 443\r\n'), { kind: 'header', length: 46, source: { address: '2001:db8::1', port: 12345 } }],
    ['v1 UNKNOWN (a health check)', Buffer.from('PROXY UNKNOWN\r\n'), { kind: 'header', length: 15, source: undefined }],
    ['v1 without its CRLF yet', Buffer.from('PROXY TCP4 192.0.2.1 198.51'), { kind: 'partial' }],
    ['a prefix of the v1 keyword', Buffer.from('PRO'), { kind: 'partial' }],
    ['v1 with a bad address', Buffer.from('PROXY TCP4 999.0.2.1 198.51.100.7 1 2\r\n'), { kind: 'invalid', reason: 'bad source address in PROXY v1 line' }],
    ['v1 with a bad port', Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.7 99999 2\r\n'), { kind: 'invalid', reason: 'bad source port in PROXY v1 line' }],
    ['v1 with a missing field', Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n'), { kind: 'invalid', reason: 'malformed PROXY v1 line' }],
    ['v1 too long', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), { kind: 'invalid', reason: 'PROXY v1 line longer than 107 bytes' }],
    ['v2 TCP over IPv4', v2(1, 0x11, v4), { kind: 'header', length: 28, source: { address: '192.0.2.1', port: 12345 } }],
    ['v2 TCP over IPv6', v2(1, 0x21, v6), { kind: 'header', length: 52, source: { address: '2001:db8::1', port: 12345 } }],
    ['v2 with TLVs after the addresses', v2(1, 0x11, [...v4, 0x04, 0x00, 0x01, 0xff]), { kind: 'header', length: 32, source: { address: '192.0.2.1', port: 12345 } }],
    ['v2 LOCAL', v2(0, 0x00, []), { kind: 'header', length: 16, source: undefined }],
    ['v2 UDP', v2(1, 0x12, v4), { kind: 'invalid', reason: 'PROXY v2 for a transport other than TCP' }],
    ['v2 truncated addresses', v2(1, 0x11, [192, 0, 2, 1]), { kind: 'invalid', reason: 'PROXY v2 IPv4 addresses truncated' }],
    ['v2 head only', Buffer.from([...SIG, 0x21, 0x11, 0, 12]), { kind: 'partial' }],
    ['v2 version 3', Buffer.from([...SIG, 0x31, 0x11, 0, 0]), { kind: 'invalid', reason: 'PROXY v2 with a version other than 2' }],
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\n'), { kind: 'invalid', reason: 'no PROXY protocol header' }],
    ['a TLS ClientHello', Buffer.from([22, 3, 1, 0, 200, 1]), { kind: 'invalid', reason: 'no PROXY protocol header' }],
  ];
  for (const [name, bytes, want] of cases) assert.deepEqual(readProxyHeader(bytes), want, name);
});

test('every prefix of a v2 header is partial, never invalid', () => {
  const full = v2(1, 0x11, [192, 0, 2, 1, 198, 51, 100, 7, 0x30, 0x39, 0x01, 0xbb], '');
  for (let n = 0; n < full.length; n++) assert.equal(readProxyHeader(full.subarray(0, n)).kind, 'partial', `${n} bytes`);
});
