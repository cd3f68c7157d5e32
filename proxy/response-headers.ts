// The upstream response headers relayed to the client: hop-by-hop ones
// (and those Connection lists) dropped. Shared by forward.ts and upgrade.ts.

import type { Dispatcher } from 'undici';
import { connectionTokens } from './decide.ts';

// Hop-by-hop headers (RFC 9110 §7.6.1), never relayed to the client. The
// request side's list is in decide.ts (upstreamHeaders).
const DROP_RESPONSE = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/** The response headers relayed to the client, as flat [name, value, ...] (upgrade.ts relays a 101's the same way). */
export function downstreamHeaders(raw: DispatcherRawHeaders, parsed: Record<string, string | string[] | undefined>): string[] {
  const listed = connectionTokens(parsed.connection);
  const out: string[] = [];
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = String(raw[i] instanceof Buffer ? (raw[i] as Buffer).toString('latin1') : raw[i]);
      const lower = name.toLowerCase();
      if (DROP_RESPONSE.has(lower) || listed?.has(lower)) continue;
      const v = raw[i + 1];
      out.push(name, v instanceof Buffer ? v.toString('latin1') : String(v));
    }
    return out;
  }
  for (const [name, v] of Object.entries(parsed)) {
    if (v === undefined || DROP_RESPONSE.has(name) || listed?.has(name)) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push(name, one);
  }
  return out;
}

type DispatcherRawHeaders = Dispatcher.DispatchController['rawHeaders'];
