/**
 * A server-wide setting changed for one test (ALTER SYSTEM, reloaded), then put back as it was. Only on
 * the run's own throwaway cluster: such a setting reaches every database and slot on the server, and a
 * user's server given by DATABASE_URL is not ours to change, even for a moment (max_slot_wal_keep_size =
 * 1MB would make that server's own lagging slots lost). Tests that use it are declared with
 * `{ skip: needsOwnCluster('changes server-wide settings') }`.
 */
import pg from 'pg';
import { adminUrl, needsOwnCluster, query } from './pg.ts';

/** What postgresql.auto.conf (ALTER SYSTEM) says for `name`, if anything. */
async function altered(name: string): Promise<string | undefined> {
  const [row] = await query<{ setting: string }>(
    adminUrl(),
    `SELECT setting FROM pg_file_settings
      WHERE name = $1 AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1`,
    [name],
  );
  return row?.setting;
}

async function alterSystem(name: string, value: string | undefined): Promise<void> {
  await query(
    adminUrl(),
    value === undefined
      ? `ALTER SYSTEM RESET ${name}`
      : `ALTER SYSTEM SET ${name} = ${pg.Client.prototype.escapeLiteral(value)}`,
  );
  await query(adminUrl(), 'SELECT pg_reload_conf()');
}

/** Runs `body` with `name` = `value` server-wide, and restores what ALTER SYSTEM had set before (or nothing). */
export async function withServerSetting<T>(name: string, value: string, body: () => Promise<T>): Promise<T> {
  const refused = needsOwnCluster('changes server-wide settings');
  if (refused !== undefined)
    throw new Error(`${refused}: declare the test with { skip: needsOwnCluster(…) }`);
  const before = await altered(name);
  await alterSystem(name, value);
  try {
    return await body();
  } finally {
    await alterSystem(name, before);
  }
}
