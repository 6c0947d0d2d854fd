/**
 * PostgreSQL for test files: the run's cluster comes from scripts/test/run.ts through the environment.
 * Each test file works in a database of its own and drops its slots when done, so files cannot see each
 * other's changes or pin each other's WAL.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';

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
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database for this test file; it and its slots are dropped after the file's tests.
 * Call it at the top level of the file (`const url = await freshDatabase('x')`), not in a hook.
 */
export async function freshDatabase(label: string): Promise<string> {
  const name = `t_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
  await query(adminUrl(), `CREATE DATABASE "${name}"`);
  after(() => dropDatabase(name));
  return withDatabase(adminUrl(), name);
}

async function dropDatabase(name: string): Promise<void> {
  const admin = adminUrl();
  // A walsender still attached keeps its slot active, and an active slot cannot be dropped.
  await query(
    admin,
    'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL',
    [name],
  );
  for (let i = 0; i < 50; i++) {
    const [row] = await query<{ n: string }>(
      admin,
      'SELECT count(*) AS n FROM pg_replication_slots WHERE database = $1 AND active',
      [name],
    );
    if (row?.n === '0') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await query(
    admin,
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1',
    [name],
  );
  await query(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
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
