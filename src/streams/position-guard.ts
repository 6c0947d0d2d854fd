import type { Knex } from 'knex';
import { quoteIdent, quoteLiteral } from '../replication/names.ts';
import { countStatements } from './change-counts.ts';
import type { AnyStream, TableStream } from './define.ts';
import { ALLOCATED_FROM, ALLOCATED_TO } from './stream-head.ts';

/**
 * The database refuses stream rows whose position the transaction did not allocate. A row written with a
 * position of its own choosing (a backfill script, a hand-made fix) breaks what tokens promise: above the
 * head, it moves every reader's position past the writer's, and later writes look old to clients; at or
 * below it, it lands behind tokens clients already hold, and they never read it. So every stream table gets
 * two triggers, made by `slotstream migrate` (or `guardStreamTables`) for the declared streams:
 *
 * - after each INSERT statement, one check of the statement's rows together (a transition table): their
 *   positions must lie in the range slotstream_allocate handed out in this transaction;
 * - before an UPDATE that changes a row's position, the same check for that row. Updates that keep the
 *   position (a correction of some other column) are not checked: the writer's position message gives them
 *   the transaction's position, as it does deletes.
 *
 * To backfill by hand: `SELECT slotstream_allocate(n)` in the transaction returns the new head H; the rows
 * take positions H − n + 1 … H.
 */
export const CREATE_GUARD_FUNCTION = `
CREATE OR REPLACE FUNCTION slotstream_check_positions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  lowest bigint;
  highest bigint;
  allowed_from bigint := nullif(current_setting('${ALLOCATED_FROM}', true), '')::bigint;
  allowed_to bigint := nullif(current_setting('${ALLOCATED_TO}', true), '')::bigint;
BEGIN
  IF TG_LEVEL = 'ROW' THEN
    lowest := (to_jsonb(NEW) ->> TG_ARGV[0])::bigint;
    highest := lowest;
  ELSE
    EXECUTE format('SELECT min(%1$I), max(%1$I) FROM slotstream_rows', TG_ARGV[0]) INTO lowest, highest;
    IF lowest IS NULL THEN
      RETURN NULL;
    END IF;
  END IF;
  IF allowed_from IS NULL OR lowest < allowed_from OR highest > allowed_to THEN
    RAISE EXCEPTION '%.%: % % to % was not allocated in this transaction', TG_TABLE_SCHEMA, TG_TABLE_NAME,
        TG_ARGV[0], lowest, highest
      USING ERRCODE = '23514',
        DETAIL = CASE WHEN allowed_from IS NULL OR allowed_from > allowed_to
          THEN 'this transaction allocated no positions'
          ELSE format('this transaction allocated %s to %s', allowed_from, allowed_to) END,
        HINT = 'write stream rows through StreamWriter, or take their positions with SELECT slotstream_allocate(n) '
          || 'in the same transaction: it returns the new head H, and the rows take H - n + 1 to H';
  END IF;
  RETURN CASE WHEN TG_LEVEL = 'ROW' THEN NEW ELSE NULL END;
END
$$`;

/** The triggers' names, the same on every stream table. */
const INSERTED = 'slotstream_positions_inserted';
const MOVED = 'slotstream_position_moved';

/** The statements that put the guard on one stream table (CREATE OR REPLACE: running them again repairs). */
export function guardStatements(stream: TableStream): string[] {
  const table = `${quoteIdent(stream.schema)}.${quoteIdent(stream.table)}`;
  const column = quoteIdent(stream.position);
  const name = quoteLiteral(stream.position);
  return [
    `CREATE OR REPLACE TRIGGER ${INSERTED} AFTER INSERT ON ${table}
       REFERENCING NEW TABLE AS slotstream_rows
       FOR EACH STATEMENT EXECUTE FUNCTION slotstream_check_positions(${name})`,
    `CREATE OR REPLACE TRIGGER ${MOVED} BEFORE UPDATE OF ${column} ON ${table}
       FOR EACH ROW WHEN (OLD.${column} IS DISTINCT FROM NEW.${column})
       EXECUTE FUNCTION slotstream_check_positions(${name})`,
  ];
}

/**
 * Puts the guard on the tables of `streams` (message streams have none), or puts it back, together with the
 * triggers that count each transaction's changes for readers (change-counts.ts): `slotstream migrate` does
 * this on every run, after the migrations; a service with a migration step of its own calls it after
 * migrateSlotstream and its own migrations.
 *
 * @example
 * ```ts
 * import { guardStreamTables, migrateSlotstream } from 'slotstream/migrations';
 * await migrateSlotstream(db);
 * await db.migrate.latest();
 * await guardStreamTables(db, [todos]); // rows with positions the writer did not allocate are refused
 * ```
 */
export async function guardStreamTables(knex: Knex, streams: readonly AnyStream[]): Promise<void> {
  for (const stream of streams)
    if (stream.kind === 'table')
      for (const sql of [...guardStatements(stream), ...countStatements(stream)]) await knex.raw(sql);
}
