/**
 * Exponential backoff with jitter for reconnecting. Half of each delay is fixed and half random ("equal
 * jitter"), so readers that lost the same server do not come back in lockstep, yet none retries at once.
 *
 * @example
 * ```ts
 * import { Backoff, sleep } from 'slotstream';
 * const backoff = new Backoff(100, 10_000); // initial and longest delay, in ms
 * await sleep(backoff.next(), signal); // 50–100 ms, then 100–200 ms, … up to 5–10 s
 * backoff.reset(); // it worked: the next failure starts over
 * ```
 */
export class Backoff {
  #attempt = 0;

  constructor(
    readonly initialMs = 100,
    readonly maxMs = 10_000,
    readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.#attempt);
    if (ceiling < this.maxMs) this.#attempt++;
    return ceiling / 2 + (ceiling / 2) * this.random();
  }

  /** Called once a connection worked; the next failure starts over from the initial delay. */
  reset(): void {
    this.#attempt = 0;
  }
}

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as it aborts.
 *
 * @example
 * ```ts
 * import { sleep } from 'slotstream';
 * await sleep(1_000, AbortSignal.timeout(500)); // rejects after 500 ms with the signal's TimeoutError
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
