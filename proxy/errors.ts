// The proxy's error catalog: every failure the data plane reports has a stable
// code here. Apply failures travel to the controller in a NACK (api/stream.ts),
// so their codes are part of the wire contract and must not be renamed; client
// failures become short plain-text responses that name no internals.
import type { ServerResponse } from 'node:http';
import type { ClientResponse } from './decide.ts';
import { DELTA_APPLY_FAILED, DELTA_BASE_MISMATCH, LISTENER_BIND_FAILED } from '../api/stream.ts';

/**
 * Codes of a refused snapshot. The controller shows them in conditions and
 * metrics, so they are stable strings, not messages.
 */
export const ApplyCode = {
  /** The candidate failed api/validate.ts; the reason lists JSON paths. */
  SNAPSHOT_INVALID: 'SNAPSHOT_INVALID',
  /** `version` is not the content hash of the rest of the snapshot. */
  VERSION_MISMATCH: 'VERSION_MISMATCH',
  /** A certificate or key did not load; the reason names the secret key, never its contents. */
  TLS_SECRET_INVALID: 'TLS_SECRET_INVALID',
  /** A new listener could not bind (port in use, address not local, no permission). */
  LISTENER_BIND_FAILED,
  /** A delta's base is not the version being served (protocol-level, api/stream.ts). */
  DELTA_BASE_MISMATCH,
  /** A delta did not apply, or did not produce its version (protocol-level, api/stream.ts). */
  DELTA_APPLY_FAILED,
  /** The applier was closed; nothing more is applied. */
  APPLIER_CLOSED: 'APPLIER_CLOSED',
  /** A worker process (--workers) exited or did not answer in time; it is restarted, the others keep the old version. */
  WORKER_FAILED: 'WORKER_FAILED',
  /** A bug: an unexpected exception while applying. The old table keeps serving. */
  INTERNAL: 'INTERNAL',
} as const;

/** One of the ApplyCode values. */
export type ApplyCode = (typeof ApplyCode)[keyof typeof ApplyCode];

/**
 * Thrown inside the apply pipeline so a deep failure (a secret in the table
 * builder, a bind in the listener set) reaches apply() with its code attached,
 * where it becomes a NACK instead of an exception.
 */
export class ApplyError extends Error {
  readonly code: ApplyCode;
  constructor(code: ApplyCode, message: string) {
    super(message);
    this.name = 'ApplyError';
    this.code = code;
  }
}

/**
 * What a client sees when the proxy itself answers. Bodies are short, fixed and
 * free of internals (no cluster names, endpoints or versions): they end up in
 * browsers and logs we do not control.
 */
export const ClientError = {
  /** The request target is not origin-form ("/path"), or the request is malformed. */
  BAD_REQUEST: { status: 400, body: 'bad request\n' },
  /** No virtual host or route matches and there is no default backend. */
  NO_ROUTE: { status: 404, body: 'no route\n' },
  /** The route has no backend, or its backend has no ready endpoint. */
  NO_ENDPOINT: { status: 503, body: 'no healthy upstream\n' },
  /**
   * A weighted split chose a backend that does not resolve, or every weight is
   * 0. 500, not 503, as the Gateway API specifies: the configuration is wrong,
   * retrying later will not help, and a typo must not be absorbed silently.
   */
  NO_BACKEND: { status: 500, body: 'backend not found\n' },
  /** A bug in the proxy while handling this request; logged, and the process keeps serving. */
  INTERNAL: { status: 500, body: 'internal error\n' },
  /** No snapshot applied yet: the proxy knows no routes at all. */
  NOT_CONFIGURED: { status: 503, body: 'not configured\n' },
  /** Every attempt to connect to an endpoint failed, or it failed before answering. */
  UPSTREAM_CONNECT: { status: 502, body: 'upstream connect error\n' },
  /** The upstream answered with something the proxy cannot relay. */
  UPSTREAM_INVALID: { status: 502, body: 'invalid upstream response\n' },
  /** The upstream did not send response headers within the route's timeout. */
  UPSTREAM_TIMEOUT: { status: 504, body: 'upstream timeout\n' },
} as const;

/** One of the ClientError entries. */
export type ClientErrorKind = (typeof ClientError)[keyof typeof ClientError];

/**
 * Answers with a client error unless headers already went out; then the only
 * honest signal left is to cut the connection, so the client cannot mistake a
 * truncated body for a complete one.
 */
export function sendClientError(res: ClientResponse, err: ClientErrorKind): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // An HTTP/2 response has no `destroyed` of its own: its stream's says it.
  if ('stream' in res ? res.stream.destroyed : res.destroyed) return;
  // Both kinds take writeHead(status, headers); only their types differ.
  (res as ServerResponse).writeHead(err.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(err.body),
    'cache-control': 'no-store',
  });
  res.end(err.body);
}

/**
 * Failure codes of the lean HTTP/1.1 upstream client (upstream/h1-pool.ts).
 * They are undici's codes on purpose: attempt.ts (CONNECT_FAILURES,
 * classify()) and retry.ts (RESET_CODES) decide retries and client answers by
 * `code`, and must not care which client produced the error.
 */
export const UpstreamCode = {
  /** The TCP connect did not finish within connectTimeoutMs (nothing was sent). */
  CONNECT_TIMEOUT: 'UND_ERR_CONNECT_TIMEOUT',
  /** The connection closed or broke during an exchange. */
  SOCKET: 'UND_ERR_SOCKET',
  /** No complete response head within the request's headersTimeout. */
  HEADERS_TIMEOUT: 'UND_ERR_HEADERS_TIMEOUT',
  /** No body bytes for the request's bodyTimeout. */
  BODY_TIMEOUT: 'UND_ERR_BODY_TIMEOUT',
  /** The response head is larger than 16 KiB. */
  HEADERS_OVERFLOW: 'UND_ERR_HEADERS_OVERFLOW',
  /** The response body ended before its Content-Length. */
  RES_CONTENT_LENGTH_MISMATCH: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  /** The request body did not match its Content-Length. */
  REQ_CONTENT_LENGTH_MISMATCH: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  /** The request body stream closed before its end. */
  ABORTED: 'UND_ERR_ABORTED',
  /** A dispatch after close(). */
  CLOSED: 'UND_ERR_CLOSED',
  /** The pool was destroyed with the request queued or running. */
  DESTROYED: 'UND_ERR_DESTROYED',
  /** The request options cannot be sent (a header value with CR/LF, a hop-by-hop framing header). */
  INVALID_ARG: 'UND_ERR_INVALID_ARG',
} as const;

/** An upstream client failure with its UpstreamCode (or an HPE_* code, name HTTPParserError, for parse errors). */
export class UpstreamError extends Error {
  readonly code: string;
  constructor(code: string, message: string, name = 'UpstreamError') {
    super(message);
    this.name = name;
    this.code = code;
  }
}
