import pg from 'pg';
import { ServerError } from './errors.ts';

/** What a caller says about where the database is. */
export interface ConnectionOptions {
  connectionString: string;
  /** Extra server settings for our sessions, e.g. `{ wal_sender_timeout: '10s' }`. */
  settings?: Record<string, string>;
}

function pgConfig(options: ConnectionOptions): pg.ClientConfig {
  const config: pg.ClientConfig = { connectionString: options.connectionString };
  if (options.settings && Object.keys(options.settings).length > 0) {
    // Sent in the startup packet; values are escaped the way the server's options parser expects.
    config.options = Object.entries(options.settings)
      .map(([k, v]) => `-c ${k}=${v.replaceAll('\\', '\\\\').replaceAll(' ', '\\ ')}`)
      .join(' ');
  }
  return config;
}

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
