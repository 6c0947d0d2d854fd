/**
 * PostgreSQL for test files: the run's cluster comes from scripts/test/run.ts through the environment.
 * Each test file works in a database of its own and drops its slots when done, so files cannot see each
 * other's changes or pin each other's WAL; what it makes on the server is named by ownName (scripts/test/run.ts
 * fails a DATABASE_URL run that leaves any behind).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { cleanUpAfterFile, dropAfterStops, dropRoleLast } from './cleanup.ts';
import { ownName } from './own-names.ts';
import './signals.ts';
import { waitFor } from './wait-for.ts';

export function adminUrl(): string {
  const url = process.env.SLOTSTREAM_TEST_ADMIN_URL;
  if (!url)
    throw new Error('SLOTSTREAM_TEST_ADMIN_URL is not set: run the PostgreSQL tests through `npm test`.');
  return url;
}

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client(url);
  // A server shutting down ends every session, this one perhaps between its connect and its query: the
  // query then fails, which the caller sees; the event must not crash the test process.
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database for this test file; it and its slots are dropped after the file's tests, once
 * every reader, subscription and pool the support layer started is stopped (test/support/cleanup.ts).
 * Call it at the top level of the file (`const url = await freshDatabase('x')`), not in a hook.
 */
export async function freshDatabase(label: string): Promise<string> {
  cleanUpAfterFile();
  const name = ownName(label);
  await query(adminUrl(), `CREATE DATABASE "${name}"`);
  dropAfterStops(() => dropDatabase(name));
  return withDatabase(adminUrl(), name);
}

async function dropDatabase(name: string): Promise<void> {
  const admin = adminUrl();
  // First no new connection, so that nothing left running (a reader this file did not register, still
  // reconnecting) can take a slot again between its walsender's end and the drop.
  const [exists] = await query(admin, 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists === undefined) return; // dropped by its test
  await query(admin, `ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
  // A walsender still attached keeps its slot active, and an active slot cannot be dropped.
  await waitFor(`the slots of database ${name} to be released`, async () => {
    const rows = await query<{ pid: number }>(
      admin,
      'SELECT pg_terminate_backend(active_pid) AS pid FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL',
      [name],
    );
    return rows.length === 0;
  });
  await query(
    admin,
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1',
    [name],
  );
  await query(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** A login role a test made, and URLs that log in as it. */
export interface TestRole {
  name: string;
  /** `url` with this role's name and password. */
  url(url: string): string;
}

/**
 * A login role of this file's own, named by ownName, with `attributes` (CREATE ROLE's, e.g. `REPLICATION IN
 * ROLE slotstream_reader`), dropped after the file's databases. Roles belong to the whole server: the name
 * is new each run, so files and runs sharing a server (DATABASE_URL) never meet each other's; the password
 * is too, for servers that ask for one.
 */
export async function freshRole(label: string, attributes = ''): Promise<TestRole> {
  cleanUpAfterFile();
  const name = ownName(label);
  const password = randomBytes(12).toString('hex');
  await query(adminUrl(), `CREATE ROLE "${name}" LOGIN PASSWORD '${password}' ${attributes}`);
  dropRoleLast(() => query(adminUrl(), `DROP ROLE IF EXISTS "${name}"`));
  return {
    name,
    url(url) {
      const u = new URL(url);
      u.username = name;
      u.password = password;
      return u.toString();
    },
  };
}

/**
 * Why a test that needs the run's own throwaway cluster cannot run here (for `test(…, { skip })`, so the
 * run says it skipped and why), or undefined when it can. Under DATABASE_URL the server is someone else's:
 * it is not restarted, its server-wide settings are not changed, and there are no binaries to start
 * other servers with.
 */
export function needsOwnCluster(what: string): string | undefined {
  return process.env.SLOTSTREAM_TEST_PGDATA && process.env.SLOTSTREAM_TEST_PGBIN
    ? undefined
    : `DATABASE_URL: the server is not the run's own, and this test ${what}`;
}

/** The run's cluster, for tests that stop or restart the server; undefined under DATABASE_URL. */
export async function localCluster(): Promise<LocalCluster | undefined> {
  const dataDir = process.env.SLOTSTREAM_TEST_PGDATA;
  const binDir = process.env.SLOTSTREAM_TEST_PGBIN;
  if (!dataDir || !binDir) return undefined;
  return LocalCluster.start({ binaries: { binDir, label: binDir }, dataDir });
}

/**
 * Writes WAL outside the publication and checkpoints, so WAL older than max_slot_wal_keep_size is removed
 * (how the tests make a slot lost).
 */
export async function burnWal(url: string): Promise<void> {
  await query(url, 'CREATE TABLE IF NOT EXISTS ballast (n int, pad text)');
  for (let i = 0; i < 4; i++) {
    await query(url, "INSERT INTO ballast SELECT n, repeat('x', 200) FROM generate_series(1, 5000) n");
    await query(url, 'SELECT pg_switch_wal()');
  }
  await query(url, 'CHECKPOINT');
}
