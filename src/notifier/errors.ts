import { SlotstreamError } from '../replication/errors.ts';

/**
 * `waitForPosition` gave up: this reader had not applied the position within the time allowed. The reader
 * is behind (or the position was never written); the HTTP layer answers 504 with this message.
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

/** A timeout that is not a number of milliseconds a timer can wait; a programming error, raised at once. */
export class InvalidTimeoutError extends SlotstreamError {
  constructor(readonly timeoutMs: number) {
    super(
      `invalid timeout ${timeoutMs} ms: give 0 (answer at once), a whole or fractional number of ` +
        'milliseconds up to 2147483647 (about 24.8 days, the longest a Node timer waits), or Infinity.',
    );
  }
}
