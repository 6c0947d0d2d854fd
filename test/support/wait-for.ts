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

/**
 * `promise`, or an error naming `what` once `ms` pass first; no timer outlives it. A bound that turns a wait
 * that never ends into a failure, not a measure of how long it took.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
