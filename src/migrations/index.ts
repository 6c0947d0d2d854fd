/// <reference types="node" preserve="true" />
// Published declarations use Node's types (Buffer, NodeJS.*); TypeScript 6+ loads @types/node only if told.
/**
 * `slotstream/migrations`: slotstream's own schema for a service's knex setup, the publication its readers
 * decode through, and the whole of `slotstream migrate` as functions.
 *
 * ```ts
 * import knex from 'knex';
 * import { guardStreamTables, migrateSlotstream, publishTables, streamTables } from 'slotstream/migrations';
 *
 * const db = knex({ client: 'pg', connection: process.env.DATABASE_URL });
 * await migrateSlotstream(db);                                // stream_head, slotstream_cursors; own ledger
 * await db.migrate.latest();                                  // the service's own tables
 * await publishTables(db, streamTables([todos]), 'slotstream'); // the publication covers the streams
 * await guardStreamTables(db, [todos]);                       // positions only from the writer
 * ```
 */

export { guardStreamTables } from '../streams/position-guard.ts';
export { knexConfig } from './knex-config.ts';
export {
  type MigrateResult,
  type MigrationEntry,
  type MigrationStatus,
  migrateLatest,
  migrationStatus,
  type RollbackResult,
  rollback,
  type ServiceSchema,
} from './migrator.ts';
export {
  dropPublication,
  type PublicationChange,
  type PublicationState,
  publicationState,
  publishTables,
  streamTables,
} from './publication.ts';
export {
  migrateSlotstream,
  type SchemaMigration,
  SLOTSTREAM_MIGRATIONS_TABLE,
  slotstreamMigrationSource,
  slotstreamMigratorConfig,
} from './schema.ts';
