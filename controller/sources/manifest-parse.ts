// Turns the text of one manifest file into Kubernetes objects, the way kubectl
// would read it: multi-document YAML (JSON is YAML too), `kind: List` wrappers,
// namespace defaulting and Secret `stringData` folding. Pure: no I/O, so every
// rule is testable from a string.
import { isNode, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document } from 'yaml';
import type { KubeObject } from '../k8s/types.ts';
import { isCachedKind, objectKey } from '../cache.ts';
import { shapeProblem } from '../k8s/shape.ts';
import type { SourceProblem } from './source.ts';

/** One object found in a file, with where it starts (for duplicate reports). */
export interface ManifestObject {
  /** objectKey(): "Kind/namespace/name". */
  readonly key: string;
  readonly obj: KubeObject;
  readonly line: number;
}

/**
 * What one file yields. With `error` set the file is refused as a whole and the
 * caller keeps its previous objects: half a file could drop the Service that
 * the other half's Ingress points at.
 */
export interface ParsedManifest {
  readonly objects: readonly ManifestObject[];
  /** Non-fatal: objects of kinds Turnout does not read. */
  readonly warnings: readonly SourceProblem[];
  readonly error?: SourceProblem;
}

/** Parses one file's text; never throws. `file` is only used in problem reports. */
export function parseManifest(file: string, text: string): ParsedManifest {
  const lines = new LineCounter();
  let docs: Document.Parsed[];
  try {
    const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true });
    docs = Array.isArray(parsed) ? parsed : [];
  } catch (err) {
    return refused(file, 'MANIFEST_PARSE_ERROR', messageOf(err), 1);
  }
  for (const doc of docs) {
    const e = doc.errors[0];
    if (e !== undefined) {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      return refused(file, 'MANIFEST_PARSE_ERROR', messageOf(e), pos.line, pos.col);
    }
  }

  const objects: ManifestObject[] = [];
  const ignored: ManifestObject[] = [];
  for (const doc of docs) {
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      return refused(file, 'MANIFEST_PARSE_ERROR', messageOf(err), lineOf(doc.contents, lines));
    }
    if (value === null || value === undefined) continue; // an empty or comment-only document
    const docLine = lineOf(doc.contents, lines);
    const items = listItems(value);
    const itemNodes = items === undefined ? [] : (doc.getIn(['items'], true) as unknown);
    const candidates = items === undefined
      ? [{ value, line: docLine }]
      : items.map((v, i) => ({ value: v, line: isSeq(itemNodes) ? lineOf(itemNodes.items[i], lines) : docLine }));
    for (const c of candidates) {
      const obj = asObject(c.value);
      if (obj === undefined) {
        return refused(file, 'MANIFEST_INVALID_OBJECT', 'every document needs a string kind and metadata.name', c.line);
      }
      const entry = { key: objectKey(obj.kind!, obj.metadata.namespace, obj.metadata.name), obj, line: c.line };
      const group = groupCheck(obj);
      if (!isCachedKind(obj.kind) || group === 'foreign') {
        ignored.push(group === 'foreign' ? { ...entry, key: `${obj.apiVersion} ${entry.key}` } : entry);
        continue;
      }
      if (group !== 'ok') return refused(file, 'MANIFEST_INVALID_OBJECT', `${entry.key}: ${group}`, c.line);
      // What the API server's schema validation would refuse must not reach the compiler.
      const problem = shapeProblem(obj.kind!, obj);
      if (problem !== undefined) return refused(file, 'MANIFEST_INVALID_OBJECT', `${entry.key}: ${problem}`, c.line);
      objects.push(entry);
    }
  }

  const warnings: SourceProblem[] = [];
  if (ignored.length > 0) {
    const first = ignored[0]!;
    const names = ignored.slice(0, 5).map((o) => o.key).join(', ') + (ignored.length > 5 ? `, and ${ignored.length - 5} more` : '');
    warnings.push({
      code: 'MANIFEST_KIND_IGNORED', severity: 'warning', file, line: first.line,
      message: `ignored ${ignored.length} object(s) of kinds Turnout does not read: ${names}`,
    });
  }
  return { objects, warnings };
}

/**
 * Kinds Turnout defines itself, by the API versions it reads. Another group's
 * kind of the same name (OpenShift's route.openshift.io Route) is not ours
 * and is ignored like any other kind; an unknown version of ours is refused,
 * as the API server would. Objects without apiVersion are taken as ours, as
 * manifests of the other kinds may omit it too.
 */
const OWN_KINDS: Readonly<Record<string, { readonly group: string; readonly versions: readonly string[] }>> = {
  Route: { group: 'turnout.dev', versions: ['v1alpha1'] },
};

function groupCheck(obj: KubeObject): 'ok' | 'foreign' | string {
  const own = OWN_KINDS[obj.kind!];
  if (own === undefined || obj.apiVersion === undefined) return 'ok';
  if (typeof obj.apiVersion !== 'string') return 'apiVersion: must be a string';
  const slash = obj.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : obj.apiVersion.slice(0, slash);
  if (group !== own.group) return 'foreign';
  const version = obj.apiVersion.slice(slash + 1);
  if (own.versions.includes(version)) return 'ok';
  return `apiVersion ${obj.apiVersion} is not a version Turnout reads (${own.versions.map((v) => `${own.group}/${v}`).join(', ')})`;
}

/** Items of a `kind: List` (or a typed list such as `IngressList`, as `kubectl get -o yaml` writes). */
function listItems(value: unknown): unknown[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.kind !== 'string' || !v.kind.endsWith('List') || !Array.isArray(v.items)) return undefined;
  return v.items;
}

/** Validates the minimum shape and normalises the object as the API server would. */
function asObject(value: unknown): KubeObject | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const meta = v.metadata as Record<string, unknown> | undefined;
  if (typeof v.kind !== 'string' || v.kind === '') return undefined;
  if (typeof meta !== 'object' || meta === null || typeof meta.name !== 'string' || meta.name === '') return undefined;
  if (meta.namespace !== undefined && typeof meta.namespace !== 'string') return undefined;
  const obj = value as unknown as KubeObject & { stringData?: unknown; data?: unknown };
  if (obj.kind !== 'IngressClass' && !obj.metadata.namespace) obj.metadata.namespace = 'default';
  if (obj.kind === 'Secret') foldStringData(obj);
  return obj;
}

/**
 * The API server merges `stringData` into `data` (base64, stringData wins) and
 * drops it; the compiler only reads `data`, so manifests must look the same.
 */
function foldStringData(secret: { stringData?: unknown; data?: unknown }): void {
  const sd = secret.stringData;
  if (typeof sd !== 'object' || sd === null) return;
  const data: Record<string, unknown> = typeof secret.data === 'object' && secret.data !== null ? { ...secret.data } : {};
  for (const [k, v] of Object.entries(sd)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  secret.data = data;
  delete secret.stringData;
}

function refused(file: string, code: SourceProblem['code'], message: string, line?: number, col?: number): ParsedManifest {
  return { objects: [], warnings: [], error: { code, severity: 'error', file, line, col, message } };
}

function lineOf(node: unknown, lines: LineCounter): number {
  const range = isNode(node) ? node.range : undefined;
  return range ? lines.linePos(range[0]).line : 1;
}

/**
 * The first line of a yaml error without its position (reported separately).
 * The rest of a yaml message quotes the source, which for a Secret could be
 * key material: never include it.
 */
function messageOf(err: unknown): string {
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  return first.replace(/ at line \d+, column \d+:?$/, '');
}
