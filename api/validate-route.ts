// Validation of one route (api/validate.ts checks the rest of a snapshot).
// Structure and references only: whether a regular expression is served is
// api/regex.ts's rule, which the controller applies first (a condition) and
// the proxy applies again when it builds its table (a NACK).
import type { RouteMatch } from './snapshot.ts';
import { RETRY_CONDITIONS } from './snapshot.ts';

/** Where validation reports a problem: a JSON pointer and a reason. */
export type Report = (path: string, reason: string) => void;

/**
 * A JSON pointer, or a function that builds it. A path is needed only when a
 * problem is reported: building one per entry (with its escaping) on the happy
 * path was a large part of validating 10k hosts.
 */
export type Where = string | (() => string);

/** The pointer `w` stands for. */
export function at(w: Where): string {
  return typeof w === 'string' ? w : w();
}

const PATH_TYPES = new Set(['Exact', 'Prefix', 'RegularExpression']);
const VALUE_TYPES = new Set(['Exact', 'RegularExpression']);
/** Status codes a redirect may have. */
export const REDIRECT_CODES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const MODIFIER_TYPES = new Set(['ReplaceFullPath', 'ReplacePrefixMatch']);
/** A header name as stored: an RFC 9110 token, lower-case. */
export const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** A method as stored: upper-case letters. */
export const METHOD = /^[A-Z]+$/;
/** A header value: visible ASCII, space, tab and obs-text; no CR, LF or NUL, which would split or cut a header. */
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers a filter may not touch: hop-by-hop, or owned by the proxy. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'host', 'content-length', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip',
]);

/**
 * Checks one route object; returns its match when that part is well-formed so
 * the caller can check the route's key. `hasCluster` resolves cluster
 * references (own keys only).
 */
export function validateRoute(rp: Where, r: unknown, hasCluster: (key: string) => boolean, bad: Report): RouteMatch | undefined {
  if (!isObject(r)) { bad(at(rp), 'must be an object'); return undefined; }
  // Counted, not filtered from an array: no allocation per route.
  const actions = (r.cluster !== undefined || (r.backends === undefined && r.redirect === undefined) ? 1 : 0) + (r.backends !== undefined ? 1 : 0) + (r.redirect !== undefined ? 1 : 0);
  if (actions > 1) bad(at(rp), 'must have only one of cluster, backends and redirect');
  if (r.cluster !== undefined && (typeof r.cluster !== 'string' || !hasCluster(r.cluster))) {
    bad(`${at(rp)}/cluster`, `cluster ${JSON.stringify(r.cluster)} does not exist`);
  }
  if (r.backends !== undefined) validateSplit(rp, r.backends, hasCluster, bad);
  // Paths below the route come from under(): no closure in this frame, so a
  // call allocates nothing for the fields a route does not have.
  if (r.redirect !== undefined) validateRedirect(under(rp, 'redirect'), r.redirect, bad);
  if (r.rewrite !== undefined) {
    if (!isObject(r.rewrite)) bad(`${at(rp)}/rewrite`, 'must be an object');
    else {
      if (r.rewrite.hostname !== undefined && !isHostname(r.rewrite.hostname)) bad(`${at(rp)}/rewrite/hostname`, 'must be a DNS name');
      if (r.rewrite.path !== undefined) validateModifier(under(rp, 'rewrite/path'), r.rewrite.path, bad);
    }
  }
  if (r.mirror !== undefined) validateMirror(under(rp, 'mirror'), r.mirror, hasCluster, bad);
  if (r.requestHeaders !== undefined) validateFilter(under(rp, 'requestHeaders'), r.requestHeaders, bad);
  if (r.responseHeaders !== undefined) validateFilter(under(rp, 'responseHeaders'), r.responseHeaders, bad);
  if (typeof r.timeoutMs !== 'number' || !Number.isInteger(r.timeoutMs) || r.timeoutMs <= 0) bad(`${at(rp)}/timeoutMs`, 'must be a positive integer');
  if (r.requestTimeoutMs !== undefined) {
    if (!isTimeout(r.requestTimeoutMs)) bad(`${at(rp)}/requestTimeoutMs`, `must be a positive integer up to ${MAX_TIMER_MS}`);
    else if (typeof r.timeoutMs === 'number' && r.requestTimeoutMs < r.timeoutMs) bad(`${at(rp)}/requestTimeoutMs`, 'must be at least timeoutMs');
  }
  if (r.idleTimeoutMs !== undefined && !isTimeout(r.idleTimeoutMs)) bad(`${at(rp)}/idleTimeoutMs`, `must be a positive integer up to ${MAX_TIMER_MS}`);
  if (r.retry !== undefined) validateRetry(under(rp, 'retry'), r.retry, bad);
  if (r.rank !== undefined && (!Number.isInteger(r.rank) || (r.rank as number) < 0)) bad(`${at(rp)}/rank`, 'must be a non-negative integer');
  if (typeof r.origin !== 'string') bad(`${at(rp)}/origin`, 'must be a string');
  return validateMatch(rp, r.match, bad);
}

