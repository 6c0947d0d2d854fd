import pg from 'pg';
import { ServerError } from './errors.ts';

/** What a caller says about where the database is. */
export interface ConnectionOptions {
  connectionString: string;
  /** Extra server settings for our sessions, e.g. `{ wal_sender_timeout: '10s' }`. */
  settings?: Record<string, string>;
}

/**
 * The text forms the pgoutput decoder reads are produced by the decoding session's output functions, so
 * they follow that session's settings; a server or role default such as DateStyle 'SQL, DMY' must not
 * change what we decode. Every session we open (replication, and SQL for peeking) uses these.
 */
export const DECODING_SETTINGS: Readonly<Record<string, string>> = {
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  bytea_output: 'hex',
  extra_float_digits: '3', // shortest exact float text (any value above 0 on PostgreSQL 12+)
};

function pgConfig(options: ConnectionOptions): pg.ClientConfig {
  const settings = { ...DECODING_SETTINGS, ...options.settings };
  return {
    connectionString: options.connectionString,
    // Sent in the startup packet; values are escaped the way the server's options parser expects.
    options: Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${v.replaceAll('\\', '\\\\').replaceAll(' ', '\\ ')}`)
      .join(' '),
  };
}

/**
 * Anything that runs SQL and returns rows: a pg Client or Pool (`query`), or knex (`raw`), adapted. For
 * the helpers that read something from whatever connection the caller holds.
 */
export type RunSql = (sql: string) => Promise<{ rows: unknown[] }>;

/** An ordinary SQL session. */
export async function connectSql(options: ConnectionOptions): Promise<pg.Client> {
  const client = new pg.Client(pgConfig(options));
  client.on('error', () => {}); // errors surface through the query that fails; a late socket error must not crash
  try {
    await client.connect();
  } catch (err) {
    throw new ServerError('connecting to PostgreSQL', err as Error);
  }
  return client;
}

/**
 * A logical replication session (`replication=database`): it takes replication commands
 * (CREATE_REPLICATION_SLOT, START_REPLICATION) as well as SQL.
 */
export async function connectReplication(options: ConnectionOptions): Promise<pg.Client> {
  const client = new pg.Client({ ...pgConfig(options), replication: 'database' } as pg.ClientConfig);
  client.on('error', () => {});
  await client.connect();
  return client;
}
