// Regular expressions of Routes (paths, header and query values) are user
// input that the proxy runs on every request, so they are RE2 syntax run by a
// linear-time engine (re2js), never JavaScript's backtracking RegExp. The
// compiler applies the proxy's own rule (api/regex.ts), so a pattern the proxy
// would refuse is a condition on its Route instead of a refused snapshot
// (which would hold back every other change).
import { regexProblem } from '../../api/regex.ts';
import type { Checked } from './match.ts';

/** Longest pattern accepted: the CRD's maxLength, and a bound on compile cost. */
export const MAX_REGEX_LENGTH = 1024;

/**
 * Checks that the proxy will serve `pattern` (api/regex.ts: RE2 syntax within
 * the program size limit). `what` names it in the message ("path", "header
 * x-canary"). Anchoring does not change whether a pattern compiles.
 */
export function checkRegex(pattern: string, what: string): Checked<string> {
  if (pattern.length > MAX_REGEX_LENGTH) {
    return { ok: false, reason: 'InvalidRegex', message: `${what} regular expression is longer than ${MAX_REGEX_LENGTH} characters` };
  }
  const problem = regexProblem(pattern);
  return problem === undefined ? { ok: true, value: pattern } : { ok: false, reason: 'InvalidRegex', message: `${what} ${problem}` };
}
