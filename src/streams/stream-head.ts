import type { RunSql } from '../replication/connect.ts';
import { SlotstreamError, sqlState } from '../replication/errors.ts';

/**
 * `stream_head`, the one row every stream position is allocated from (docs/positions.md). This module owns
 * it: the table's definition (run by the library's migration), the allocation the writer's commit step
 * embeds, and the one way to read the head, used by the writer and by readers after a reset.
 *
 * The commit step runs `UPDATE stream_head SET position = position + n RETURNING position`: the row lock
 * that UPDATE takes is held until COMMIT, so allocations are serialised in commit order and positions grow
 * in the order readers decode transactions. Being a table rather than a sequence, a rolled-back allocation
 * is rolled back too, and anyone reads the highest committed position with a plain SELECT. It is not
 * published: readers learn positions from the rows and the writer's position message, not from this row.
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

/** The first position of the server's current timeline (the insert timeline, in the WAL file name). */
const TIMELINE_FLOOR = `((('x' || left(pg_walfile_name(pg_current_wal_insert_lsn()), 8))::bit(32)::bigint - 1) << ${TIMELINE_SHIFT})`;

/** A CTE body taking the number of positions to allocate (`?`) and returning the new head as `position`. */
export const ALLOCATE_POSITIONS = `UPDATE ${STREAM_HEAD_TABLE} SET position = GREATEST(position, ${TIMELINE_FLOOR}) + ? RETURNING position`;

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
