import path from 'node:path';
import { type MigrateResult, migrateLatest, type ServiceSchema } from 'slotstream/migrations';
import { CHAT_STREAMS } from './streams.ts';

/**
 * The reference application's side of the schema: its tables (app/migrations, knex's default ledger) and
 * the publication covering its streams. slotstream.config.ts hands it to `slotstream migrate`; tests and
 * benchmarks migrate with migrateChat.
 */
export const CHAT_SCHEMA: ServiceSchema = {
  migrations: { directory: path.join(import.meta.dirname, 'migrations'), loadExtensions: ['.ts'] },
  streams: CHAT_STREAMS,
  publication: 'slotstream',
};

/** slotstream's schema, then the chat tables and the publication: what `slotstream migrate` does here. */
export function migrateChat(url: string): Promise<MigrateResult> {
  return migrateLatest(url, CHAT_SCHEMA);
}
