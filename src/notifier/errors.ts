import { SlotstreamError } from '../replication/errors.ts';

/**
 * `waitForPosition` gave up: this reader had not applied the position within the time allowed. The reader
 * is behind (or the position was never written); the HTTP layer answers 504 with this message.
 *
 * @example
 * ```ts
 * import { WaitTimeoutError } from 'slotstream';
 * await reader.waitForPosition(position, 5_000).catch((error: unknown) => {
 *   if (!(error instanceof WaitTimeoutError)) throw error;
 *   console.warn(`reader at ${error.position}, still short of ${error.target}`);
 * });
 * ```
 */
export class WaitTimeoutError extends SlotstreamError {
  constructor(
    /** The position the caller waited for. */
    readonly target: bigint,
    /** What this reader had applied when the time ran out. */
    readonly position: bigint,
    readonly timeoutMs: number,
  ) {
    super(
      `timed out after ${timeoutMs} ms waiting for position ${target}; this reader has applied up to ` +
        `${position}. It is behind: retry later, ask another reader, or check its lag (StreamReader.stats; \`slotstream slots\` shows every slot's).`,
    );
  }
}

/**
 * A timeout that is not a number of milliseconds a timer can wait; a programming error, raised at once.
 *
 * @example
 * ```ts
 * import { Notifier } from 'slotstream';
 * await new Notifier().waitForPosition(1n, -1); // rejects with InvalidTimeoutError (so would 2 ** 31)
 * ```
 */
export class InvalidTimeoutError extends SlotstreamError {
  constructor(readonly timeoutMs: number) {
    super(
      `invalid timeout ${timeoutMs} ms: give 0 (answer at once), a whole or fractional number of ` +
        'milliseconds up to 2147483647 (about 24.8 days, the longest a Node timer waits), or Infinity.',
    );
  }
}

/**
 * The notifier was closed — its reader stopped, by `close()` or because it failed — while a wait was
 * pending, or a wait began after that. Nothing will wake it here: retry against a running reader.
 *
 * @example
 * ```ts
 * import { NotifierClosedError } from 'slotstream';
 * const woke = reader.wait({ keys: ['alice'], since: reader.token, timeoutMs: 30_000 });
 * const closed = woke.catch((error: unknown) => error instanceof NotifierClosedError); // handled at once
 * await reader.close();
 * await closed; // true
 * ```
 */
export class NotifierClosedError extends SlotstreamError {
  constructor() {
    super(
      'the reader stopped while this wait was pending (or before it began): retry against a running reader',
    );
  }
}
