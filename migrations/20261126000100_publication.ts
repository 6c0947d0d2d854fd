import type { Knex } from 'knex';
import { dropPublication, publishTables } from '../src/migrations/publication.ts';

/**
 * The publication readers decode through. Later migrations add their stream tables with
 * publishTables(knex, [...]); dropping a table removes it from the publication by itself.
 */
export async function up(knex: Knex): Promise<void> {
  await publishTables(knex, ['events']);
}

export async function down(knex: Knex): Promise<void> {
  await dropPublication(knex);
}
