// The upstream response headers relayed to the client: hop-by-hop ones
// (and those Connection lists) dropped. Shared by forward.ts (undici's parsed
// headers) and upgrade.ts (Node's raw list of a 101).

import { connectionTokens } from './decide.ts';

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
