import path from 'node:path';
import type { Knex } from 'knex';

/**
 * The one knex configuration: the CLI, the library and the tests all migrate through it, so they agree on
 * where migrations live and where knex records which ones ran.
 */

/** Absolute, because knex resolves a relative migrations directory against process.cwd(). */
export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '..', '..', 'migrations');

/** knex's bookkeeping table (plus `<name>_lock`); the default name, so plain `knex migrate` agrees. */
export const MIGRATIONS_TABLE = 'knex_migrations';

/** Migrations are TypeScript; they load through tsx, which the CLI and the test runner register. */
export const MIGRATION_EXTENSIONS: readonly string[] = ['.ts'];

export function knexConfig(url: string): Knex.Config {
  return {
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: 10_000 },
    // Migrations run one at a time; a second connection is enough for knex's lock bookkeeping.
    pool: { min: 0, max: 2 },
    acquireConnectionTimeout: 15_000,
    migrations: {
      directory: MIGRATIONS_DIR,
      loadExtensions: MIGRATION_EXTENSIONS,
      tableName: MIGRATIONS_TABLE,
    },
  };
}
