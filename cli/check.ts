// `kubectl turnout check -f FILE|DIR...`: the real compiler, offline, on
// manifests, printing the conditions each Ingress and Route would get, the
// way `nginx -t` is used before a reload. Nothing from the input is executed:
// files are parsed as YAML data (no tags that construct objects), checked for
// shape, and compiled by the same pure function the controller runs; the
// snapshot it would publish is validated as a proxy would validate it.
//
// Exit status: 0 when every object is Accepted with its references resolved,
// 1 when some object has a problem (or a file cannot be read or parsed), 2 for
// a usage error.
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { validateSnapshot } from '../api/validate.ts';
import { ObjectCache } from '../controller/cache.ts';
import { compile } from '../controller/compile/builder.ts';
import type { Condition } from '../controller/compile/types.ts';
import { generateDefaultCertificate } from '../controller/default-cert.ts';
import { proxyListeners } from '../controller/main.ts';
import { parseManifest } from '../controller/sources/manifest-parse.ts';
import { listManifestFiles, MAX_MANIFEST_BYTES } from '../controller/sources/manifests.ts';

const USAGE = `Usage: kubectl turnout check -f FILE|DIR [-f ...] [--ingress-class turnout] [--enable-external-name] [-o text|json]

Compiles Ingress, IngressClass, Route, Service, EndpointSlice and Secret manifests
with Turnout's compiler, offline, and prints the conditions each Ingress and Route
would get. Exit status 0 when all are Accepted with resolved references, else 1.
`;

/** One object's verdict. */
interface Verdict {
  readonly object: string;
  readonly ok: boolean;
  readonly conditions: readonly Condition[];
}

/** The verdicts and file problems of a check, for text or JSON output. */
export interface CheckResult {
  readonly files: number;
  readonly problems: readonly string[];
  readonly verdicts: readonly Verdict[];
}

/** Is `c` a condition a healthy object has (Accepted/ResolvedRefs True, nothing else True that signals trouble)? */
function healthy(c: Condition): boolean {
  if (c.type === 'Accepted' || c.type === 'ResolvedRefs') return c.status === 'True';
  return c.status !== 'True';
}

/** Reads, parses and compiles `paths`; never throws for bad input (it is reported). */
export async function check(paths: readonly string[], opts: { ingressClass: string; externalNames: boolean }): Promise<CheckResult> {
  const problems: string[] = [];
  const files: string[] = [];
  for (const p of paths) {
    const st = await stat(p).catch((err: Error) => err);
    if (st instanceof Error) { problems.push(`${p}: ${st.message}`); continue; }
    if (!st.isDirectory()) { files.push(p); continue; }
    const scan = await listManifestFiles(p);
    for (const prob of scan?.problems ?? []) problems.push(`${prob.file}: ${prob.message}`);
    files.push(...(scan?.files ?? []));
  }
  const cache = new ObjectCache();
  for (const f of files) {
    const st = await stat(f);
    if (st.size > MAX_MANIFEST_BYTES) { problems.push(`${f}: larger than ${MAX_MANIFEST_BYTES} bytes`); continue; }
    const parsed = parseManifest(f, await readFile(f, 'utf8'));
    if (parsed.error !== undefined) { problems.push(`${f}${parsed.error.line ? `:${parsed.error.line}` : ''}: ${parsed.error.message}`); continue; }
    for (const w of parsed.warnings) problems.push(`${f}${w.line ? `:${w.line}` : ''}: ${w.message}`);
    for (const o of parsed.objects) cache.upsert(o.obj);
  }
  const result = compile(cache.inputs(), {
    ingressClass: opts.ingressClass,
    listeners: proxyListeners('0.0.0.0', 80, 443),
    defaultCertificate: await generateDefaultCertificate(),
    defaultTimeoutMs: 15_000,
    externalNames: opts.externalNames,
  });
  for (const p of validateSnapshot(result.snapshot)) problems.push(`the snapshot would be refused by proxies: ${p.path}: ${p.reason}`);
  const verdicts = [...result.conditions.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([object, conditions]) => ({ object, ok: conditions.every(healthy), conditions }));
  return { files: files.length, problems, verdicts };
}

/** Renders a result for a terminal: one line per object, indented reasons for the unhealthy ones. */
export function formatCheck(r: CheckResult): string {
  const lines: string[] = [];
  for (const p of r.problems) lines.push(`error: ${p}`);
  for (const v of r.verdicts) {
    lines.push(`${v.ok ? 'ok   ' : 'FAIL '} ${v.object}`);
    if (v.ok) continue;
    for (const c of v.conditions) if (!healthy(c)) lines.push(`        ${c.type}=${c.status} ${c.reason}: ${c.message}`);
  }
  const bad = r.verdicts.filter((v) => !v.ok).length;
  lines.push(`${r.files} file(s), ${r.verdicts.length} Ingress/Route object(s), ${bad} with problems${r.problems.length > 0 ? `, ${r.problems.length} file problem(s)` : ''}`);
  return lines.join('\n') + '\n';
}

/** `kubectl turnout check ...`: resolves with the exit status. */
export async function runCheck(argv: readonly string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        'ingress-class': { type: 'string', default: 'turnout' },
        'enable-external-name': { type: 'boolean', default: false },
        output: { type: 'string', short: 'o', default: 'text' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err(`kubectl turnout check: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { out(USAGE); return 0; }
  if (!values.filename?.length) { err(`kubectl turnout check: -f FILE|DIR is required\n${USAGE}`); return 2; }
  if (values.output !== 'text' && values.output !== 'json') { err(`kubectl turnout check: -o must be text or json, got ${JSON.stringify(values.output)}\n`); return 2; }
  const r = await check(values.filename, { ingressClass: values['ingress-class'], externalNames: values['enable-external-name'] });
  out(values.output === 'json' ? JSON.stringify(r, null, 2) + '\n' : formatCheck(r));
  return r.problems.length === 0 && r.verdicts.every((v) => v.ok) ? 0 : 1;
}
