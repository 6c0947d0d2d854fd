import type { Notifier, WaitResult } from '../notifier/notifier.ts';
import type { StreamToken } from '../streams/token.ts';

export interface StreamWaitOptions {
  /** The client's keys: its user id and its rooms. */
  keys: readonly string[];
  /** Only updates after this token count. */
  since: StreamToken;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Waits on both position spaces of a token at once (the ordered streams and the ephemeral one) and
 * answers with whichever fires first: each notifier indexes the waiter by key, so a wake still costs only
 * the waiters it concerns. The other wait is aborted at once, freeing its registration.
 */
export async function waitEither(
  ordered: Notifier,
  ephemeral: Notifier,
  options: StreamWaitOptions,
): Promise<WaitResult['kind']> {
  const { keys, since, timeoutMs, signal } = options;
  signal?.throwIfAborted();
  const done = new AbortController();
  const both = signal ? AbortSignal.any([signal, done.signal]) : done.signal;
  const waits = [
    ordered.wait({ keys, after: since.position, timeoutMs, signal: both }),
    ephemeral.wait({ keys, after: since.ephemeral, timeoutMs, signal: both }),
  ];
  // The loser is aborted below: its rejection is expected and must not surface as unhandled.
  for (const wait of waits) wait.catch(() => {});
  try {
    const first = await Promise.race(waits);
    return first.kind;
  } finally {
    done.abort();
  }
}