/** The match of the route at `rp` (problems under its /match). */
function validateMatch(rp: Where, m: unknown, bad: Report): RouteMatch | undefined {
  if (!isObject(m) || !PATH_TYPES.has(m.type as string) || typeof m.path !== 'string' || m.path === '') {
    bad(`${at(rp)}/match`, 'must be {type: "Exact"|"Prefix"|"RegularExpression", path}');
    return undefined;
  }
  if (m.type !== 'RegularExpression' && !m.path.startsWith('/')) bad(`${at(rp)}/match/path`, 'must start with "/"');
  let ok = true;
  if (m.headers !== undefined && !validateValueMatches(rp, 'headers', m.headers, bad)) ok = false;
  if (m.queryParams !== undefined && !validateValueMatches(rp, 'queryParams', m.queryParams, bad)) ok = false;
  if (m.method !== undefined && (typeof m.method !== 'string' || !METHOD.test(m.method))) { bad(`${at(rp)}/match/method`, 'must be an upper-case method'); ok = false; }
  return ok ? (m as unknown as RouteMatch) : undefined;
}

/** A match's header or query conditions (`f`), present; true when all are well-formed. */
function validateValueMatches(rp: Where, f: 'headers' | 'queryParams', list: unknown, bad: Report): boolean {
  if (!Array.isArray(list) || list.length === 0) { bad(`${at(rp)}/match/${f}`, 'must be a non-empty list when present'); return false; }
  let ok = true;
  for (let i = 0; i < list.length; i++) {
    const v: unknown = list[i];
    if (!isObject(v) || typeof v.name !== 'string' || v.name === '' || !VALUE_TYPES.has(v.type as string) || typeof v.value !== 'string') {
      bad(`${at(rp)}/match/${f}/${i}`, 'must be {name, type: "Exact"|"RegularExpression", value}');
      ok = false;
    } else if (f === 'headers' && !HEADER_NAME.test(v.name)) {
      bad(`${at(rp)}/match/${f}/${i}/name`, 'must be a lower-case header name');
      ok = false;
    }
  }
  return ok;
}

/** A weighted split of the route at `rp`, present. */
function validateSplit(rp: Where, backends: unknown, hasCluster: (key: string) => boolean, bad: Report): void {
  if (!Array.isArray(backends) || backends.length === 0) { bad(`${at(rp)}/backends`, 'must be a non-empty list'); return; }
  for (let i = 0; i < backends.length; i++) {
    const b: unknown = backends[i];
    if (!isObject(b)) { bad(`${at(rp)}/backends/${i}`, 'must be an object'); continue; }
    if (b.cluster !== undefined && (typeof b.cluster !== 'string' || !hasCluster(b.cluster))) bad(`${at(rp)}/backends/${i}/cluster`, `cluster ${JSON.stringify(b.cluster)} does not exist`);
    if (!Number.isInteger(b.weight) || (b.weight as number) < 0 || (b.weight as number) > 1_000_000) bad(`${at(rp)}/backends/${i}/weight`, 'must be an integer in 0..1000000');
  }
}

/** The pointer of `seg` below `w`, built when read. */
function under(w: Where, seg: string): () => string {
  return () => `${at(w)}/${seg}`;
}

/** Node's timers fire at once above 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The most retries a policy may ask for (the compiler's bound too). */
export const MAX_RETRY_ATTEMPTS = 10;
const RETRY_ON: ReadonlySet<unknown> = new Set(RETRY_CONDITIONS);

function isTimeout(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) > 0 && (v as number) <= MAX_TIMER_MS;
}

