// node:http's rules for a header field, shared by everything that writes
// one: the net engine's responses (http1/messages.ts), HTTP/2 responses
// (h2-stream.ts) and the lean upstream client's requests
// (upstream/h1-request.ts; undici's rules are the same). A name is a token
// (checkIsHttpToken), a value tab, visible ASCII or obs-text
// (checkInvalidHeaderChar): so never CR or LF.
import { validateHeaderName, validateHeaderValue } from 'node:http';

/** A field name (or method) node:http accepts. */
export const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;

/** TOKEN by character code (0..127; 1: a token character), for loops that check a name as they copy it. */
const TOKEN_CHAR: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") t[c.charCodeAt(0)] = 1;
  return t;
})();

/**
 * Copies `name` into `b` at `at` followed by ": ", checking as it goes that
 * it is a token (TOKEN): the new end, or -1 for an empty or invalid name.
 * The field-line builders (upstream/h1-request.ts, response-headers.ts)
 * check and copy in one pass instead of a regexp and a write.
 */
export function putFieldName(b: Uint8Array, at: number, name: string): number {
  const n = name.length;
  if (n === 0) return -1;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c > 127 || TOKEN_CHAR[c] === 0) return -1;
    b[at++] = c;
  }
  b[at++] = 58;
  b[at++] = 32;
  return at;
}

/** A character no field value may hold. */
export const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * A block of `name: value\r\n` lines, each valid by the two rules above: one
 * test of a whole head costs less than two per field. It cannot tell a CR LF
 * inside a name or value from the end of a line: callers also refuse any CR
 * in them (http1/messages.ts writeHead).
 */
export const VALID_FIELD_BLOCK = /^(?:[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+: [\t\x20-\x7e\x80-\xff]*\r\n)*$/;

/**
 * Throws node:http's own error (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR) for
 * the first invalid field of flat [name, value, ...] `list`, which a test
 * above refused.
 */
export function throwInvalidField(list: readonly unknown[]): never {
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    validateHeaderName(name);
    validateHeaderValue(name, String(list[i + 1]));
  }
  throw Object.assign(new TypeError('Invalid header field'), { code: 'ERR_INVALID_CHAR' });
}
