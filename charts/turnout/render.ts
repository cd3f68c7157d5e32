// Runs helm on this chart and parses what it renders, for chart.test.ts. helm
// is the one the e2e control-plane harness builds (kube-cp's
// e2e/controlplane/build.sh caches it under ~/.cache/turnout/controlplane/*/bin);
// without it the chart tests fail, never skip.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { controlPlaneBin } from '../../e2e/kube/binaries.ts';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The chart's directory (the folder of this file). */
export const CHART_DIR = fileURLToPath(new URL('.', import.meta.url));

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A rendered Kubernetes object: the fields the tests read, loosely typed. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/**
 * helm's path: $TURNOUT_HELM, else the e2e control plane's (built by
 * e2e/controlplane/build.sh, which `npm test` runs first). Throws when there
 * is none: a chart test that silently skipped would prove nothing.
 */
export function findHelm(): string {
  return process.env.TURNOUT_HELM ?? join(controlPlaneBin(), 'helm');
}

/** What one helm run printed and how it exited. */
export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with caches in a throwaway place (never the user's repositories). */
export function helm(args: string[]): Promise<HelmResult> {
  const bin = findHelm();
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: 60_000, maxBuffer: 16 << 20, env: { ...process.env, HELM_CACHE_HOME: '/nonexistent-turnout-helm-cache', HELM_CONFIG_HOME: '/nonexistent-turnout-helm-config', HELM_DATA_HOME: '/nonexistent-turnout-helm-data' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The release name and namespace every render uses (the names of e2e/kube/rbac.yaml). */
export const RELEASE = { name: 'turnout', namespace: 'turnout-system' } as const;

/**
 * `helm template` of this chart with `--set` values; throws with helm's stderr
 * if it fails. Returns every non-empty document.
 */
export async function render(set: string[] = [], extra: string[] = []): Promise<K8sObject[]> {
  const args = ['template', RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace, ...extra];
  for (const s of set) args.push('--set', s);
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** The one object of `kind` whose name ends with `suffix`; throws if not exactly one. */
export function one(objs: readonly K8sObject[], kind: string, suffix = ''): K8sObject {
  const hits = objs.filter((o) => o.kind === kind && o.metadata.name.endsWith(suffix));
  if (hits.length !== 1) throw new Error(`expected one ${kind} named *${suffix}, found ${hits.map((o) => o.metadata.name).join(', ') || 'none'}`);
  return hits[0]!;
}
