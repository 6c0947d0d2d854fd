import type { Knex } from 'knex';

/**
 * The one row every stream position is allocated from (docs/positions.md). The writer's commit step runs
 * `UPDATE stream_head SET position = position + n RETURNING position`: the row lock that UPDATE takes is held
 * until COMMIT, so allocations are serialised in commit order and positions grow in the order readers decode
 * transactions. Being a table rather than a sequence, a rolled-back allocation is rolled back too, and a
 * reader reads the highest committed position with a plain SELECT.
 *
 * Not published: readers learn positions from the rows and the writer's position message, not from this row.
 */
export async function up(knex: Knex): Promise<void> {
  // A single row, enforced: the primary key is a boolean that can only be true.
  await knex.raw(`CREATE TABLE stream_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint NOT NULL
  )`);
  // Start above whatever the events table already holds (positions written before this migration).
  await knex.raw(
    `INSERT INTO stream_head (id, position) SELECT true, coalesce(max(stream_ordering), 0) FROM events`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('stream_head');
}
