import type { Knex } from 'knex';
import { parseLsn } from '../replication/lsn.ts';
import { serverVersionNum } from '../replication/server-version.ts';
import type { MessageStream } from '../streams/define.ts';
import { FLUSH_PREFIX } from '../streams/protocol.ts';
import { readStreamHead } from '../streams/stream-head.ts';
import { UnconfirmedWriteError, WriterUsageError } from './errors.ts';
import { type BatchMember, runBatch } from './write-batch.ts';
import type { WriterTransaction } from './writer-transaction.ts';

export interface StreamWriterOptions {
  /**
   * The most writer transactions one database transaction carries (default 256). Callers queued beyond it
   * wait for the next batch.
   */
  maxBatch?: number;
  /**
   * Runs inside the commit step after each allocation of positions, with the allocation lock held and
   * before the rows are written and the transaction commits. For tests that stretch that window.
   */
  lockHeld?: () => Promise<void>;
}

export interface WriteResult<T> {
  value: T;
  /** The transaction's position: pass it to a reader's waitForPosition (`/wait`) to read your writes. */
  position: bigint;
}

const DEFAULT_MAX_BATCH = 256;

interface QueuedWrite extends BatchMember {
  resolve: (result: WriteResult<unknown>) => void;
  reject: (error: unknown) => void;
}

/**
 * The single writer's API (docs/design.md: writer/). `transaction(work)` runs `work` against a database
 * transaction, then, as its last step, allocates positions for the stream rows it added, writes them, emits
 * its invalidations and its position message, and commits. Positions therefore grow in commit order across
 * any number of concurrent transactions, which is what lets a reader's token be a single number with no gaps
 * behind it (docs/positions.md).
 *
 * Like Synapse's persistence queue, the writer batches: callers that arrive while a batch is being written
 * wait for the next one, and one database transaction then carries all of them (write-batch.ts), so one
 * commit, one flush and one position message serve many writes. Each caller still gets its own outcome:
 * its value and the batch's position, or its own error, while its batch-mates commit. When the writer is
 * idle a call starts at once: nothing waits on a timer.
 *
 * @example
 * ```ts
 * import { StreamWriter } from 'slotstream';
 * const writer = new StreamWriter(db); // db: the service's knex, client 'pg'
 * const { value: id, position } = await writer.transaction((tx) => {
 *   tx.insert(todos, { id: 't1', owner: 'alice', title: 'buy milk' }); // its position is filled in at commit
 *   tx.invalidate('todoCount', ['alice']); // a cache over data no stream row describes
 *   return 't1';
 * }); // then, on any reader: await reader.waitForPosition(position, 5_000)
 * ```
 */
export class StreamWriter {
  readonly knex: Knex;
  readonly #options: StreamWriterOptions;
  readonly #maxBatch: number;
  readonly #queue: QueuedWrite[] = [];
  #writing = false;
  #serverVersion: Promise<number> | undefined;

