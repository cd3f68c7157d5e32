// Waiting for a CRD to be served. `kubectl wait --for=condition=Established`
// fails at once ("status.conditions accessor error: <nil>") when it runs before
// the apiserver wrote the CRD's first status, so it is retried until a bound.
import type { Cluster } from './cluster.ts';

/** Resolves once `crd` (e.g. "crd/routes.turnout.dev") is Established; throws after `timeoutMs`. */
export async function waitEstablished(cluster: Cluster, crd: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const r = await cluster.kubectl(['wait', '--for=condition=Established', `--timeout=${left}s`, crd]);
    if (r.code === 0) return;
    if (Date.now() >= deadline) throw new Error(`${crd} not Established within ${timeoutMs} ms: ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
