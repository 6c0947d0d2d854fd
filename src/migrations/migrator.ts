import { readdir } from 'node:fs/promises';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { knexConfig, MIGRATION_EXTENSIONS, MIGRATIONS_DIR, MIGRATIONS_TABLE } from './knex-config.ts';
import { type PublicationState, publicationState } from './publication.ts';

/** Running migrations programmatically: what `slotstream migrate` does, for the library and the tests. */

export interface MigrateResult {
  /** The batch the migrations ran in (knex numbers them from 1); 0 when none ever ran. */
  batch: number;
  /** File names applied (latest) or undone (rollback), in the order it happened; empty: nothing to do. */
  migrations: string[];
}

export interface MigrationEntry {
  name: string;
  ran: boolean;
  /** The batch it ran in, when it ran. */
  batch: number | null;
  /** Recorded as run but no longer in the migrations directory (knex refuses to migrate then). */
  missing: boolean;
}

export interface MigrationStatus {
  migrations: MigrationEntry[];
  pending: number;
  publication: PublicationState;
}

export function migrateLatest(url: string): Promise<MigrateResult> {
  return withKnex(url, async (db) => {
    const [batch, log] = (await db.migrate.latest()) as [number, string[]];
    return { batch, migrations: log };
  });
}

/** Undoes the last batch. */
export function rollback(url: string): Promise<MigrateResult> {
  return withKnex(url, async (db) => {
    const [batch, log] = (await db.migrate.rollback()) as [number, string[]];
    return { batch, migrations: log };
  });
}

/** Read-only: unlike knex's own list(), it does not create the bookkeeping tables on a fresh database. */
export function migrationStatus(url: string): Promise<MigrationStatus> {
  return withKnex(url, async (db) => {
    const tracked = await db.raw<{ rows: { t: string | null }[] }>('SELECT to_regclass(?) AS t', [
      MIGRATIONS_TABLE,
    ]);
    const ran: { name: string; batch: number }[] = tracked.rows[0]?.t
      ? await db(MIGRATIONS_TABLE).select('name', 'batch').orderBy('id')
      : [];
    const files = await migrationFiles();
    const batchOf = new Map(ran.map((r) => [r.name, r.batch]));
    const migrations: MigrationEntry[] = files.map((name) => ({
      name,
      ran: batchOf.has(name),
      batch: batchOf.get(name) ?? null,
      missing: false,
    }));
    for (const r of ran)
      if (!files.includes(r.name))
        migrations.push({ name: r.name, ran: true, batch: r.batch, missing: true });
    return {
      migrations,
      pending: migrations.filter((m) => !m.ran).length,
      publication: await publicationState(db),
    };
  });
}

/** The migration files as knex sees them: by extension, sorted by name. */
async function migrationFiles(): Promise<string[]> {
  const files = await readdir(MIGRATIONS_DIR);
  return files.filter((f) => MIGRATION_EXTENSIONS.includes(path.extname(f))).sort();
}

async function withKnex<T>(url: string, fn: (db: Knex) => Promise<T>): Promise<T> {
  const db = knex(knexConfig(url));
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}
