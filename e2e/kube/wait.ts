// Bounded polling for end-to-end tests against a real cluster: everything there
// is eventually consistent, and every wait must end with a message that says
// what was awaited and what was last seen.

/**
 * Calls `check` every `intervalMs` until it returns a value other than
 * undefined/false/null, and returns that value. Throws after `timeoutMs` with
 * `what` and the last result or error, so a hung wait explains itself.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false | null> | T | undefined | false | null, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'no attempt finished';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false && v !== null) return v;
      last = v;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last).slice(0, 500)})`);
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(1, deadline - Date.now()))));
  }
}

/** What {@link waitForCondition} needs from a cluster: a kubectl that never throws. */
export interface KubectlRunner {
  kubectl(args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
}

/**
 * Waits until `ref` (e.g. `crd/routes.turnout.dev`) has condition `type` with
 * status `status`. Not `kubectl wait --for=condition`: that one fails at once,
 * instead of waiting, while the object has no status.conditions yet (seen with
 * a just-created CRD: ".status.conditions accessor error: <nil>").
 */
export async function waitForCondition(cluster: KubectlRunner, ref: string, type: string, timeoutMs: number, opts: { namespace?: string; status?: string } = {}): Promise<void> {
  const ns = opts.namespace ? ['-n', opts.namespace] : [];
  await waitFor(`${ref} ${type}=${opts.status ?? 'True'}`, async () => {
    const r = await cluster.kubectl(['get', ref, ...ns, '-o', `jsonpath={.status.conditions[?(@.type=="${type}")].status}`]);
    if (r.code !== 0) throw new Error(r.stderr.trim());
    const got = r.stdout.trim();
    if (got === (opts.status ?? 'True')) return true;
    throw new Error(`${type}=${got || '(none yet)'}`); // becomes the timeout's "last"
  }, timeoutMs);
}
