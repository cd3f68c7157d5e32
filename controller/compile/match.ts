// Hosts and paths as written in an Ingress, validated and normalized into the
// snapshot's virtual-host keys and route matches. Everything here is a pure
// string function so the table tests (and the proxy's) can pin it down.
import { isIPv4 } from 'node:net';
import type { PathMatchType } from '../../api/snapshot.ts';
import { ANY_HOST, routeKey } from '../../api/snapshot.ts';
import type { Reason } from './reasons.ts';
import { quote } from './conditions.ts';

/** A normalization that either worked or says why not (as a condition reason and message). */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: Reason; readonly message: string };

const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const SUBDOMAIN_RE = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

/**
 * The virtual-host key of an Ingress host or Route hostname: lower-cased; "*.foo.com" kept as is;
 * absent or empty means ANY_HOST. Anything else must be a DNS-1123 subdomain
 * (at most 253 characters) that is not an IP address, as the API server
 * requires; the manifest folder has no API server, so we check again. A valid
 * key can never be "__proto__" (no underscores), so plain objects are safe.
 */
export function hostKey(raw: string | undefined): Checked<string> {
  if (raw === undefined || raw === '') return { ok: true, value: ANY_HOST };
  const host = raw.toLowerCase();
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (host.length > 253 || !SUBDOMAIN_RE.test(name)) {
    return { ok: false, reason: 'InvalidHost', message: `host ${quote(raw)} is not a DNS name or a "*." wildcard` };
  }
  // After SUBDOMAIN_RE (no ':'), only IPv4 is possible: isIP would also run the long IPv6 pattern on every host.
  if (isIPv4(name)) {
    return { ok: false, reason: 'InvalidHost', message: `host ${quote(raw)} is an IP address; hosts must be DNS names` };
  }
  return { ok: true, value: host };
}

// RFC 3986 pchar plus "/": unreserved, sub-delims, ":", "@", and %XX escapes.
// No "?", "#", spaces, backslashes or non-ASCII.
const PATH_CHARS_RE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;
// Escapes the proxy would decode into something that changes path structure.
const BAD_ESCAPE_RE = /%(?:2f|5c|00)/i;

/**
 * The compiled match of an Ingress path.
 *
 * - ImplementationSpecific compiles to Prefix: it is what users of other
 *   controllers expect from it, and it keeps the routing table to two kinds.
 * - A missing path means "/" for Prefix and ImplementationSpecific; Exact needs
 *   one.
 * - Prefix paths match whole path elements, so a trailing slash carries no
 *   meaning: "/foo/" compiles to "/foo" (the same route as "/foo"). "/" stays.
 *   Exact paths are kept exactly as written ("/foo/" does not match "/foo").
 * - Rejected: relative paths; characters invalid in a URL path; empty
 *   segments ("//"); "." and ".." segments, also percent-encoded; encoded "/",
 *   "\" and NUL. The proxy matches normalized request paths, so such a route
 *   either never matches or, worse, matches something its author did not mean.
 */
export function pathMatch(pathType: unknown, raw: string | undefined): Checked<{ type: PathMatchType; path: string }> {
  return checkedPath(pathType, raw).checked;
}

/**
 * pathMatch, and the route key of an Ingress route on the path (a match on
 * the path alone): one key string per distinct path rather than one per route,
 * so the claims' maps and the snapshot's routes get the same (already hashed)
 * string each time.
 */
export function ingressPath(pathType: unknown, raw: string | undefined): CheckedPath {
  return checkedPath(pathType, raw);
}

/** A path's check and, when it passed, its route key without header, query or method matches. */
export interface CheckedPath {
  readonly checked: Checked<{ type: PathMatchType; path: string }>;
  readonly key: string;
}

// The same few paths ("/", "/healthz") recur across thousands of Ingresses:
// remembered, as frozen results, so a 10k build checks each once. By path
// type, then path: a lookup with the strings the Ingress holds, no key built.
function checkedPath(pathType: unknown, raw: string | undefined): CheckedPath {
  if (typeof pathType !== 'string' || typeof raw !== 'string') return keyed(checkPath(pathType, raw));
  let byPath = PATHS.get(pathType);
  if (byPath === undefined) {
    if (PATHS.size >= MAX_PATH_TYPES) PATHS.clear();
    PATHS.set(pathType, byPath = new Map());
  }
  let hit = byPath.get(raw);
  if (hit === undefined) {
    if (byPath.size >= MAX_REMEMBERED_PATHS) byPath.clear();
    hit = Object.freeze(keyed(deepFreezeResult(checkPath(pathType, raw))));
    byPath.set(raw, hit);
  }
  return hit;
}

function keyed(checked: Checked<{ type: PathMatchType; path: string }>): CheckedPath {
  return { checked, key: checked.ok ? routeKey(checked.value.type, checked.value.path) : '' };
}

const PATHS = new Map<string, Map<string, CheckedPath>>();
/** Bounds pathMatch's memory: distinct paths beyond this (per path type) start it afresh. */
const MAX_REMEMBERED_PATHS = 4096;
/** Path types as written are free-form strings (invalid ones get a condition): bounded too. */
const MAX_PATH_TYPES = 16;

function deepFreezeResult<T>(r: Checked<T>): Checked<T> {
  if (r.ok) Object.freeze(r.value);
  return Object.freeze(r);
}

function checkPath(pathType: unknown, raw: string | undefined): Checked<{ type: PathMatchType; path: string }> {
  let type: PathMatchType;
  if (pathType === 'Exact') type = 'Exact';
  else if (pathType === 'Prefix' || pathType === 'ImplementationSpecific') type = 'Prefix';
  else return { ok: false, reason: 'InvalidPathType', message: `path ${quote(raw ?? '')} has pathType ${quote(pathType ?? '')}; want Exact, Prefix or ImplementationSpecific` };

  let path = raw ?? '';
  if (path === '') {
    if (type === 'Exact') return bad(raw, 'is empty; an Exact path must be given');
    path = '/';
  }
  if (!path.startsWith('/')) return bad(raw, 'must start with "/"');
  if (!PATH_CHARS_RE.test(path)) return bad(raw, 'contains characters that are not valid in a URL path');
  if (BAD_ESCAPE_RE.test(path)) return bad(raw, 'contains an encoded "/", "\\" or NUL');
  if (path.includes('//')) return bad(raw, 'contains an empty segment ("//")');
  for (const segment of path.split('/')) {
    const s = segment.replace(/%2e/gi, '.');
    if (s === '.' || s === '..') return bad(raw, 'contains a "." or ".." segment');
  }
  if (type === 'Prefix' && path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  // Keys in sorted order: Ingress routes use this object as their match (shared, frozen).
  return { ok: true, value: { path, type } };
}

function bad(raw: string | undefined, why: string): Checked<never> {
  return { ok: false, reason: 'InvalidPath', message: `path ${quote(raw ?? '')} ${why}` };
}
