// Wire messages of the snapshot stream (one JSON text frame each). The whole
// protocol — negotiation, auth, ACK/NACK codes, close codes, limits — is
// described in docs/protocol.md; keep the two in step.
//
//   proxy                                   controller
//   hello {protocol, proxyId, version?}  →
//                              ←  snapshot {version, snapshot}        (full)
//   ack {version}              →
//                              ←  delta {base, version, patch}        (JSON patch, RFC 6902)
//   nack {version, reason}     →
//
// At most one snapshot or delta is outstanding per proxy: the controller waits
// for the ACK or NACK before sending the next, so a slow proxy gets only the
// newest version (coalescing) and never an unbounded queue. A NACKed version is
// not sent again; the next different version is sent as a delta from the
// version the proxy last acknowledged.
import type { Operation } from 'fast-json-patch';
import type { Snapshot, Version } from './snapshot.ts';

/**
 * Protocol name carried in the websocket subprotocol header, bumped on
 * incompatible change. v2: a snapshot's `version` is a hash over per-bucket
 * hashes (api/version.ts), no longer SHA-256 of the whole canonical JSON; a
 * v1 peer would refuse every v2 snapshot as VERSION_MISMATCH, so it is
 * refused at the upgrade instead (HTTP 400 naming the versions spoken).
 */
export const STREAM_PROTOCOL = 'turnout.snapshot.v2';

/**
 * Every protocol version this build speaks, preferred first. The proxy offers
 * all of them as websocket subprotocols; the controller picks the first of its
 * own list that was offered, and refuses the upgrade (HTTP 400 naming its
 * versions) when none was.
 */
export const STREAM_PROTOCOLS: readonly string[] = Object.freeze([STREAM_PROTOCOL]);

/** Path the controller serves the stream on. */
export const STREAM_PATH = '/v1/snapshots';

/**
 * NACK code: the delta's base is not the version the proxy serves (it
 * restarted, or missed a message). The controller answers with a full snapshot.
 */
export const DELTA_BASE_MISMATCH = 'DELTA_BASE_MISMATCH';

/**
 * NACK code: the patch does not apply to the base, or does not produce the
 * version it claims. The controller answers with a full snapshot.
 */
export const DELTA_APPLY_FAILED = 'DELTA_APPLY_FAILED';

/** NACK codes that mean "the delta did not fit", not "the snapshot is bad": resend in full. */
export const RESYNC_NACK_CODES: ReadonlySet<string> = new Set([DELTA_BASE_MISMATCH, DELTA_APPLY_FAILED]);

/**
 * NACK code: a listener of the snapshot could not bind (the port is still held
 * by a draining process, or taken by another). The snapshot is fine; the
 * controller offers the same version again after a backoff.
 */
export const LISTENER_BIND_FAILED = 'LISTENER_BIND_FAILED';

/** NACK codes of a passing condition on the proxy's side: retry the same version with backoff. */
export const RETRY_NACK_CODES: ReadonlySet<string> = new Set([LISTENER_BIND_FAILED]);

/** First message from a proxy on every connection. */
export interface HelloMessage {
  readonly type: 'hello';
  /**
   * The protocol version the proxy speaks on this connection: the subprotocol
   * the controller picked. A hello naming another is closed with 1002.
   */
  readonly protocol: string;
  readonly proxyId: string;
  /** The version the proxy serves now, if any: the controller may answer with a delta from it. */
  readonly version?: Version;
}

/** A complete snapshot. */
export interface SnapshotMessage {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** A JSON patch that turns `base` into `version`. */
export interface DeltaMessage {
  readonly type: 'delta';
  readonly base: Version;
  readonly version: Version;
  readonly patch: readonly Operation[];
}

/** The proxy now serves `version`. */
export interface AckMessage {
  readonly type: 'ack';
  readonly version: Version;
}

/** The proxy refused `version` and keeps serving `current`. */
export interface NackMessage {
  readonly type: 'nack';
  readonly version: Version;
  readonly current?: Version;
  /** Stable code from the proxy's error catalog, e.g. "SNAPSHOT_INVALID", "DELTA_BASE_MISMATCH". */
  readonly code: string;
  readonly reason: string;
}

export type ProxyMessage = HelloMessage | AckMessage | NackMessage;
export type ControllerMessage = SnapshotMessage | DeltaMessage;

/** Parses a frame from a proxy; throws a StreamProtocolError naming what is wrong. */
export function parseProxyMessage(data: string): ProxyMessage {
  const msg = parseObject(data);
  switch (msg.type) {
    case 'hello':
      requireString(msg, 'protocol');
      requireString(msg, 'proxyId');
      if (msg.version !== undefined) requireString(msg, 'version');
      return msg as unknown as HelloMessage;
    case 'ack':
      requireString(msg, 'version');
      return msg as unknown as AckMessage;
    case 'nack':
      requireString(msg, 'version');
      requireString(msg, 'code');
      requireString(msg, 'reason');
      if (msg.current !== undefined) requireString(msg, 'current');
      return msg as unknown as NackMessage;
    default:
      throw new StreamProtocolError(`unknown message type ${JSON.stringify(msg.type)}`);
  }
}

/** Parses a frame from the controller; the snapshot itself is validated by the proxy's apply stage. */
export function parseControllerMessage(data: string): ControllerMessage {
  const msg = parseObject(data);
  switch (msg.type) {
    case 'snapshot':
      if (typeof msg.snapshot !== 'object' || msg.snapshot === null) {
        throw new StreamProtocolError('snapshot: must be an object');
      }
      return msg as unknown as SnapshotMessage;
    case 'delta':
      requireString(msg, 'base');
      requireString(msg, 'version');
      if (!Array.isArray(msg.patch)) throw new StreamProtocolError('patch: must be an array');
      return msg as unknown as DeltaMessage;
    default:
      throw new StreamProtocolError(`unknown message type ${JSON.stringify(msg.type)}`);
  }
}

/** A frame that is not valid protocol; the peer closes the connection with code 1002. */
export class StreamProtocolError extends Error {
  readonly code = 'STREAM_PROTOCOL';
}

function parseObject(data: string): Record<string, unknown> {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch (err) {
    throw new StreamProtocolError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    throw new StreamProtocolError('message must be a JSON object');
  }
  return msg as Record<string, unknown>;
}

function requireString(msg: Record<string, unknown>, field: string): void {
  if (typeof msg[field] !== 'string' || (msg[field] as string).length === 0) {
    throw new StreamProtocolError(`${field}: must be a non-empty string`);
  }
}
