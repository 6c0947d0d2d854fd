import type { RunSql } from './connect.ts';

/**
 * Which PostgreSQL this is, as `server_version_num` (180004 for 18.4): what decides which features,
 * catalog columns and pgoutput protocol versions to use. Read with SHOW, which every kind of connection
 * takes: an ordinary session, knex, and a replication connection, where SHOW is a replication command of
 * its own. A SELECT works there only because our replication connections are logical
 * (`replication=database`) and pg sends a query without parameters by the simple protocol, the only one
 * a walsender speaks.
 */
export async function serverVersionNum(run: RunSql): Promise<number> {
  const { rows } = await run('SHOW server_version_num');
  return Number((rows[0] as { server_version_num?: string } | undefined)?.server_version_num);
}