function validateRetry(p: Where, r: unknown, bad: Report): void {
  if (!isObject(r)) return bad(at(p), 'must be an object');
  if (!Number.isInteger(r.attempts) || (r.attempts as number) < 0 || (r.attempts as number) > MAX_RETRY_ATTEMPTS) bad(`${at(p)}/attempts`, `must be an integer in 0..${MAX_RETRY_ATTEMPTS}`);
  const on = r.on;
  if (!Array.isArray(on)) bad(`${at(p)}/on`, 'must be a list');
  else on.forEach((c: unknown, i: number) => {
    if (!RETRY_ON.has(c)) bad(`${at(p)}/on/${i}`, `must be one of ${RETRY_CONDITIONS.map((x) => JSON.stringify(x)).join(', ')}`);
    else if (on.indexOf(c) !== i) bad(`${at(p)}/on/${i}`, `${JSON.stringify(c)} is listed twice`);
  });
  if (r.perTryTimeoutMs !== undefined && !isTimeout(r.perTryTimeoutMs)) bad(`${at(p)}/perTryTimeoutMs`, `must be a positive integer up to ${MAX_TIMER_MS}`);
  if (!Number.isInteger(r.backoffMs) || (r.backoffMs as number) < 0 || (r.backoffMs as number) > MAX_TIMER_MS) bad(`${at(p)}/backoffMs`, `must be an integer in 0..${MAX_TIMER_MS}`);
}

function validateMirror(p: Where, m: unknown, hasCluster: (key: string) => boolean, bad: Report): void {
  if (!isObject(m)) return bad(at(p), 'must be an object');
  if (m.cluster !== undefined && (typeof m.cluster !== 'string' || !hasCluster(m.cluster))) bad(`${at(p)}/cluster`, `cluster ${JSON.stringify(m.cluster)} does not exist`);
  if (!Number.isInteger(m.percent) || (m.percent as number) < 0 || (m.percent as number) > 100) bad(`${at(p)}/percent`, 'must be an integer in 0..100');
}

function validateRedirect(p: Where, r: unknown, bad: Report): void {
  if (!isObject(r)) return bad(at(p), 'must be an object');
  if (!REDIRECT_CODES.has(r.statusCode as number)) bad(`${at(p)}/statusCode`, 'must be 301, 302, 303, 307 or 308');
  if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') bad(`${at(p)}/scheme`, 'must be "http" or "https"');
  if (r.hostname !== undefined && !isHostname(r.hostname)) bad(`${at(p)}/hostname`, 'must be a DNS name');
  if (r.port !== undefined && (!Number.isInteger(r.port) || (r.port as number) < 1 || (r.port as number) > 65535)) bad(`${at(p)}/port`, 'must be an integer in 1..65535');
  if (r.path !== undefined) validateModifier(() => `${at(p)}/path`, r.path, bad);
}

function validateModifier(p: Where, m: unknown, bad: Report): void {
  if (!isObject(m) || !MODIFIER_TYPES.has(m.type as string) || typeof m.value !== 'string' || !m.value.startsWith('/')) {
    bad(at(p), 'must be {type: "ReplaceFullPath"|"ReplacePrefixMatch", value: "/..."}');
  }
}

function validateFilter(p: Where, f: unknown, bad: Report): void {
  if (!isObject(f)) return bad(at(p), 'must be an object');
  for (const op of ['set', 'add'] as const) {
    if (f[op] === undefined) continue;
    if (!Array.isArray(f[op])) { bad(`${at(p)}/${op}`, 'must be a list'); continue; }
    (f[op] as unknown[]).forEach((h, i) => {
      if (!isObject(h) || typeof h.name !== 'string' || !HEADER_NAME.test(h.name) || typeof h.value !== 'string' || !HEADER_VALUE.test(h.value)) {
        bad(`${at(p)}/${op}/${i}`, 'must be {name: lower-case header name, value without CR or LF}');
      } else if (RESERVED_HEADERS.has(h.name)) bad(`${at(p)}/${op}/${i}/name`, `${h.name} is managed by the proxy`);
    });
  }
  if (f.remove !== undefined) {
    if (!Array.isArray(f.remove) || f.remove.some((n) => typeof n !== 'string' || !HEADER_NAME.test(n))) bad(`${at(p)}/remove`, 'must be a list of lower-case header names');
    else f.remove.forEach((n: string, i: number) => { if (RESERVED_HEADERS.has(n)) bad(`${at(p)}/remove/${i}`, `${n} is managed by the proxy`); });
  }
}

function isHostname(v: unknown): boolean {
  return typeof v === 'string' && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
