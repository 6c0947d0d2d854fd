import { InvalidTimeoutError } from './errors.ts';

/** Node fires longer timers at once (with a warning), so longer finite waits are refused, not shortened. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function checkTimeout(timeoutMs: number): void {
  if (timeoutMs === Number.POSITIVE_INFINITY) return;
  if (!(timeoutMs >= 0 && timeoutMs <= MAX_TIMEOUT_MS)) throw new InvalidTimeoutError(timeoutMs);
}

/**
 * Arms the two ways a registered wait can end by itself: its timer and its signal. Exactly one of
 * `onTimeout` / `onAbort` runs, at most once, and only if `disarm` was not called first. Every path that
 * settles a wait calls `disarm`, so no timer or abort listener outlives its waiter (10,000 long-polls that
 * end must leave nothing behind, and a listener would keep the waiter reachable from a long-lived signal).
 */
export function arm(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onTimeout: () => void,
  onAbort: (reason: unknown) => void,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    signal?.removeEventListener('abort', abort);
  };
  const abort = () => {
    disarm();
    onAbort(signal?.reason);
  };
  if (timeoutMs !== Number.POSITIVE_INFINITY) {
    timer = setTimeout(() => {
      timer = undefined;
      disarm();
      onTimeout();
    }, timeoutMs);
  }
  signal?.addEventListener('abort', abort, { once: true });
  return disarm;
}
