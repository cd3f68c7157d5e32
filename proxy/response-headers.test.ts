// relayRawHead (the lean client's head straight to the net engine's
// response) against the object path it stands in for: downstreamHeaders()
// over the fields object, then writeHead(). Same bytes on the wire, or it
// declines and writes nothing.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import { RawHead } from './http1/llhttp.ts';
import { NetRequest, NetResponse } from './http1/messages.ts';
import type { MessageOwner } from './http1/messages.ts';
import { downstreamHeaders, relayRawHead } from './response-headers.ts';
import { rawFields } from './upstream/h1-fields.ts';

/** A response whose socket records what is written. */
function response(method = 'GET'): { res: NetResponse; wire: () => string } {
  const out: string[] = [];
  const socket = {
    writableCorked: 0,
    writableNeedDrain: false,
    cork() {},
    uncork() {},
    write(data: Buffer | string, cb?: () => void) {
      out.push(Buffer.from(data).toString('latin1'));
      cb?.();
      return true;
    },
  } as unknown as net.Socket;
  const owner: MessageOwner = { socket, keepAliveSeconds: 5, resumeBody() {}, responseEnded() {}, responseDestroyed() {} };
  const req = new NetRequest(owner);
  req.method = method;
  const res = new NetResponse(owner, req, true);
  // The proxy's own Date line depends on the second: left out of the comparison.
  return { res, wire: () => out.join('').replace(/\r\nDate: [^\r]*/, '') };
}

/** A RawHead over the fields as they would sit in a read. */
function rawHead(fields: Array<[string, string]>): RawHead {
  const raw = new RawHead();
  let text = '';
  const at: number[] = [];
  for (const [, v] of fields) {
    at.push(text.length);
    text += `${v}\r\n`;
  }
  raw.chunk = Buffer.from(text, 'latin1');
  fields.forEach(([n, v], i) => raw.push(n, at[i]!, v.length));
  raw.active = true;
  return raw;
}

/** Both paths' bytes for one head, or undefined for the raw path when it declines. */
function both(status: number, fields: Array<[string, string]>, method = 'GET'): { raw: string | undefined; object: string } {
  const head = rawHead(fields);
  const a = response(method);
  const relayed = relayRawHead(head, status, a.res);
  if (relayed) a.res.end('body');
  const b = response(method);
  b.res.writeHead(status, downstreamHeaders(rawFields(head)));
  b.res.end('body');
  return { raw: relayed ? a.wire() : undefined, object: b.wire() };
}

const NGINX: Array<[string, string]> = [['Server', 'nginx'], ['Date', 'Thu, 26 Nov 2026 15:00:00 GMT'], ['Content-Type', 'text/plain'], ['Content-Length', '4'], ['Connection', 'keep-alive']];

test('relayRawHead: the same bytes as the object path', () => {
  const heads: Array<[number, Array<[string, string]>, string?]> = [
    [200, NGINX],
    [200, NGINX, 'HEAD'],
    [204, [['Server', 's'], ['Content-Length', '0']]],
    [304, [['ETag', '"x"']]],
    // No length: chunked to the client.
    [200, [['Transfer-Encoding', 'chunked'], ['Keep-Alive', 'timeout=5'], ['X-A', '1']]],
    // Repeated names, interleaved: each name's lines together, at its first place.
    [200, [['Set-Cookie', 'a=1'], ['X-Multi', 'one'], ['set-cookie', 'b=2'], ['X-Multi', 'two'], ['Content-Length', '4'], ['SET-COOKIE', 'c=3']]],
    // Hop-by-hop fields dropped; a plain Connection too.
    [200, [['Connection', 'close'], ['Proxy-Connection', 'x'], ['TE', 'trailers'], ['Trailer', 'x'], ['Upgrade', 'h2c'], ['X-Kept', ''], ['Content-Length', '4']]],
    [200, [['__proto__', 'p'], ['constructor', 'c'], ['Content-Length', '4'], ['obs-text', 'caf\u00e9\t!']]],
    [200, []],
  ];
  for (const [status, fields, method] of heads) {
    const { raw, object } = both(status, fields, method);
    assert.equal(raw, object, JSON.stringify(fields));
  }
});

test('relayRawHead: declines what only the object path handles, writing nothing', () => {
  const declined: Array<Array<[string, string]>> = [
    // Connection lists field names: those go too (the object path drops them).
    [['X-Private', 'a'], ['Connection', 'keep-alive, X-Private']],
    [['Connection', 'Keep-Alive'], ['X-A', '1']].concat([['Connection', 'x-a']]) as Array<[string, string]>,
    // An array-index name: the object lists it first.
    [['X-A', '1'], ['123', 'n']],
    // Fields Node refuses (the object path answers 502 for them).
    [['X-Bad', 'a\u007fb']],
    [['X-Bad', 'a\u0001b']],
    [['Bad Name', 'v']],
    // More fields than it groups.
    Array.from({ length: 65 }, (_, i) => [`x-${i}`, String(i)] as [string, string]),
  ];
  for (const fields of declined) {
    const head = rawHead(fields);
    const a = response();
    assert.equal(relayRawHead(head, 200, a.res), false, JSON.stringify(fields).slice(0, 80));
    assert.equal(a.res.headersSent, false);
    a.res.writeHead(200, ['content-length', '0']);
  }
});
