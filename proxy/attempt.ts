// One upstream attempt of an Exchange (forward.ts): the undici handler that
// reports to its Exchange, and what an attempt's failure means for the client
// and for a retry.

import type { Dispatcher } from 'undici';
import type { RawHead } from './http1/llhttp.ts';
import { ClientError } from './errors.ts';
import type { ClientErrorKind } from './errors.ts';
import type { UpstreamEndpoint } from './upstream/balancer.ts';

// Errors raised before the connection existed: nothing was written, so another
// endpoint may be tried whatever the method and body.
export const CONNECT_FAILURES = new Set([
  'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL',
]);

// undici's codes for "the upstream sent something unusable" (as opposed to "it
// went away"). undici reports llhttp failures as HTTPParserError (code
// HPE_*; classify() also checks the name) and enforces the limits and framing
// itself with UND_ERR_* codes that Node's parser never raises. upgrade.ts reads
// responses with Node's own parser, whose failures are all HPE_*, so its test
// is /^HPE_/: the two lists differ because the parsers do.
const INVALID_RESPONSE = new Set([
  'HPE_INVALID_CONSTANT', 'UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE',
]);

export function errorCode(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}

/** The client response for an upstream failure that happened before the response started. */
export function classify(err: Error): ClientErrorKind {
  const code = errorCode(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return ClientError.UPSTREAM_TIMEOUT;
  if (INVALID_RESPONSE.has(code) || err.name === 'HTTPParserError') return ClientError.UPSTREAM_INVALID;
  return ClientError.UPSTREAM_CONNECT;
}

/** What an Attempt reports to: the Exchange in forward.ts. */
export interface AttemptOwner {
  requestStarted(a: Attempt, controller: Dispatcher.DispatchController): void;
  responseStarted(a: Attempt, controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void;
  /** The same from the lean client, with the head as parsed (valid during the call only). */
  responseStartedRaw(a: Attempt, controller: Dispatcher.DispatchController, statusCode: number, head: RawHead): void;
  responseData(a: Attempt, controller: Dispatcher.DispatchController, chunk: Buffer): void;
  responseEnded(a: Attempt, trailers: Record<string, string | string[] | undefined>): void;
  responseFailed(a: Attempt, err: Error): void;
}

/**
 * One attempt's undici handler: forwards to its Exchange, which ignores (and
 * aborts) an attempt that is no longer the current one.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  readonly exchange: AttemptOwner;
  readonly endpoint: UpstreamEndpoint;
  controller: Dispatcher.DispatchController | undefined;
  /** Reached a connection and began writing (a body may be consumed). */
  started = false;

  constructor(exchange: AttemptOwner, endpoint: UpstreamEndpoint) {
    this.exchange = exchange;
    this.endpoint = endpoint;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.started = true;
    this.exchange.requestStarted(this, controller);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.exchange.responseStarted(this, controller, statusCode, headers);
  }

  /** The lean HTTP/1.1 client's form of onResponseStart (upstream/h1-fields.ts RawHeadHandler). */
  onResponseStartRaw(controller: Dispatcher.DispatchController, statusCode: number, head: RawHead): void {
    this.exchange.responseStartedRaw(this, controller, statusCode, head);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.exchange.responseData(this, controller, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.exchange.responseEnded(this, trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.exchange.responseFailed(this, err);
  }
}
