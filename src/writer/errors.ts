import { SlotstreamError, sqlState } from '../replication/errors.ts';

/**
 * A writer API call that cannot work as asked: a misuse in the calling code, not a server failure.
 *
 * @example
 * ```ts
 * import { StreamWriter } from 'slotstream';
 * await new StreamWriter(db).transaction((tx) => {
 *   tx.insert(todos, { id: 't1', owner: 'alice', title: 'milk', position: 7 }); // throws WriterUsageError
 * });
 * ```
 */
export class WriterUsageError extends SlotstreamError {}

/**
 * A write committed, but the wait for its flush failed (the connection or the server went away just then),
 * so whether it survives a crash of the server is unknown. It is not rolled back: its rows are at
 * `position` unless the server lost them. Read it back, or wait for `position` on a reader, before writing
 * it again.
 *
 * @example
 * ```ts
 * import { UnconfirmedWriteError } from 'slotstream';
 * try { await writer.transaction(work); } catch (e) {
 *   if (e instanceof UnconfirmedWriteError) await reader.waitForPosition(e.position, 5_000); // there, or lost
 * }
 * ```
 */
export class UnconfirmedWriteError extends SlotstreamError {
  constructor(
    readonly position: bigint,
    cause: unknown,
  ) {
    super(
      `the write committed at position ${position}, but its flush could not be confirmed ` +
        `(${(cause as Error)?.message ?? cause}): it is there unless the server crashed before the flush. ` +
        'Read it back or wait for its position on a reader before writing it again.',
      { cause, code: sqlState(cause) },
    );
  }
}
