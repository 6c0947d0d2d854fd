import type { Knex } from 'knex';

/**
 * The knex configuration slotstream's commands connect with; a service may reuse it for its own knex. Its
 * pool holds at most 2 connections, enough for migrations: give a busy service a bigger one.
 *
 * @example
 * ```ts
 * import knex from 'knex';
 * import { knexConfig } from 'slotstream/migrations';
 * const db = knex({ ...knexConfig(connectionString), pool: { min: 0, max: 10 } });
 * ```
 */
export function knexConfig(url: string): Knex.Config {
  return {
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: 10_000 },
    // Migrations run one at a time; a second connection is enough for knex's lock bookkeeping.
    pool: { min: 0, max: 2 },
    acquireConnectionTimeout: 15_000,
  };
}
