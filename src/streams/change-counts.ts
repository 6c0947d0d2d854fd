import { quoteIdent } from '../replication/names.ts';
import type { TableStream } from './define.ts';

/**
 * The database counts every transaction's changes to each stream table, so that the writer can tell
 * readers how many to expect (COUNTS_PREFIX) and a reader can prove it received them all. A walsender whose
 * publication was dropped, or lost a table, skips those rows with at most a WARNING in the server's log:
 * without a count, a reader would go on serving what it cached before, silently stale.
 *
 * Statement-level AFTER triggers with transition tables count what each statement actually changed (rows a
 * BEFORE trigger skipped are not in them; an INSERT … ON CONFLICT DO UPDATE fires both the INSERT and the
 * UPDATE trigger, for the rows each did), which is what pgoutput sends: one message per row inserted,
 * updated or deleted, and one relation in a Truncate message per table truncated. Being counted in the
 * database, rows written through `tx.knex` count as the writer's own do. The running counts live in a
 * transaction-local setting, so a savepoint rolled back takes its counts back with its rows.
 */

/** The transaction-local setting holding the counts so far: a JSON object, like the message's content. */
export const CHANGE_COUNTS = 'slotstream.change_counts';

/** The counting function every stream table's counting triggers run (migration 0004_change_counts). */
export const CREATE_COUNT_FUNCTION = `
CREATE OR REPLACE FUNCTION slotstream_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  counts jsonb := coalesce(nullif(current_setting('${CHANGE_COUNTS}', true), '')::jsonb, '{}');
  counted text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
  n bigint := 1;
BEGIN
  IF TG_OP <> 'TRUNCATE' THEN
    SELECT count(*) INTO n FROM slotstream_changed;
  END IF;
  IF n > 0 THEN
    PERFORM set_config('${CHANGE_COUNTS}',
      jsonb_set(counts, ARRAY[counted], to_jsonb(coalesce((counts ->> counted)::bigint, 0) + n))::text, true);
  END IF;
  RETURN NULL;
END
$$`;

/** The triggers, one per kind of change (PostgreSQL allows transition tables only on single-event triggers). */
const TRIGGERS = [
  { name: 'slotstream_count_inserts', event: 'INSERT', rows: 'NEW' },
  { name: 'slotstream_count_updates', event: 'UPDATE', rows: 'NEW' },
  { name: 'slotstream_count_deletes', event: 'DELETE', rows: 'OLD' },
  { name: 'slotstream_count_truncates', event: 'TRUNCATE', rows: undefined },
] as const;

/** The statements that make one stream table counted (CREATE OR REPLACE: running them again repairs). */
export function countStatements(stream: TableStream): string[] {
  const table = `${quoteIdent(stream.schema)}.${quoteIdent(stream.table)}`;
  return TRIGGERS.map(
    ({ name, event, rows }) =>
      `CREATE OR REPLACE TRIGGER ${name} AFTER ${event} ON ${table}
         ${rows ? `REFERENCING ${rows} TABLE AS slotstream_changed` : ''}
         FOR EACH STATEMENT EXECUTE FUNCTION slotstream_count_changes()`,
  );
}
