/**
 * Long-polls a test can check without timing them. That a poll was *not* woken is read from the reader's
 * notifier, not from a timeout running out: a wake happens in the same synchronous call that applies its
 * position, so once `reader.waitForPosition(position)` has resolved, `reader.notifier.stats` (`waiters`,
 * `wakes`, `resyncs`) already counts every waiter that write woke. At the end the test aborts the polls it
 * expected to stay asleep (`endPolls`), as a client going away would: each must end 'aborted', since a poll
 * that had been woken already says 'updated' (or 'resync') instead.
 */
import assert from 'node:assert/strict';
import type { StreamReader } from '../../src/reader/stream-reader.ts';
import type { StreamToken } from '../../src/streams/token.ts';

export type Outcome = 'updated' | 'timeout' | 'resync' | 'aborted';

/** One long-poll with its own AbortController, and what became of it (undefined while pending). */
export interface Poll {
  name: string;
  controller: AbortController;
  promise: Promise<Outcome>;
  outcome: Outcome | undefined;
}

/** A long-poll on `keys` from `since`, with a timeout no test waits out. */
export function poll(reader: StreamReader, name: string, keys: string[], since: StreamToken): Poll {
  const controller = new AbortController();
  const entry: Poll = { name, controller, promise: Promise.resolve('aborted'), outcome: undefined };
  entry.promise = reader
    .wait({ keys, since, timeoutMs: 600_000, signal: controller.signal })
    .catch((error: unknown) => {
      assert.equal(error, controller.signal.reason, 'an aborted wait rejects with its signal’s reason');
      return 'aborted' as const;
    })
    .then((outcome) => {
      entry.outcome = outcome;
      return outcome;
    });
  return entry;
}

/** Aborts `polls` as clients leaving would; resolves to each one's name and how it ended. */
export async function endPolls(polls: readonly Poll[]): Promise<string[]> {
  for (const p of polls) p.controller.abort(new Error(`client of ${p.name} left`));
  return Promise.all(polls.map(async (p) => `${p.name}: ${await p.promise}`));
}

/** `endPolls`' answer when every poll was still waiting. */
export const stillWaiting = (polls: readonly Poll[]): string[] => polls.map((p) => `${p.name}: aborted`);
