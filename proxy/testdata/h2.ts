// HTTP/2 client helpers for the proxy's tests (node:http2 against the HTTPS
// listener: ALPN h2, the test certificates accepted).
import http2 from 'node:http2';
import { once } from 'node:events';

/** An HTTP/2 client session to an HTTPS listener on `port` (self-signed certificate accepted). */
export async function h2session(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  session.on('error', () => {});
  await once(session, 'connect');
  return session;
}

/** A whole HTTP/2 response: headers (and their frame flags), body and trailers. */
export interface H2Response {
  readonly headers: http2.IncomingHttpHeaders;
  readonly flags: number;
  readonly body: string;
  readonly trailers: http2.IncomingHttpHeaders | undefined;
}

/** One request on `session`; `body` is sent (and the stream ended) if given. */
export function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let resHeaders: http2.IncomingHttpHeaders = {};
    let flags = 0;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h, f) => { resHeaders = h; flags = f; });
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ headers: resHeaders, flags, body: Buffer.concat(chunks).toString('utf8'), trailers }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}
