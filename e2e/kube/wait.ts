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
