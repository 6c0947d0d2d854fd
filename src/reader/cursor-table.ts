import type pg from 'pg';
import { SlotstreamError, sqlState } from '../replication/errors.ts';

/**
 * `slotstream_cursors`: one row per consumer that keeps its own place in a stream (a StreamCursor), the
 * last position it delivered. This module owns the table: its definition (run by slotstream's migration
 * `0002_stream_cursors`) and the two statements that read and move a cursor.
 *
 * It is an ordinary logged table, never published: an UNLOGGED one would come back empty after a crash,
 * and a cursor recreated at the head would skip every row in between. It is not published because no
 * reader needs to hear of a consumer's progress.
 */
export const STREAM_CURSORS_TABLE = 'slotstream_cursors';

export const CREATE_STREAM_CURSORS = `CREATE TABLE IF NOT EXISTS ${STREAM_CURSORS_TABLE} (
  name text PRIMARY KEY,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * The table is missing: the database was migrated by an older slotstream (or not at all).
 *
 * @example
 * ```ts
 * import { CursorTableMissingError, StreamCursor } from 'slotstream';
 * await StreamCursor.start(options).catch((error: unknown) => {
 *   if (error instanceof CursorTableMissingError) console.error('run `slotstream migrate` first');
 *   throw error;
 * });
 * ```
 */
export class CursorTableMissingError extends SlotstreamError {
  constructor(cause: unknown) {
    super(
      `${STREAM_CURSORS_TABLE} does not exist: this database has an older version of slotstream's own ` +
        "schema. Run `slotstream migrate`, or migrateSlotstream(knex) from 'slotstream/migrations' in your " +
        'own migration step, before starting a StreamCursor.',
      { cause, code: sqlState(cause) },
    );
  }
}

/**
 * The cursor named `name`, created at `initial` if it does not exist yet. One statement, so two consumers
 * opening a new name at once agree on the first one's row (the no-op update is what makes RETURNING
 * return an existing row).
 */
export async function openCursor(client: pg.Client, name: string, initial: bigint): Promise<bigint> {
  try {
    const { rows } = await client.query<{ position: string }>(
      `INSERT INTO ${STREAM_CURSORS_TABLE} (name, position) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name
       RETURNING position::text AS position`,
      [name, String(initial)],
    );
    return BigInt((rows[0] as { position: string }).position);
  } catch (error) {
    if (sqlState(error) === '42P01') throw new CursorTableMissingError(error);
    throw error;
  }
}

/** Moves the cursor to `position`: everything of its stream at or below it was delivered. */
export async function storeCursor(client: pg.Client, name: string, position: bigint): Promise<void> {
  await client.query(
    `INSERT INTO ${STREAM_CURSORS_TABLE} (name, position, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    [name, String(position)],
  );
}
