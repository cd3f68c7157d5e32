// A tiny authoritative DNS server on loopback UDP for tests: A records from a
// table the test changes at will, TTLs it chooses, or SERVFAIL. RFC 1035
// §4.1 wire format, one question per query; AAAA and other types get an
// empty NOERROR answer.
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

/** What the server answers for one name: addresses and TTL, or a failure. */
export type DnsRecord = { readonly addresses: readonly string[]; readonly ttl: number } | 'servfail';

/** A running test DNS server; set `records[name]` to change its answers. */
export interface TestDnsServer {
  readonly address: string;
  readonly records: Record<string, DnsRecord>;
  /** Queries received so far, by name. */
  readonly queries: Map<string, number>;
  close(): Promise<void>;
}

export async function startDnsServer(): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4');
  const records: Record<string, DnsRecord> = {};
  const queries = new Map<string, number>();
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    // The question: labels until a zero byte, then type and class.
    const labels: string[] = [];
    let p = 12;
    while (p < msg.length && msg[p] !== 0) {
      const len = msg[p]!;
      labels.push(msg.toString('latin1', p + 1, p + 1 + len));
      p += 1 + len;
    }
    const qEnd = p + 5;
    if (qEnd > msg.length) return;
    const qtype = msg.readUInt16BE(p + 1);
    const name = labels.join('.').toLowerCase();
    queries.set(name, (queries.get(name) ?? 0) + 1);
    const rec = records[name];
    const answers = rec !== undefined && rec !== 'servfail' && qtype === 1 ? rec.addresses : [];
    const head = Buffer.alloc(12);
    msg.copy(head, 0, 0, 2); // id
    // QR, AA, RD as asked, RA; RCODE 2 (SERVFAIL), 3 (NXDOMAIN) or 0.
    const rcode = rec === 'servfail' ? 2 : rec === undefined ? 3 : 0;
    head.writeUInt16BE(0x8400 | (msg[2]! & 0x01) << 8 | 0x80 | rcode, 2);
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(answers.length, 6);
    const parts = [head, msg.subarray(12, qEnd)];
    for (const a of answers) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE((rec as { ttl: number }).ttl, 6);
      rr.writeUInt16BE(4, 10);
      a.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
      parts.push(rr);
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    records,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
