import type { Knex } from 'knex';
import type { ColumnSpecs, InputRowOf } from '../streams/columns.ts';
import type { TableStream } from '../streams/define.ts';
import type { CacheInvalidation } from '../streams/protocol.ts';
import { WriterUsageError } from './errors.ts';
import type { PendingRow } from './pending-rows.ts';
import { StreamRowRef } from './row-ref.ts';

/** A row to insert into a stream with columns `C`, without its position: the commit step fills it in. */
export type NewRow<C extends ColumnSpecs = ColumnSpecs> = InputRowOf<C>;

/**
 * What the callback of `StreamWriter.transaction` works with: `knex` for anything (reads, updates, deletes,
 * other tables), and stream rows and invalidations, which are held back until the commit gives them their
 * positions. Made by `StreamWriter.transaction`, not by hand; a call after the callback returned throws
 * WriterUsageError.
 *
 * Concurrent callers share one database transaction (the writer batches them), each in a savepoint of its
 * own once it touches `knex`: what a callback does through `knex` commits or rolls back with its own rows
 * only, and it may see the effects of callers batched before it, as if they had committed just before.
 *
 * @example
 * ```ts
 * import { StreamWriter } from 'slotstream';
 * await new StreamWriter(db).transaction(async (tx) => {
 *   const old = await tx.knex('todos').where({ id: 't1' }).forUpdate().first('owner', 'title');
 *   tx.insert(todos, { ...old, id: 't1', done: true }, { onConflict: ['id'] }); // moves to a new position
 *   tx.invalidate('todoCount', [old.owner]);
 * });
 * ```
 */
export class WriterTransaction {
  readonly #knex: Knex.Transaction;
  readonly #rows: PendingRow[] = [];
  readonly #invalidations: CacheInvalidation[] = [];
  #touched = false;
  #done = false;

  /** @internal Made by the writer for one caller of `transaction`. */
  constructor(knex: Knex.Transaction) {
    this.#knex = knex;
  }

  /** The database transaction, for anything besides stream rows. Await every query made with it. */
  get knex(): Knex.Transaction {
    this.#open();
    this.#touched = true;
    return this.#knex;
  }

  /**
   * Adds a row to `stream`, inserted at commit with the next position in its position column. With
   * `onConflict`, an existing row with the same values in those columns is updated instead (its position
   * moves to the new one, so readers see an update at a new position).
   */
  insert<C extends ColumnSpecs>(
    stream: TableStream<C>,
    row: NewRow<C>,
    options: { onConflict?: readonly (keyof C & string)[] } = {},
  ): StreamRowRef {
    this.#open();
    if (stream.position in row) {
      throw new WriterUsageError(
        `stream ${stream.name}: do not set ${stream.position}; the writer allocates positions at commit`,
      );
    }
    const ref = new StreamRowRef(stream.name);
    this.#rows.push({
      stream: stream as TableStream,
      row: row as NewRow,
      onConflict: options.onConflict,
      ref,
    });
    return ref;
  }

  /**
   * Tells every reader to drop entries of cache `cache` under the key prefix `keys` (null: all of it) when
   * it applies this transaction. For caches over data that no stream row describes.
   */
  invalidate(cache: string, keys: readonly string[] | null): void {
    this.#open();
    this.#invalidations.push({ cache, keys });
  }

  /** The stream rows added so far. */
  get rowCount(): number {
    return this.#rows.length;
  }

  /** @internal The rows the callback added, in order. */
  get rows(): readonly PendingRow[] {
    return this.#rows;
  }

  /** @internal The invalidations the callback asked for. */
  get invalidations(): readonly CacheInvalidation[] {
    return this.#invalidations;
  }

  /** @internal Whether the callback reached for `knex`: then it may have changed the database itself. */
  get touched(): boolean {
    return this.#touched;
  }

  /** @internal The callback returned: from now on the transaction belongs to the writer. */
  close(): void {
    this.#done = true;
  }

  #open(): void {
    if (this.#done) throw new WriterUsageError('this writer transaction has already committed');
  }
}
