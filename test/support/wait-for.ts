/** Waiting on a condition, polled, instead of sleeping for a time and hoping it held by then. */

/**
 * Polls `check` every 100 ms until it returns something truthy, and returns that; throws after `timeoutMs`,
 * naming `what` it waited for, so a condition that never comes fails the test instead of hanging it.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
