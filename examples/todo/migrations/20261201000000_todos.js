/**
 * The todos table: one stream table. `position` is allocated by slotstream's writer when the row is written
 * (gap-free, in commit order), so it is a plain bigint, not a sequence default.
 *
 * REPLICA IDENTITY FULL: an update or a delete then carries the whole old row in the WAL, so a reader learns
 * whose list a deleted todo was on (the default identity would send only the primary key, `id`, and the
 * reader could not tell which cached list to drop). It costs WAL only on UPDATE and DELETE.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.raw(`CREATE TABLE todos (
    id text PRIMARY KEY,
    owner text NOT NULL,
    title text NOT NULL,
    done boolean NOT NULL DEFAULT false,
    position bigint NOT NULL
  )`);
  await knex.raw('CREATE INDEX todos_owner_position ON todos (owner, position)');
  await knex.raw('ALTER TABLE todos REPLICA IDENTITY FULL');
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.dropTableIfExists('todos');
}
