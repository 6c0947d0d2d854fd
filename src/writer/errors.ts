import { SlotstreamError } from '../replication/errors.ts';

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
