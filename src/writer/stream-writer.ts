import type { Knex } from 'knex';
import { parseLsn } from '../replication/lsn.ts';
import { serverVersionNum } from '../replication/server-version.ts';
import type { MessageStream } from '../streams/define.ts';
import { FLUSH_PREFIX } from '../streams/protocol.ts';
import { readStreamHead } from '../streams/stream-head.ts';
import { WriterTransaction } from './writer-transaction.ts';

export interface StreamWriterOptions {
  /**
   * Runs inside the commit step, after positions are allocated and before the rows are written and the
   * transaction commits, with the allocation lock held. For tests that stretch that window.
   */
  lockHeld?: () => Promise<void>;
}

export interface WriteResult<T> {
  value: T;
  /** The transaction's position: pass it to a reader's waitForPosition (`/wait`) to read your writes. */
  position: bigint;
}

/**
 * The single writer's API (docs/design.md: writer/). `transaction(work)` runs `work` in a database transaction,
 * then, as its last step, allocates positions for the stream rows it added, writes them, emits its
 * invalidations and its position message, and commits. Positions therefore grow in commit order across any
 * number of concurrent transactions, which is what lets a reader's token be a single number with no gaps
 * behind it (docs/positions.md).
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
  #serverVersion: Promise<number> | undefined;

  constructor(knex: Knex, options: StreamWriterOptions = {}) {
    this.knex = knex;
    this.#options = options;
  }

  /**
   * Runs `work` in one database transaction, then the commit step, and resolves once the commit is flushed,
   * with `work`'s value and the transaction's position. Whatever `work` throws (a WriterUsageError for a
   * misuse of `tx`, too) rolls the transaction back and rejects with it.
   */
  async transaction<T>(work: (tx: WriterTransaction) => Promise<T> | T): Promise<WriteResult<T>> {
    const result = await this.knex.transaction(async (trx) => {
      const tx = new WriterTransaction(trx);
      const value = await work(tx);
      const position = await tx.commitStep(this.#options.lockHeld);
      return { value, position };
    });
    await this.#flushed();
    return result;
  }

  /**
   * Returns once every commit made before the call is as durable as the server's settings ask of a commit:
   * flushed here and, with synchronous_standby_names, received by the synchronous standbys. The commit step
   * commits asynchronously (see WriterTransaction.commitStep), so this commits a tiny transaction of its own
   * after it (an empty message, which readers ignore): its synchronous commit waits for all of that, and
   * its commit record lies after ours. pg_logical_emit_message's `flush` argument (17+) would not do: it
   * flushes locally and waits for no standby, so a failover could lose a write already acknowledged.
   * Concurrent writers' commits are grouped by the server as ordinary commits are.
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

  #version(): Promise<number> {
    this.#serverVersion ??= serverVersionNum((sql) => this.knex.raw(sql));
    return this.#serverVersion;
  }
}

/**
 * A non-transactional message in an autocommit transaction that has an xid (pg_current_xact_id) and has
 * written WAL (the message): the kind of transaction whose synchronous commit flushes, and waits for
 * synchronous standbys.
 */
const COMMITTED_MESSAGE = 'SELECT pg_logical_emit_message(false, ?, ?)::text AS lsn, pg_current_xact_id()';