  constructor(knex: Knex, options: StreamWriterOptions = {}) {
    this.knex = knex;
    this.#options = options;
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!(Number.isInteger(this.#maxBatch) && this.#maxBatch > 0))
      throw new WriterUsageError(`maxBatch must be a positive integer, got ${options.maxBatch}`);
  }

  /**
   * Runs `work` in a database transaction (shared with the calls batched with it, see the class), then the
   * commit step, and resolves once the commit is durable, with `work`'s value and the transaction's
   * position. Whatever `work` throws (a WriterUsageError for a misuse of `tx`, too) rolls back what it did
   * and rejects with it; a failure of the batch as a whole (the connection lost, COMMIT refused) rejects
   * every call in it; a batch that committed but whose flush could not be confirmed rejects with
   * UnconfirmedWriteError, which carries the position.
   */
  transaction<T>(work: (tx: WriterTransaction) => Promise<T> | T): Promise<WriteResult<T>> {
    return new Promise<WriteResult<T>>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as QueuedWrite['resolve'], reject });
      this.#writeNext();
    });
  }

  /** Starts the next batch unless one is being written; its COMMIT frees the way for the one after. */
  #writeNext(): void {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = true;
    const batch = this.#queue.splice(0, this.#maxBatch);
    const committed = this.knex.transaction((trx) => runBatch(trx, batch, this.#options.lockHeld));
    committed
      .finally(() => {
        this.#writing = false;
        this.#writeNext();
      })
      .then(async ({ position, durable }) => {
        for (const member of batch) if (member.outcome?.ok === false) member.reject(member.outcome.error);
        if (!durable)
          await this.#flushed().catch((error: unknown) => {
            throw new UnconfirmedWriteError(position as bigint, error);
          });
        for (const member of batch)
          if (member.outcome?.ok)
            member.resolve({ value: member.outcome.value, position: position as bigint });
      })
      .catch((error: unknown) => {
        for (const member of batch)
          member.reject(member.outcome?.ok === false ? member.outcome.error : error);
      });
  }

  /**
   * Returns once every commit made before the call is as durable as the server's settings ask of a commit:
   * flushed here and, with synchronous_standby_names, received by the synchronous standbys. The commit step
   * commits asynchronously when there is no synchronous standby (see write-batch.ts), so this commits a tiny
   * transaction of its own after it (an empty message, which readers ignore): its synchronous commit waits
   * for the flush, and its commit record lies after ours. Concurrent writers' commits are grouped by the
   * server as ordinary commits are.
   */
  async #flushed(): Promise<void> {
    await this.knex.raw(COMMITTED_MESSAGE, [FLUSH_PREFIX, '']);
  }

  /** The highest committed position. Throws StreamHeadMissingError when the schema is not there. */
  async head(): Promise<bigint> {
    return readStreamHead((sql) => this.knex.raw(sql));
  }

  /**
   * Emits one row of a non-transactional message stream (typing): decoded by readers at once, stored
   * nowhere. Returns its LSN, the row's ephemeral position.
   *
   * The WAL is flushed with it, because a walsender sends only flushed WAL: without the flush, the message
   * would wait for the WAL writer (up to wal_writer_delay) or the next commit. PostgreSQL 17 added a `flush`
   * argument for this; before it, a tiny transaction with an xid has its commit record flushed, which takes
   * the message along.
   */
  async emitEphemeral<M>(stream: MessageStream<M>, row: M): Promise<bigint> {
    return this.#emitFlushed(stream.prefix, stream.encode(row));
  }

  /**
   * A non-transactional message, flushed to disk before this returns. PostgreSQL 17 has a `flush` argument;
   * before it, the message goes out in a transaction that has an xid and has written WAL (the message), the
   * one kind whose synchronous commit flushes.
   */
  async #emitFlushed(prefix: string, content: string): Promise<bigint> {
    const sql =
      (await this.#version()) >= 170000
        ? 'SELECT pg_logical_emit_message(false, ?, ?, true)::text AS lsn'
        : COMMITTED_MESSAGE;
    const result = await this.knex.raw<{ rows: { lsn: string }[] }>(sql, [prefix, content]);
    return parseLsn(result.rows[0]?.lsn ?? '0/0');
  }

  /** The server's version, asked once; a failed attempt is not kept, so the next call asks again. */
  #version(): Promise<number> {
    this.#serverVersion ??= serverVersionNum((sql) => this.knex.raw(sql)).catch((error: unknown) => {
      this.#serverVersion = undefined;
      throw error;
    });
    return this.#serverVersion;
  }
}

/**
 * A non-transactional message in an autocommit transaction that has an xid (pg_current_xact_id) and has
 * written WAL (the message): the kind of transaction whose synchronous commit flushes, and waits for
 * synchronous standbys.
 */
const COMMITTED_MESSAGE = 'SELECT pg_logical_emit_message(false, ?, ?)::text AS lsn, pg_current_xact_id()';
