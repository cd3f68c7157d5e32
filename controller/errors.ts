// The controller's error catalog: every error and reported problem carries one
// of these stable codes, so the CLI, logs, the admin page and tests can match on
// a code instead of on wording that may change. (The compiler's condition
// reasons live in compile/reasons.ts; the proxy has its own codes.)

/** Every code the controller uses, with what it means. */
export const ERROR_CODES = {
  INVALID_ARGUMENT: 'an option passed to a constructor is invalid (a programming or flag error)',
  CACHE_UNSUPPORTED_KIND: 'the object cache was handed a kind the compiler does not read',
  MANIFEST_DIR_NOT_FOUND: 'the manifest folder does not exist or is not a directory',
  MANIFEST_PARSE_ERROR: 'a manifest file is not valid YAML or JSON',
  MANIFEST_INVALID_OBJECT: 'a document in a manifest file lacks kind or metadata.name, or has a field of the wrong type',
  MANIFEST_DUPLICATE_OBJECT: 'the same kind/namespace/name is defined twice; the first file in path order wins',
  MANIFEST_UNREADABLE: 'a manifest file or folder could not be read',
  MANIFEST_KIND_IGNORED: 'a manifest defines objects of kinds Turnout does not read (a warning)',
  MANIFEST_WATCH_FAILED: 'watching the manifest folder failed; it is rescanned periodically instead',
  KUBE_WATCH_FAILED: 'listing or watching a kind on the API server failed; the informer restarts with backoff and the last objects stay',
  KUBE_INVALID_OBJECT: 'an object from the API server has a field of the wrong type (an outdated CRD?); it is ignored',
  STATUS_WRITE_FAILED: 'writing an object status or Event failed after retries (RBAC? API server down?)',
  BUILD_COMPILE_FAILED: 'the compiler threw (a bug); the last snapshot keeps being served',
  BUILD_SNAPSHOT_INVALID: 'the compiler produced an invalid snapshot (a bug); it was not published',
  STREAM_UNAUTHORIZED: 'a proxy connected without a valid bearer token (HTTP 401)',
  STREAM_FORBIDDEN: 'a proxy authenticated as a ServiceAccount that is not allowed to receive snapshots (HTTP 403)',
  STREAM_AUTH_UNAVAILABLE: 'a proxy token could not be checked now (TokenReview failed or too many in flight; HTTP 503)',
  STREAM_NOT_FOUND: 'a websocket upgrade asked for a path other than the snapshot stream',
  STREAM_BAD_SUBPROTOCOL: 'a proxy offered no snapshot stream protocol version the controller speaks (HTTP 400)',
  STREAM_PROTOCOL_MISMATCH: 'a proxy hello named a protocol version other than the one negotiated (close 1002)',
  STREAM_HELLO_TIMEOUT: 'a proxy connected but sent no hello in time',
  STREAM_PROTOCOL: 'a proxy sent a message that is not valid protocol',
  STREAM_HEARTBEAT_TIMEOUT: 'a proxy stopped answering pings',
  STREAM_NACK: 'a proxy refused a snapshot and keeps serving its current one',
} as const;

/** A stable error code from the catalog. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The controller's one error class: a message for humans, a code for machines. */
export class TurnoutError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TurnoutError';
    this.code = code;
  }
}
