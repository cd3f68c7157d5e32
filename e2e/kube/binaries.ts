// Where the control-plane binaries are: e2e/controlplane/build.sh builds them
// once into a cache outside the clone (keyed by the Go module files) and prints
// the directory; when they are cached it answers in well under a second.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The build script, also run by `npm run test:controlplane` before the tests. */
export const BUILD_SCRIPT = fileURLToPath(new URL('../controlplane/build.sh', import.meta.url));

/** The binaries the harness runs. */
export const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm'] as const;

/** One of {@link BINARIES}. */
export type Binary = (typeof BINARIES)[number];

let cached: string | undefined;

/**
 * The directory holding every binary: `$TURNOUT_CONTROLPLANE_BIN` if set (a
 * prebuilt set), else what build.sh prints (building first if needed: slow when
 * cold). Throws with the build's output when it fails: never skip e2e tests.
 */
export function controlPlaneBin(): string {
  if (cached !== undefined) return cached;
  let dir = process.env.TURNOUT_CONTROLPLANE_BIN;
  if (!dir) {
    try {
      const out = execFileSync(BUILD_SCRIPT, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
      dir = out.trim().split('\n').pop() ?? '';
    } catch (err) {
      throw new Error(`the e2e control plane did not build (${BUILD_SCRIPT}): ${(err as Error).message}`);
    }
  }
  const missing = BINARIES.filter((b) => !existsSync(join(dir, b)));
  if (missing.length > 0) throw new Error(`control-plane binaries missing in ${dir}: ${missing.join(', ')}`);
  cached = dir;
  return dir;
}

/** Absolute path of one control-plane binary. */
export function binary(name: Binary): string {
  return join(controlPlaneBin(), name);
}
