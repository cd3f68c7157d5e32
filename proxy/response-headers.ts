// The upstream response headers relayed to the client: hop-by-hop ones
// (and those Connection lists) dropped. Shared by exchange.ts (undici's parsed
// headers; or, from the lean client to the net engine, the head as llhttp
// found it: relayRawHead) and upgrade.ts (Node's raw list of a 101).

import { connectionTokens } from './decide.ts';
import { putFieldName } from './field-rules.ts';
import { lowerName } from './http1/llhttp.ts';
import type { RawHead } from './http1/llhttp.ts';
import type { NetResponse } from './http1/messages.ts';

// Hop-by-hop headers (RFC 9110 §7.6.1), never relayed to the client. The
// request side's list is in decide.ts (upstreamHeaders).
const DROP_RESPONSE = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/**
 * The response headers relayed to the client, as flat [name, value, ...],
 * from undici's parsed headers: names lower-case (as HAProxy and Envoy send
 * them; HTTP field names are case-insensitive), order and repeated fields
 * kept. Working from the object undici has already built, rather than
 * converting its raw Buffers again, is the cheaper of the two per request
 * (docs/performance.md).
 */
export function downstreamHeaders(parsed: Record<string, string | string[] | undefined>): string[] {
  const listed = connectionTokens(parsed.connection);
  const out: string[] = [];
  for (const name in parsed) {
    const v = parsed[name];
    if (v === undefined || DROP_RESPONSE.has(name) || (listed !== undefined && listed.has(name))) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (const one of v) out.push(name, one);
  }
  return out;
}

/** The same rule over a raw [name, value, ...] list (Node's rawHeaders of a 101 in upgrade.ts), spelling kept. */
export function downstreamRawHeaders(raw: readonly string[], connection: string | string[] | undefined): string[] {
  const listed = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (DROP_RESPONSE.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

// relayRawHead's working space: the field block is built here, then read out
// as one string. Heads with more fields than RAW_MAX_FIELDS (grouping repeated
// names is quadratic) take the object path.
const RAW_MAX_FIELDS = 64;
const scratch = Buffer.allocUnsafe(64 * 1024);
const lowers: string[] = [];

/**
 * downstreamHeaders() and writeHead() in one step, for a head the lean
 * upstream client parsed in one read (llhttp.ts RawHead) and an HTTP/1.1
 * client of the net engine: the same fields in the same order (a repeated
 * name's lines together at its first place, as the fields object lists
 * them), names lower-case, checked by Node's rules, without a string per
 * value or the object. Returns false, having written nothing, when it
 * cannot say the same as that path: a Connection header listing field names,
 * a name that is an array index (the object lists those first), a field
 * Node would refuse, or more than RAW_MAX_FIELDS fields. The caller then
 * takes the object path, which drops, orders or refuses them.
 */
export function relayRawHead(head: RawHead, status: number, res: NetResponse): boolean {
  const n = head.count;
  if (n > RAW_MAX_FIELDS) return false;
  const names = head.names;
  const spans = head.spans;
  const chunk = head.chunk;
  let repeated = false;
  for (let i = 0; i < n; i++) {
    const lower = lowerName(names[i] as string);
    lowers[i] = lower;
    const c0 = lower.charCodeAt(0);
    if (c0 >= 48 && c0 <= 57) return false;
    if (lower.length === 10 && lower === 'connection' && !plainConnection(chunk, spans[2 * i] as number, spans[2 * i + 1] as number)) {
      if (connectionTokens(head.value(i)) !== undefined) return false;
    }
    for (let j = 0; j < i && !repeated; j++) if (lowers[j] === lower) repeated = true;
  }
  let at = 0;
  let length = false;
  let date = false;
  for (let i = 0; i < n; i++) {
    const lower = lowers[i] as string;
    const ln = lower.length;
    // DROP_RESPONSE's names are 2, 7, 10, 16 and 17 long.
    if ((ln === 2 || ln === 7 || ln === 10 || ln === 16 || ln === 17) && DROP_RESPONSE.has(lower)) continue;
    if (repeated) {
      let seen = false;
      for (let j = 0; j < i && !seen; j++) seen = lowers[j] === lower;
      if (seen) continue;
    }
    if (lower.length === 14 && lower === 'content-length') length = true;
    else if (lower.length === 4 && lower === 'date') date = true;
    for (let k = i; k < n; k++) {
      if (k !== i && (!repeated || lowers[k] !== lower)) continue;
      at = putField(lower, chunk, spans[2 * k] as number, spans[2 * k + 1] as number, at);
      if (at < 0) return false;
    }
  }
  res.writeHeadBytes(status, scratch, at, length, date);
  return true;
}

/** A Connection value that lists no field name: exactly "keep-alive" or "close" (connectionTokens' fast case). */
function plainConnection(b: Buffer, at: number, len: number): boolean {
  const s = len === 10 ? 'keep-alive' : len === 5 ? 'close' : undefined;
  if (s === undefined) return false;
  for (let i = 0; i < len; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** Writes `name: value\r\n` at `at` in scratch; the new end, or -1 for a field Node would refuse (or no room). */
function putField(name: string, b: Buffer, from: number, len: number, at: number): number {
  if (at + name.length + len + 4 > scratch.length) return -1;
  at = putFieldName(scratch, at, name);
  if (at < 0) return -1;
  for (let i = from; i < from + len; i++) {
    const c = b[i] as number;
    // Node's checkInvalidHeaderChar: tab, visible ASCII, obs-text.
    if ((c < 32 && c !== 9) || c === 127) return -1;
    scratch[at++] = c;
  }
  scratch[at++] = 13;
  scratch[at++] = 10;
  return at;
}
