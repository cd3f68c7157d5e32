// Regular expressions of Routes (paths, header and query values) are user
// input that the proxy runs on every request, so they are RE2 syntax run by a
// linear-time engine (re2js), never JavaScript's backtracking RegExp. The
// compiler checks that each pattern compiles with the same engine the proxy
// uses, so a bad pattern is a condition on its Route instead of a refused
// snapshot (which would hold back every other change).
import { RE2JS } from 're2js';
import type { Checked } from './match.ts';
import { quote } from './conditions.ts';

/** Longest pattern accepted: the CRD's maxLength, and a bound on compile cost. */
export const MAX_REGEX_LENGTH = 1024;

/**
 * Pattern → error message (undefined: compiles). Module-level so consecutive
 * builds share it; the answer depends on the pattern alone. Bounded LRU, as
 * for Secrets.
 */
const cache = new Map<string, string | undefined>();
/** Room for the patterns of 10k Routes; an entry is a pattern (at most 1 KiB) and a short message. */
const MAX_CACHED = 16_384;

/**
 * Checks that `pattern` is valid RE2 syntax. `what` names it in the message
 * ("path", "header x-canary"). The proxy matches the whole path or value
 * (anchored); anchoring does not change whether a pattern compiles.
 */
export function checkRegex(pattern: string, what: string): Checked<string> {
  if (pattern.length > MAX_REGEX_LENGTH) {
    return { ok: false, reason: 'InvalidRegex', message: `${what} regular expression is longer than ${MAX_REGEX_LENGTH} characters` };
  }
  let err: string | undefined;
  if (cache.has(pattern)) {
    err = cache.get(pattern);
    cache.delete(pattern);
  } else {
    err = compileError(pattern);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  }
  cache.set(pattern, err);
  return err === undefined ? { ok: true, value: pattern } : { ok: false, reason: 'InvalidRegex', message: `${what} regular expression ${quote(pattern)} is not valid RE2 syntax: ${err}` };
}

function compileError(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (e) {
    // RE2JSSyntaxException carries the bare reason in `error` ("missing closing )");
    // its message repeats the pattern, which the condition already quotes (bounded).
    const reason = (e as { error?: unknown }).error;
    return typeof reason === 'string' && reason !== '' ? reason : 'it does not compile';
  }
}
