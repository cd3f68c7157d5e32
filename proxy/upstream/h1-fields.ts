// What the lean client's connections (h1-connection.ts) hand to handlers:
// response header and trailer objects shaped as undici's, and its failures
// with undici's names and codes (errors.ts UpstreamCode).
import { createRequire } from 'node:module';
import type { Dispatcher } from 'undici';
import { lowerName } from '../http1/llhttp.ts';
import type { Parser, RawHead } from '../http1/llhttp.ts';
import { UpstreamCode, UpstreamError } from '../errors.ts';

/** Header or trailer fields: lower-case names, repeated names as arrays (undici's parseHeaders). */
export type Fields = Record<string, string | string[]>;

/** Adds one field as undici's parseHeaders does (`key` already lower-case). */
export function addField(obj: Fields, key: string, value: string): void {
  const v = obj[key];
  if (v === undefined) {
    if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
    else obj[key] = value;
  } else if (!Object.hasOwn(obj, key)) {
    // An inherited name ("constructor"): an own property shadows it.
    Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
  } else if (typeof v === 'string') obj[key] = [v, value];
  else v.push(value);
}

/**
 * A handler that can take a response head as the parser found it (the lean
 * client's own extension of undici's handler API): the proxy's Exchange
 * relays it to an HTTP/1.1 client without building the fields object.
 * `head` is valid only during the call. Handlers without it get
 * onResponseStart with the object, as from undici.
 */
export interface RawHeadHandler {
  onResponseStartRaw?(controller: Dispatcher.DispatchController, statusCode: number, head: RawHead): void;
}

/** A raw head's fields as undici's object (what onResponseStart takes). */
export function rawFields(raw: RawHead): Fields {
  const out: Fields = {};
  for (let i = 0; i < raw.count; i++) addField(out, lowerName(raw.names[i] as string), raw.value(i));
  return out;
}

/**
 * What onResponseEnd gets when there were no trailers (nearly always): one
 * frozen object, not one per response (readers only list its keys).
 */
export const NO_TRAILERS: Fields = Object.freeze({}) as Fields;

// llhttp's error numbers to names (undici's table, read as llhttp.ts reads its METHODS).
const ERROR_NAMES: string[] = (() => {
  const names = (createRequire(import.meta.url)('undici/lib/llhttp/constants.js') as { ERROR: Record<string, number> }).ERROR;
  const out: string[] = [];
  for (const [name, n] of Object.entries(names)) out[n] = name;
  return out;
})();

/** The connection broke or closed during an exchange (retry.ts RESET_CODES has the code). */
export function socketError(message: string): UpstreamError {
  return new UpstreamError(UpstreamCode.SOCKET, message, 'SocketError');
}

/** A response llhttp refused: HeadersOverflowError, or HTTPParserError with HPE_<name> (attempt.ts classify()). */
export function parserError(parser: Parser, ret: number): UpstreamError {
  if (parser.headerOverflow) return new UpstreamError(UpstreamCode.HEADERS_OVERFLOW, 'response head larger than 16 KiB', 'HeadersOverflowError');
  return new UpstreamError(`HPE_${ERROR_NAMES[ret] ?? 'INTERNAL'}`, parser.errorReason(), 'HTTPParserError');
}
