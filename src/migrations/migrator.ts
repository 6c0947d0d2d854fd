import { readdir } from 'node:fs/promises';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { DEFAULT_PUBLICATION } from '../replication/names.ts';
import type { AnyStream } from '../streams/define.ts';
import { guardStreamTables } from '../streams/position-guard.ts';
import { knexConfig } from './knex-config.ts';
import {
  type PublicationChange,
  type PublicationState,
  publicationState,
  publishTables,
  streamTables,
} from './publication.ts';
import { SLOTSTREAM_MIGRATIONS_TABLE, slotstreamMigratorConfig } from './schema.ts';

/**
 * What `slotstream migrate` does, callable from code: slotstream's own schema first, then the service's
 * migrations, then the publication made to cover the service's stream tables, and the position guard put on
 * them (position-guard.ts). Both are checked on every run, whatever the ledgers say, so a dropped or narrowed
 * publication, or a dropped trigger, is repaired by migrating.
 */

/** A service's side of the schema, as its slotstream.config declares it. */
export interface ServiceSchema {
  /** The service's own knex migrations (a directory, a migrationSource, its tableName…); run after slotstream's. */
  migrations?: Knex.MigratorConfig;
  /** The streams its readers follow: the publication is made to cover their tables. */
  streams?: readonly AnyStream[];
  /** The publication's name; default `slotstream`. */
  publication?: string;
}

export interface MigrateResult {
  /** slotstream's migrations applied now. */
  slotstream: string[];
  /** The service's migrations applied now (their knex batch), or null when it declares none. */
  service: { batch: number; migrations: string[] } | null;
  /** What the publication needed; null when the service declares no streams. */
  publication: (PublicationChange & { name: string }) | null;
}

export interface RollbackResult {
  batch: number;
  migrations: string[];
}

export interface MigrationEntry {
  name: string;
  ran: boolean;
  /** The batch it ran in, when it ran. */
  batch: number | null;
  /** Recorded as run but no longer among the migrations (knex refuses to migrate then). */
  missing: boolean;
}

export interface MigrationStatus {
  slotstream: MigrationEntry[];
  /** null when the service declares no migrations. */
  service: MigrationEntry[] | null;
  pending: number;
  publication: PublicationState;
  /** Stream tables the publication does not cover (always empty when no streams are declared). */
  unpublished: string[];
}

/**
 * `slotstream migrate` from code, on a connection of its own to `url`: slotstream's migrations, then
 * `schema.migrations`, then the publication (`schema.publication`, default `slotstream`) made to cover the
 * tables of `schema.streams`. Rejects with knex's or the server's error; what ran before stays applied.
 *
 * @example
 * ```ts
 * import { migrateLatest } from 'slotstream/migrations';
 * const schema = { migrations: { directory: './migrations' }, streams: [todos], publication: 'todo' };
 * const result = await migrateLatest(connectionString, schema);
 * console.log(result.slotstream, result.service?.migrations, result.publication?.added);
 * ```
 */
export function migrateLatest(url: string, schema: ServiceSchema = {}): Promise<MigrateResult> {
  return withKnex(url, async (db) => {
    const [, slotstream] = (await db.migrate.latest(slotstreamMigratorConfig)) as [number, string[]];
    let service: MigrateResult['service'] = null;
    if (schema.migrations) {
      const [batch, log] = (await db.migrate.latest(schema.migrations)) as [number, string[]];
      service = { batch, migrations: log };
    }
    let publication: MigrateResult['publication'] = null;
    const tables = streamTables(schema.streams ?? []);
    if (tables.length > 0) {
      const name = schema.publication ?? DEFAULT_PUBLICATION;
      publication = { name, ...(await publishTables(db, tables, name)) };
    }
    await guardStreamTables(db, schema.streams ?? []);
    return { slotstream, service, publication };
  });
}

/**
 * Undoes the service's last batch. slotstream's own schema is left alone: readers and writers need it.
 *
 * @example
 * ```ts
 * import { rollback } from 'slotstream/migrations';
 * const undone = await rollback(connectionString, { migrations: { directory: './migrations' } });
 * console.log(`batch ${undone.batch}: ${undone.migrations.join(', ')}`);
 * ```
 */
