// The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load
// balancer in front of the proxy (AWS NLB, a cloud LB, HAProxy) puts at the
// start of each connection to say who the client is. Opt-in per listener: on
// a listener that expects it, a connection without a valid header is closed
// (accepting it would let anyone claim any address); on others it is never
// looked for.
//
// Strict and bounded: v1 is one CRLF-terminated ASCII line of at most 107
// bytes; v2 a 16-byte binary head and at most 65535 bytes after it (TLVs are
// skipped). A LOCAL (v2) or UNKNOWN (v1) header, sent by health checks,
// carries no address: the connection's own peer address is used.

/** What the first bytes of a connection say. */
export type ProxyHeader =
  /** A whole header of `length` bytes; `source` undefined for LOCAL/UNKNOWN. */
  | { readonly kind: 'header'; readonly length: number; readonly source: { readonly address: string; readonly port: number } | undefined }
  | { readonly kind: 'partial' }
  | { readonly kind: 'invalid'; readonly reason: string };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const PARTIAL: ProxyHeader = { kind: 'partial' };

function invalid(reason: string): ProxyHeader {
  return { kind: 'invalid', reason };
}

/** Parses the PROXY header at the start of `data`. */
export function readProxyHeader(data: Buffer): ProxyHeader {
  const n = Math.min(data.length, V2_SIGNATURE.length);
  if (data.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return data.length < 16 ? PARTIAL : readV2(data);
  const m = Math.min(data.length, V1_PREFIX.length);
  if (data.subarray(0, m).equals(V1_PREFIX.subarray(0, m))) return data.length < V1_PREFIX.length ? PARTIAL : readV1(data);
  return invalid('no PROXY protocol header');
}

function readV1(data: Buffer): ProxyHeader {
  const end = data.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return data.length >= V1_MAX ? invalid('PROXY v1 line longer than 107 bytes') : PARTIAL;
  if (end + 2 > V1_MAX) return invalid('PROXY v1 line longer than 107 bytes');
  const parts = data.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { kind: 'header', length: end + 2, source: undefined };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return invalid('malformed PROXY v1 line');
  const [, family, src, , sport] = parts as [string, string, string, string, string, string];
  const port = Number(sport);
  if (!/^\d{1,5}$/.test(sport) || port > 65535) return invalid('bad source port in PROXY v1 line');
  if (!validAddress(src, family === 'TCP4' ? 4 : 6)) return invalid('bad source address in PROXY v1 line');
  return { kind: 'header', length: end + 2, source: { address: src, port } };
}

function readV2(data: Buffer): ProxyHeader {
  const verCmd = data[12]!;
  if (verCmd >> 4 !== 2) return invalid('PROXY v2 with a version other than 2');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid('PROXY v2 with an unknown command');
  const famProto = data[13]!;
  const len = data.readUInt16BE(14);
  if (data.length < 16 + len) return PARTIAL;
  const length = 16 + len;
  // LOCAL: the balancer's own connection (health checks); no address.
  if (cmd === 0) return { kind: 'header', length, source: undefined };
  const family = famProto >> 4;
  const proto = famProto & 0x0f;
  if (proto !== 1) return family === 0 ? { kind: 'header', length, source: undefined } : invalid('PROXY v2 for a transport other than TCP');
  if (family === 1) {
    if (len < 12) return invalid('PROXY v2 IPv4 addresses truncated');
    const b = data.subarray(16, 20);
    return { kind: 'header', length, source: { address: `${b[0]}.${b[1]}.${b[2]}.${b[3]}`, port: data.readUInt16BE(24) } };
  }
  if (family === 2) {
    if (len < 36) return invalid('PROXY v2 IPv6 addresses truncated');
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(data.readUInt16BE(16 + i * 2).toString(16));
    return { kind: 'header', length, source: { address: compressV6(groups), port: data.readUInt16BE(48) } };
  }
  // AF_UNSPEC or AF_UNIX: nothing usable as a client IP.
  return { kind: 'header', length, source: undefined };
}

function validAddress(s: string, family: 4 | 6): boolean {
  if (family === 4) return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s);
  return /^[0-9a-fA-F:.]{2,45}$/.test(s) && s.includes(':');
}

/** The usual text form of eight 16-bit groups: the longest run of zeros as "::". */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
