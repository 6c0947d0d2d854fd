import type { Knex } from 'knex';
import { type ColumnSpecs, type InputRowOf, parseColumnSpec } from '../streams/columns.ts';
import type { TableStream } from '../streams/define.ts';
import { type CacheInvalidation, cachesStream, POSITION_PREFIX } from '../streams/protocol.ts';
import { ALLOCATE_POSITIONS } from '../streams/stream-head.ts';
import { WriterUsageError } from './errors.ts';
import { StreamRowRef } from './row-ref.ts';

/** A row to insert into a stream with columns `C`, without its position: the commit step fills it in. */
export type NewRow<C extends ColumnSpecs = ColumnSpecs> = InputRowOf<C>;

/** Keeps a multi-row INSERT well under PostgreSQL's 65,535 bind parameters. */
const ROWS_PER_INSERT = 1000;

interface PendingRow {
  stream: TableStream;
  row: NewRow;
  /** Upsert on these columns (ON CONFLICT … DO UPDATE), for tables keyed by something else than position. */
  onConflict: readonly string[] | undefined;
  ref: StreamRowRef;
}

/**
 * What the callback of `StreamWriter.transaction` works with: `knex` for anything (reads, updates, deletes,
 * other tables), and stream rows and invalidations, which are held back until the commit step gives them
 * their positions. Everything happens in one database transaction. Made by `StreamWriter.transaction`,
 * not by hand; a call after the commit step throws WriterUsageError.
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
  readonly knex: Knex.Transaction;
  readonly #rows: PendingRow[] = [];
  readonly #invalidations: CacheInvalidation[] = [];
  #done = false;

  constructor(knex: Knex.Transaction) {
    this.knex = knex;
  }

  /**
   * Adds a row to `stream`, inserted in the commit step with the next position in its position column.
   * With `onConflict`, an existing row with the same values in those columns is updated instead (its
   * position moves to the new one, so readers see an update at a new position).
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

  /**
   * @internal The commit step, run as the transaction's last statements: allocate, announce, write.
   * `lockHeld` runs between allocation and the writes (the gap test delays there).
   *
   * The UPDATE of stream_head takes the row lock that orders commits (docs/positions.md); it is held until
   * COMMIT. The commit itself is asynchronous (synchronous_commit off, for this transaction only), so the
   * lock is released once the commit record is in the WAL rather than after its fsync: commits stay
   * serialised in position order without serialising their flushes. `StreamWriter` then waits for the
   * flush before it reports success, so durability is unchanged.
   */
  async commitStep(lockHeld?: () => Promise<void>): Promise<bigint> {
    this.#done = true;
    const count = Math.max(this.#rows.length, 1);
    // One round trip: allocation, the explicit invalidations and the position message. Their order inside
    // the transaction does not matter: a reader applies a transaction's effects together, at its commit.
    const head = await this.knex.raw<{ rows: { position: string }[] }>(
      `WITH head AS (${ALLOCATE_POSITIONS})
       SELECT head.position::text AS position,
              set_config('synchronous_commit', 'off', true),
              (SELECT count(pg_logical_emit_message(true, m.prefix, m.content))
                 FROM unnest(?::text[], ?::text[]) AS m(prefix, content)),
              pg_logical_emit_message(true, ?, head.position::text)
         FROM head`,
      [
        count,
        this.#invalidations.map(() => cachesStream.prefix),
        this.#invalidations.map((inv) => cachesStream.encode(inv)),
        POSITION_PREFIX,
      ],
    );
    const last = BigInt(head.rows[0]?.position ?? Number.NaN);
    await lockHeld?.();
    let next = last - BigInt(count) + 1n;
    for (const pending of this.#rows) pending.ref.allocated(next++);
    await this.#writeRows();
    return last;
  }

  /**
   * Consecutive plain inserts into one stream go out as one multi-row INSERT, in position order. Upserts go
   * one by one: a multi-row upsert fails when two of its rows hit the same key.
   */
  async #writeRows(): Promise<void> {
    let start = 0;
    while (start < this.#rows.length) {
      const first = this.#rows[start] as PendingRow;
      let end = start + 1;
      if (first.onConflict === undefined) {
        const limit = Math.min(this.#rows.length, start + ROWS_PER_INSERT);
        while (end < limit && isPlainInsertInto(this.#rows[end] as PendingRow, first.stream)) end++;
      }
      const values = this.#rows.slice(start, end).map((p) => toColumns(p.stream, p.row, p.ref.position));
      const insert = this.knex(first.stream.table).withSchema(first.stream.schema).insert(values);
      if (first.onConflict === undefined) await insert;
      else await insert.onConflict([...first.onConflict]).merge();
      start = end;
    }
  }

  #open(): void {
    if (this.#done) throw new WriterUsageError('this writer transaction has already committed');
  }
}

function isPlainInsertInto(pending: PendingRow, stream: TableStream): boolean {
  return pending.stream === stream && pending.onConflict === undefined;
}

/** JSON columns are sent as JSON text: node-postgres would turn a JS array into a PostgreSQL array. */
function toColumns(stream: TableStream, row: NewRow, position: bigint): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row, [stream.position]: position.toString() };
  for (const [name, spec] of Object.entries(stream.columns)) {
    const { type } = parseColumnSpec(spec);
    if ((type === 'json' || type === 'jsonb') && out[name] !== undefined && out[name] !== null) {
      out[name] = JSON.stringify(out[name]);
    }
  }
  return out;
}
