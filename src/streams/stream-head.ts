import type { RunSql } from '../replication/connect.ts';
import { SlotstreamError, sqlState } from '../replication/errors.ts';

/**
 * `stream_head`, the one row every stream position is allocated from (docs/positions.md). This module owns
 * it: the table's definition (run by the library's migration), the allocation the writer's commit step
 * embeds, and the one way to read the head, used by the writer and by readers after a reset.
 *
 * Positions are allocated by `slotstream_allocate(n)`, a function in the database, which moves the head by
 * `n` and returns it: the row lock its UPDATE takes is held until COMMIT, so allocations are serialised in
 * commit order and positions grow in the order readers decode transactions. Being a table rather than a
 * sequence, a rolled-back allocation is rolled back too, and anyone reads the highest committed position with
 * a plain SELECT. It is not published: readers learn positions from the rows and the writer's position
 * message, not from this row. The function also notes the range it handed out in the transaction's settings,
 * for the guard on stream tables (position-guard.ts).
 */
export const STREAM_HEAD_TABLE = 'stream_head';

/** The table, with exactly one row (the primary key is a boolean that can only be true), starting at 0. */
export const CREATE_STREAM_HEAD: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${STREAM_HEAD_TABLE} (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint NOT NULL
  )`,
  `INSERT INTO ${STREAM_HEAD_TABLE} (id, position) VALUES (true, 0) ON CONFLICT (id) DO NOTHING`,
];

/**
 * Positions of timeline `t` start at `(t - 1) << TIMELINE_SHIFT`: the first allocation after a promotion
 * jumps there. A failover to a standby that lacked the last commits (asynchronous replication) would
 * otherwise hand their positions out again, and a client whose token is past them would skip the new rows
 * for good; with the jump, a position is never reused, whatever was lost. 2^40 positions per timeline.
 */
export const TIMELINE_SHIFT = 40;

/** The transaction settings where slotstream_allocate notes the positions it handed out in a transaction. */
export const ALLOCATED_FROM = 'slotstream.allocated_from';
export const ALLOCATED_TO = 'slotstream.allocated_to';

/**
 * `slotstream_allocate(n)`: moves the head past the start of the server's timeline if it is not already
 * (the insert timeline, from the WAL file name), then by `n`, and returns the new head. `n` = 0 takes the
 * lock and returns the head. The range handed out in this transaction, from its first allocation to its
 * last, goes to ALLOCATED_FROM/ALLOCATED_TO (transaction-local, so a savepoint rolled back takes its part
 * back too).
 */
export const CREATE_ALLOCATE_FUNCTION = `
CREATE OR REPLACE FUNCTION slotstream_allocate(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  timeline_start bigint :=
    ((('x' || left(pg_walfile_name(pg_current_wal_insert_lsn()), 8))::bit(32)::bigint - 1) << ${TIMELINE_SHIFT});
  head bigint;
BEGIN
  IF n IS NULL OR n < 0 THEN
    RAISE EXCEPTION 'slotstream_allocate: n must be 0 or more, got %', n USING ERRCODE = '22023';
  END IF;
  UPDATE ${STREAM_HEAD_TABLE} SET position = GREATEST(position, timeline_start) + n RETURNING position INTO head;
  IF NOT FOUND THEN
    RAISE EXCEPTION '${STREAM_HEAD_TABLE} has no row' USING ERRCODE = '55000',
      HINT = 'run slotstream migrate against this database';
  END IF;
  IF coalesce(current_setting('${ALLOCATED_FROM}', true), '') = '' THEN
    PERFORM set_config('${ALLOCATED_FROM}', (head - n + 1)::text, true);
  END IF;
  PERFORM set_config('${ALLOCATED_TO}', head::text, true);
  RETURN head;
END
$$`;

/** A CTE body taking the number of positions to allocate (`?`) and returning the new head as `position`. */
export const ALLOCATE_POSITIONS = 'SELECT slotstream_allocate(?) AS position';

/**
 * The table is missing or empty: the library's migrations have not run against this database.
 *
 * @example
 * ```ts
 * import { StreamWriter } from 'slotstream';
 * await new StreamWriter(db).head(); // rejects with StreamHeadMissingError until `slotstream migrate` ran
 * ```
 */
export class StreamHeadMissingError extends SlotstreamError {
  constructor(detail: string, cause?: unknown) {
    super(
      `${detail}: slotstream's own schema is not in this database. Run \`slotstream migrate\`, or ` +
        "migrateSlotstream(knex) from 'slotstream/migrations' in your own migration step, before starting " +
        'writers and readers.',
      { cause, code: sqlState(cause) },
    );
  }
}

/**
 * The highest committed position. Throws StreamHeadMissingError when the schema is not there.
 *
 * @example
 * ```ts
 * import { readStreamHead } from 'slotstream';
 * const head = await readStreamHead((sql) => db.raw(sql)); // knex; with pg: (sql) => client.query(sql)
 * ```
 */
export async function readStreamHead(run: RunSql): Promise<bigint> {
  let rows: unknown[];
  try {
    ({ rows } = await run(`SELECT position::text AS position FROM ${STREAM_HEAD_TABLE}`));
  } catch (error) {
    if (sqlState(error) === '42P01')
      throw new StreamHeadMissingError(`${STREAM_HEAD_TABLE} does not exist`, error);
    throw error;
  }
  const row = rows[0] as { position: string } | undefined;
  if (row === undefined) throw new StreamHeadMissingError(`${STREAM_HEAD_TABLE} has no row`);
  return BigInt(row.position);
}
