// Reads the server name (SNI) from the first bytes of a TLS connection without
// decrypting anything, so the HTTPS listener can decide per connection between
// terminating TLS and passing the encrypted stream through (passthrough.ts).
//
// Strict and bounded: the ClientHello is reassembled from handshake records
// (a large hello, e.g. with post-quantum key shares, may span two), up to
// MAX_HELLO_BYTES; anything that is not a well-formed TLS 1.0+ ClientHello is
// `invalid` and the connection goes to the TLS server, whose handshake then
// fails the standard way (the peek never answers a client itself). RFC 8446
// §4.1.2 (ClientHello), RFC 6066 §3 (server_name).

/** Largest ClientHello the peek reassembles; real ones are 0.2–2 KB. */
export const MAX_HELLO_BYTES = 16 * 1024;

/** What the first bytes say. */
export type HelloResult =
  /** A whole ClientHello; `serverName` is lower-case, undefined when the client sent none. */
  | { readonly kind: 'hello'; readonly serverName: string | undefined }
  /** Not enough bytes yet: read more. */
  | { readonly kind: 'partial' }
  /** Not a ClientHello (plain HTTP on the TLS port, garbage, a hello over the limit). */
  | { readonly kind: 'invalid'; readonly reason: string };

/** RFC 8446 §5.1: a record's plaintext is at most 2^14 bytes. */
const MAX_RECORD = 16384;
const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;
const PARTIAL: HelloResult = { kind: 'partial' };

function invalid(reason: string): HelloResult {
  return { kind: 'invalid', reason };
}

/** Parses the ClientHello at the start of `data` (everything the client sent so far). */
export function readClientHello(data: Buffer): HelloResult {
  // Reassemble the handshake message from consecutive handshake records.
  const chunks: Buffer[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  while (need < 0 || have < need) {
    if (data.length < off + 5) return data.length > MAX_HELLO_BYTES + 5 ? invalid('ClientHello too large') : PARTIAL;
    if (data[off] !== RECORD_HANDSHAKE) return invalid(off === 0 ? 'not a TLS handshake record' : 'ClientHello interrupted by another record type');
    if (data[off + 1] !== 3) return invalid('not a TLS record version');
    const len = data.readUInt16BE(off + 3);
    if (len === 0) return invalid('empty handshake record');
    if (len > MAX_RECORD) return invalid('record over 16 KiB');
    if (data.length < off + 5 + len) return off + 5 + len > MAX_HELLO_BYTES + 64 ? invalid('ClientHello too large') : PARTIAL;
    chunks.push(data.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a ClientHello');
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_HELLO_BYTES) return invalid('ClientHello too large');
    }
  }
  const hello = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).subarray(4, need);
  return parseHelloBody(hello);
}

/** The ClientHello body: version, random, session id, suites, compression, extensions. */
function parseHelloBody(b: Buffer): HelloResult {
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return invalid('truncated ClientHello');
  p += 1 + b[p]!; // legacy_session_id
  if (b.length < p + 2) return invalid('truncated ClientHello');
  p += 2 + b.readUInt16BE(p); // cipher_suites
  if (b.length < p + 1) return invalid('truncated ClientHello');
  p += 1 + b[p]!; // legacy_compression_methods
  if (p === b.length) return { kind: 'hello', serverName: undefined }; // no extensions (old clients)
  if (b.length < p + 2) return invalid('truncated ClientHello');
  const end = p + 2 + b.readUInt16BE(p);
  if (end !== b.length) return invalid('ClientHello extensions do not fill the message');
  p += 2;
  while (p < end) {
    if (end < p + 4) return invalid('truncated extension');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (end < p + len) return invalid('truncated extension');
    if (type === EXT_SERVER_NAME) return serverName(b.subarray(p, p + len));
    p += len;
  }
  return { kind: 'hello', serverName: undefined };
}

/** server_name extension data: a list of (type, name); the host_name entry. */
function serverName(ext: Buffer): HelloResult {
  if (ext.length < 2 || ext.readUInt16BE(0) !== ext.length - 2) return invalid('malformed server_name');
  let p = 2;
  while (p + 3 <= ext.length) {
    const type = ext[p]!;
    const len = ext.readUInt16BE(p + 1);
    p += 3;
    if (ext.length < p + len) return invalid('malformed server_name');
    if (type === NAME_TYPE_HOST) {
      const name = ext.toString('latin1', p, p + len);
      // RFC 6066: a DNS name, ASCII, no trailing dot. Anything else could
      // never match a virtual host: treat it as no name at all.
      if (len === 0 || len > 253 || !/^[A-Za-z0-9.*_-]+$/.test(name)) return invalid('server_name is not a DNS name');
      return { kind: 'hello', serverName: name.toLowerCase() };
    }
    p += len;
  }
  return { kind: 'hello', serverName: undefined };
}
