import type { Knex } from 'knex';
import { CREATE_STREAM_CURSORS, STREAM_CURSORS_TABLE } from '../reader/cursor-table.ts';
import { CREATE_COUNT_FUNCTION } from '../streams/change-counts.ts';
import { CREATE_GUARD_FUNCTION } from '../streams/position-guard.ts';
import { CREATE_ALLOCATE_FUNCTION, CREATE_STREAM_HEAD, STREAM_HEAD_TABLE } from '../streams/stream-head.ts';

/**
 * slotstream's own schema: what the runtime needs in a service's database, and nothing of the service's.
 * Kept as a knex migration source with a ledger table of its own, so that it runs beside a service's
 * migrations without appearing in (or being confused by) the service's knex_migrations.
 *
 * ```ts
 * import { migrateSlotstream } from 'slotstream/migrations';
 * await migrateSlotstream(knex);   // then the service's own: await knex.migrate.latest()
 * ```
 */

/** The ledger of slotstream's migrations (plus knex's `<name>_lock`). */
export const SLOTSTREAM_MIGRATIONS_TABLE = 'slotstream_migrations';

export interface SchemaMigration {
  readonly name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const MIGRATIONS: readonly SchemaMigration[] = [
  {
    name: '0001_stream_head',
    async up(knex) {
      for (const sql of CREATE_STREAM_HEAD) await knex.raw(sql);
    },
    async down(knex) {
      await knex.schema.dropTableIfExists(STREAM_HEAD_TABLE);
    },
  },
  {
    // Where each StreamCursor got to (src/reader/cursor-table.ts).
    name: '0002_stream_cursors',
    async up(knex) {
      await knex.raw(CREATE_STREAM_CURSORS);
    },
    async down(knex) {
      await knex.schema.dropTableIfExists(STREAM_CURSORS_TABLE);
    },
  },
  {
    // Allocation as a function of the database, and the guard that refuses stream rows at positions their
    // transaction did not allocate (src/streams/position-guard.ts; migrate puts it on each stream table).
    name: '0003_position_guard',
    async up(knex) {
      await knex.raw(CREATE_ALLOCATE_FUNCTION);
      await knex.raw(CREATE_GUARD_FUNCTION);
    },
    async down(knex) {
      await knex.raw('DROP FUNCTION IF EXISTS slotstream_check_positions() CASCADE');
      await knex.raw('DROP FUNCTION IF EXISTS slotstream_allocate(bigint)');
    },
  },
  {
    // Each transaction's changes per stream table, counted for the writer's counts message
    // (src/streams/change-counts.ts; migrate puts the triggers on each stream table).
    name: '0004_change_counts',
    async up(knex) {
      await knex.raw(CREATE_COUNT_FUNCTION);
    },
    async down(knex) {
      await knex.raw('DROP FUNCTION IF EXISTS slotstream_count_changes() CASCADE');
    },
  },
];

/** slotstream's migrations as a knex MigrationSource: `knex.migrate.latest(slotstreamMigratorConfig)`. */
export const slotstreamMigrationSource: Knex.MigrationSource<SchemaMigration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};

/** The whole migrator configuration for slotstream's schema: its source and its own ledger table. */
export const slotstreamMigratorConfig: Knex.MigratorConfig = {
  migrationSource: slotstreamMigrationSource,
  tableName: SLOTSTREAM_MIGRATIONS_TABLE,
};

/**
 * Applies slotstream's pending migrations with the service's knex; resolves to the names applied.
 *
 * @example
 * ```ts
 * import knex from 'knex';
 * import { knexConfig, migrateSlotstream } from 'slotstream/migrations';
 * const db = knex(knexConfig(connectionString));
 * await migrateSlotstream(db); // ['0001_stream_head', …, '0004_change_counts'] the first time, [] after
 * await db.migrate.latest(); // then the service's own migrations
 * ```
 */
export async function migrateSlotstream(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest(slotstreamMigratorConfig)) as [number, string[]];
  return applied;
}
