// Per-object problem collection and its translation into Kubernetes-style
// conditions. Processors record problems as they meet them; only at the end do
// we know whether the object contributed anything, which decides Accepted.
import type { Condition } from './types.ts';
import type { Reason } from './reasons.ts';

/**
 * Condition types the compiler sets. Accepted and ResolvedRefs are always
 * present on an Ingress or Route we serve, so a status writer that replaces
 * the list wholesale clears stale problems; Conflicted and PartiallyInvalid
 * appear only when True (their absence is the good state), as in the Gateway
 * API. A Route's Programmed condition is not the compiler's: only the stream
 * layer knows which proxies acknowledged a snapshot containing it.
 */
export const CONDITION_TYPES = {
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  Conflicted: 'Conflicted',
  PartiallyInvalid: 'PartiallyInvalid',
} as const;

/** Which condition a problem feeds: invalid spec, unresolved reference, or lost conflict. */
export type ProblemKind = 'invalid' | 'ref' | 'conflict';

/** One thing that went wrong with one part of an object. */
export interface Problem {
  readonly kind: ProblemKind;
  readonly reason: Reason;
  readonly message: string;
}

// A condition message is user-facing and stored in etcd: keep it bounded.
const MAX_MESSAGES = 8;
const MAX_QUOTED = 80;

/**
 * Collects the problems of one object during a build. Problems are kept in the
 * order met (which is spec order, so deterministic); duplicates are dropped
 * because many routes may hit the same missing Service.
 */
export class ObjectStatus {
  readonly problems: Problem[] = [];
  /** Set when any part of the object made it into the snapshot. */
  contributed = false;
  /** Made on the first problem: most objects have none. */
  #seen: Set<string> | undefined;
  readonly #kind: string;
  readonly #empty: string;

  /**
   * `kind` names the object in messages; `empty` says what an object that
   * contributes nothing and has no problem lacks (the NothingToServe message).
   */
  constructor(kind = 'Ingress', empty = 'the Ingress has no rules with paths, no defaultBackend and no TLS hosts') {
    this.#kind = kind;
    this.#empty = empty;
  }

  add(kind: ProblemKind, reason: Reason, message: string): void {
    const id = `${kind}\0${reason}\0${message}`;
    this.#seen ??= new Set();
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    this.problems.push({ kind, reason, message });
  }

  /**
   * The conditions for this object. Accepted is False only when nothing of
   * the object is served; then its reason is the first problem that explains
   * why (or NothingToServe for an empty spec).
   */
  toConditions(): readonly Condition[] {
    // The common case, one shared frozen list per kind: at 10k objects that is
    // 10k fewer lists and conditions to allocate per build.
    if (this.contributed && this.problems.length === 0) return served(this.#kind);
    const of = (kind: ProblemKind) => this.problems.filter((p) => p.kind === kind);
    const invalid = of('invalid');
    const refs = of('ref');
    const conflicts = of('conflict');
    const out: Condition[] = [];
    if (this.contributed) {
      out.push(cond(CONDITION_TYPES.Accepted, 'True', 'Accepted', `the ${this.#kind} is served`));
    } else {
      const why = [...invalid, ...conflicts];
      out.push(why.length > 0
        ? summarize(CONDITION_TYPES.Accepted, 'False', why)
        : cond(CONDITION_TYPES.Accepted, 'False', 'NothingToServe', this.#empty));
    }
    out.push(refs.length > 0
      ? summarize(CONDITION_TYPES.ResolvedRefs, 'False', refs)
      : cond(CONDITION_TYPES.ResolvedRefs, 'True', 'ResolvedRefs', 'all references resolved'));
    if (conflicts.length > 0) out.push(summarize(CONDITION_TYPES.Conflicted, 'True', conflicts));
    if (invalid.length > 0 && this.contributed) out.push(summarize(CONDITION_TYPES.PartiallyInvalid, 'True', invalid));
    return out;
  }
}

const SERVED = new Map<string, readonly Condition[]>();

/** Accepted=True and ResolvedRefs=True for a `kind` object without problems; frozen, shared. */
function served(kind: string): readonly Condition[] {
  let list = SERVED.get(kind);
  if (list === undefined) {
    list = Object.freeze([
      Object.freeze(cond(CONDITION_TYPES.Accepted, 'True', 'Accepted', `the ${kind} is served`)),
      Object.freeze(cond(CONDITION_TYPES.ResolvedRefs, 'True', 'ResolvedRefs', 'all references resolved')),
    ]);
    SERVED.set(kind, list);
  }
  return list;
}

function cond(type: string, status: Condition['status'], reason: Reason, message: string): Condition {
  return { type, status, reason, message };
}

/** One condition from several problems: the first one's reason, all messages (bounded). */
function summarize(type: string, status: Condition['status'], problems: readonly Problem[]): Condition {
  const shown = problems.slice(0, MAX_MESSAGES).map((p) => p.message);
  if (problems.length > MAX_MESSAGES) shown.push(`(and ${problems.length - MAX_MESSAGES} more)`);
  return cond(type, status, problems[0]!.reason, shown.join('; '));
}

/**
 * Quotes user input for a message, truncated: a 10 kB bogus host must not
 * become a 10 kB condition.
 */
export function quote(value: unknown): string {
  const s = JSON.stringify(String(value));
  return s.length <= MAX_QUOTED ? s : `${s.slice(0, MAX_QUOTED - 4)}..."`;
}