export function rollback(url: string, schema: ServiceSchema = {}): Promise<RollbackResult> {
  const migrations = schema.migrations;
  if (!migrations) return Promise.resolve({ batch: 0, migrations: [] });
  return withKnex(url, async (db) => {
    const [batch, log] = (await db.migrate.rollback(migrations)) as [number, string[]];
    return { batch, migrations: log };
  });
}

/**
 * What ran, what is pending, and what the publication covers (`slotstream migrate --status`), for
 * slotstream's migrations and the service's. Read-only: unlike knex's own list(), it does not create the
 * ledger tables on a fresh database.
 *
 * @example
 * ```ts
 * import { migrationStatus } from 'slotstream/migrations';
 * const status = await migrationStatus(connectionString, { migrations: { directory: './migrations' } });
 * if (status.pending > 0) console.warn(`${status.pending} migrations to run: slotstream migrate`);
 * ```
 */
export function migrationStatus(url: string, schema: ServiceSchema = {}): Promise<MigrationStatus> {
  return withKnex(url, async (db) => {
    const slotstream = await entries(db, slotstreamMigratorConfig, SLOTSTREAM_MIGRATIONS_TABLE);
    const service = schema.migrations
      ? await entries(db, schema.migrations, schema.migrations.tableName ?? 'knex_migrations')
      : null;
    const name = schema.publication ?? DEFAULT_PUBLICATION;
    const publication = await publicationState(db, name);
    const unpublished = publication.allTables
      ? []
      : streamTables(schema.streams ?? []).filter((t) => !publication.tables.includes(t));
    return {
      slotstream,
      service,
      pending: [...slotstream, ...(service ?? [])].filter((m) => !m.ran).length,
      publication,
      unpublished,
    };
  });
}

async function entries(db: Knex, config: Knex.MigratorConfig, ledger: string): Promise<MigrationEntry[]> {
  const qualified = config.schemaName ? `${config.schemaName}.${ledger}` : ledger;
  const tracked = await db.raw<{ rows: { t: string | null }[] }>('SELECT to_regclass(?) AS t', [qualified]);
  const ran: { name: string; batch: number }[] = tracked.rows[0]?.t
    ? await (config.schemaName ? db(ledger).withSchema(config.schemaName) : db(ledger))
        .select('name', 'batch')
        .orderBy('id')
    : [];
  const names = await migrationNames(config);
  const batchOf = new Map(ran.map((r) => [r.name, r.batch]));
  const list: MigrationEntry[] = names.map((name) => ({
    name,
    ran: batchOf.has(name),
    batch: batchOf.get(name) ?? null,
    missing: false,
  }));
  for (const r of ran)
    if (!names.includes(r.name)) list.push({ name: r.name, ran: true, batch: r.batch, missing: true });
  return list;
}

/** knex's default loadExtensions: what a directory of migrations is read for when none are given. */
const KNEX_EXTENSIONS = ['.co', '.coffee', '.eg', '.iced', '.js', '.cjs', '.litcoffee', '.ls', '.ts'];

/** The migrations' names as knex sees them: a source's own, or a directory's files by extension, sorted. */
async function migrationNames(config: Knex.MigratorConfig): Promise<string[]> {
  if (config.migrationSource) {
    const source = config.migrationSource as Knex.MigrationSource<unknown>;
    return (await source.getMigrations(config.loadExtensions ?? KNEX_EXTENSIONS)).map((m) =>
      source.getMigrationName(m),
    );
  }
  const extensions = config.loadExtensions ?? KNEX_EXTENSIONS;
  const dirs = [config.directory ?? './migrations'].flat();
  const names = await Promise.all(
    dirs.map(async (dir) =>
      (await readdir(path.resolve(dir))).filter((f) => extensions.includes(path.extname(f))),
    ),
  );
  return names.flat().sort();
}

async function withKnex<T>(url: string, fn: (db: Knex) => Promise<T>): Promise<T> {
  const db = knex(knexConfig(url));
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}
