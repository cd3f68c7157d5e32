// Regular expressions of routes (paths, header and query values): which
// patterns a proxy serves, and their compiled form. One rule for both sides:
// the controller turns a pattern this refuses into a condition on its Route,
// so it never reaches a proxy and holds back a whole snapshot.
//
// Patterns are user input evaluated on the hot path, so they run on re2js, a
// linear-time RE2 engine (the syntax Envoy and the Gateway API use), never on
// a backtracking RegExp.
//
// Linear is not free: re2js builds a lazy DFA and, when a pattern's states
// exceed its memory budget (`.*a.{40}` on random a/b input does), falls back
// to an NFA whose cost is input length × program size. So, as Envoy does
// (re2.max_program_size, default 100), a pattern whose compiled program is
// larger than MAX_PROGRAM_SIZE is refused: with Node's 16 KiB header limit
// bounding every path and value, one pattern then costs at most about 0.1 s
// per request even on adversarial input and about 1 ms on ordinary input
// (bench/regex.ts prints both).
//
import { RE2JS } from 're2js';

/**
 * Largest compiled program accepted (RE2's "program size", Envoy's
 * re2.max_program_size default). `/api/v[0-9]+/users/[a-z0-9-]+/items/.*` is
 * 28; `[0-9a-f]{8}-[0-9a-f]{4}-...` (a UUID) is 38; `[a-z]{1,64}` is over.
 */
export const MAX_PROGRAM_SIZE = 100;

/** A pattern that cannot be served: RE2 syntax error, or too large. */
export class RegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexError';
  }
}

// Compiled patterns by pattern string, shared by every table: a rebuilt
// virtual host whose patterns did not change compiles nothing. A compiled
// RE2JS holds no per-match state, so sharing is safe. Bounded, least recently
// used out first; an evicted pattern that is still in use stays alive in its
// table and is only compiled again by a later build.
// Refusals are remembered too (as their message), so a bad pattern in a
// Route costs one compile, not one per build. Room for the patterns of 10k Routes.
const CACHE_LIMIT = 16_384;
const compiled = new Map<string, RE2JS | string>();

/** Compiles an RE2 pattern for anchored matching; throws RegexError. */
export function compileRegex(pattern: string): RE2JS {
  let entry = compiled.get(pattern);
  if (entry !== undefined) {
    compiled.delete(pattern);
  } else {
    entry = compile(pattern);
    if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
  }
  compiled.set(pattern, entry);
  if (typeof entry === 'string') throw new RegexError(entry);
  return entry;
}

// The compiled pattern, or why it is refused.
function compile(pattern: string): RE2JS | string {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    // RE2JSSyntaxException carries the bare reason in `error` ("missing closing )");
    // its message repeats the pattern, which ours already quotes (bounded).
    const reason = (err as { error?: unknown }).error;
    const why = typeof reason === 'string' && reason !== '' ? reason : 'not valid RE2 syntax';
    return `regular expression ${quote(pattern)} does not compile: ${why}`;
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) return `regular expression ${quote(pattern)} is too large (program size ${size}, at most ${MAX_PROGRAM_SIZE})`;
  return re;
}

/** Why a pattern would be refused, or undefined when the proxy serves it (for the controller's conditions). */
export function regexProblem(pattern: string): string | undefined {
  try {
    compileRegex(pattern);
    return undefined;
  } catch (err) {
    if (err instanceof RegexError) return err.message;
    throw err;
  }
}

/** Patterns in messages: JSON-quoted, cut at 100 characters (a NACK reason is not a dump). */
function quote(pattern: string): string {
  return pattern.length > 100 ? `${JSON.stringify(pattern.slice(0, 100))}...` : JSON.stringify(pattern);
}
