/**
 * # writer/ — the single writer process's side of the streams
 *
 * `StreamWriter.transaction` runs a knex transaction whose stream rows get their positions in a final,
 * serialised commit step (docs/positions.md), emits explicit cache invalidations as transactional logical
 * messages, and returns the position a caller can wait for on any reader. `emitEphemeral` sends typing-like
 * rows as non-transactional messages.
 */
export { UnconfirmedWriteError, WriterUsageError } from './errors.ts';
export type { StreamRowRef } from './row-ref.ts';
export { StreamWriter, type StreamWriterOptions, type WriteResult } from './stream-writer.ts';
export { isDatabaseUnavailable } from './unavailable.ts';
export type { NewRow, WriterTransaction } from './writer-transaction.ts';
