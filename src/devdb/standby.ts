import { existsSync } from 'node:fs';
import { appendFile, chown, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { connectSql } from '../replication/connect.ts';
import { validateSlotName } from '../replication/names.ts';
import { takeBaseBackup } from './base-backup.ts';
import type { PostgresBinaries } from './binaries.ts';
import { StandbyError } from './errors.ts';
import type { LocalCluster } from './local-cluster.ts';
import { letOthersThrough, serverUser } from './server-user.ts';

export interface StandbyOptions {
  /** The running cluster to copy and follow. */
  primary: LocalCluster;
  binaries: PostgresBinaries;
  /** The standby's data directory: made from a base backup of the primary on first use, reused after. */
  dataDir: string;
  /** The physical replication slot the standby streams from, on the primary. */
  slot: string;
  /** TCP port on 127.0.0.1; 0 picks a free one (remembered in the data directory). */
  port?: number;
  /**
   * Extra server settings on top of LOCAL_SERVER_SETTINGS. A hot standby needs max_connections,
   * max_wal_senders and the like at least as high as the primary's: give both the same.
   */
  settings?: Record<string, string>;
}

/** Present in a standby's data directory; PostgreSQL removes it on promotion. */
const STANDBY_SIGNAL = 'standby.signal';

/** Whether `dataDir` holds a standby that has not been promoted. */
export function isStandbyDir(dataDir: string): boolean {
  return existsSync(path.join(dataDir, STANDBY_SIGNAL));
}

/**
 * Makes `dataDir` a hot standby of `primary`, unless it already is one. It is built under a temporary name
 * and renamed when complete, so a failure half-way (or a crash) never leaves a directory that a later call
 * would take for a standby; the slot reserved for it is dropped again on failure. Throws StandbyError
 * for a directory that holds something else or a promoted standby, and a slot another standby holds.
 */
export async function prepareStandby(primary: LocalCluster, dataDir: string, slot: string): Promise<void> {
  validateSlotName(slot);
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) {
    if (!isStandbyDir(dataDir))
      throw new StandbyError(
        `${dataDir} is not a standby any more (it was promoted, or was never one): it is a primary of its ` +
          `own. Remove it to have a new standby of ${primary.dataDir} made from a fresh base backup.`,
      );
    return;
  }
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0)
    throw new StandbyError(
      `${dataDir} exists and is not a PostgreSQL data directory: give the standby an empty or new directory`,
    );
  const partial = `${dataDir}.partial`;
  await rm(partial, { recursive: true, force: true }); // what a crashed attempt left
  if (await serverUser()) await letOthersThrough(path.dirname(dataDir));
  const session = await connectSql({ connectionString: primary.url() });
  try {
    await reserveSlot(session, slot);
    try {
      await takeBaseBackup(session, primary.dataDir, partial, `slotstream standby ${slot}`);
      await configure(partial, primary, slot);
      await rename(partial, dataDir);
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      // A slot nobody will stream from pins the primary's WAL for ever.
      await session.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {});
      throw error;
    }
  } finally {
    await session.end();
  }
}

/**
 * A physical slot reserving WAL from now (`immediately_reserve`): the primary keeps every segment the
 * base backup and the standby's catch-up need, and with hot_standby_feedback the slot also carries the
 * standby's xmin, so vacuum on the primary keeps the catalog rows the standby's logical slots decode with.
 * An inactive slot of the same name is a previous standby's, reserving from a point that no longer
 * matters: it is replaced.
 */
async function reserveSlot(session: pg.Client, slot: string): Promise<void> {
  const { rows } = await session.query<{ slot_type: string; active_pid: number | null }>(
    'SELECT slot_type, active_pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const existing = rows[0];
  if (existing?.slot_type === 'logical')
    throw new StandbyError(
      `slot "${slot}" on the primary is a logical slot: name the standby's slot otherwise`,
    );
  if (existing?.active_pid != null)
    throw new StandbyError(
      `slot "${slot}" on the primary is in use (walsender PID ${existing.active_pid}): another standby ` +
        'streams from it. Give this standby a slot of its own.',
    );
  if (existing) await session.query('SELECT pg_drop_replication_slot($1)', [slot]);
  await session.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
}

/**
 * What turns the copy into a hot standby, kept in its data directory (postgresql.auto.conf, as
 * pg_basebackup -R does) so that it stays a standby however it is started.
 */
async function configure(dataDir: string, primary: LocalCluster, slot: string): Promise<void> {
  const owner = await serverUser();
  const signal = path.join(dataDir, STANDBY_SIGNAL);
  await writeFile(signal, '', { mode: 0o600 });
  if (owner) await chown(signal, owner.uid, owner.gid);
  // dbname: PostgreSQL 17's slot synchronisation (sync_replication_slots) needs a database to read the
  // primary's failover slots through; streaming itself ignores it.
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres dbname=postgres application_name=${slot}`;
  await appendFile(
    path.join(dataDir, 'postgresql.auto.conf'),
    [
      `# slotstream: a hot standby of ${primary.dataDir}`,
      `primary_conninfo = '${conninfo}'`,
      `primary_slot_name = '${slot}'`,
      // Queries (and logical decoding) on the standby while it replays.
      'hot_standby = on',
      // Logical slots on a standby need it: without the standby's xmin, vacuum on the primary removes
      // catalog rows they still decode with, and PostgreSQL invalidates them (a reset for every reader).
      'hot_standby_feedback = on',
      '',
    ].join('\n'),
  );
}

/**
 * Resolves once `standby` has replayed all the WAL `primary` had written when called: what was committed on
 * the primary before is visible on the standby after. Throws StandbyError after `timeoutMs`.
 *
 * @example
 * ```ts
 * import { waitForReplay } from 'slotstream/devdb';
 * await migrateLatest(primary.url('app'), schema); // on the primary
 * await waitForReplay(standby, primary);           // readers on the standby find the schema now
 * ```
 */
export async function waitForReplay(
  standby: LocalCluster,
  primary: LocalCluster,
  timeoutMs = 60_000,
): Promise<void> {
  const [{ lsn } = { lsn: '' }] = await rows<{ lsn: string }>(
    primary.url(),
    'SELECT pg_current_wal_lsn()::text AS lsn',
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await rows<{ done: boolean }>(
      standby.url(),
      'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
      [lsn],
    );
    if (row?.done) return;
    if (Date.now() > deadline)
      throw new StandbyError(
        `the standby in ${standby.dataDir} has not replayed the primary's WAL up to ${lsn} after ` +
          `${timeoutMs} ms: see ${standby.logFile}`,
      );
    await sleep(20);
  }
}

/**
 * Drops a standby's physical slot on `primary`, once the standby's walsender let go of it (stopping or
 * promoting the standby ends its streaming within moments): a slot nobody streams from pins WAL for ever.
 * Returns whether there was one; throws StandbyError when it is still in use after `timeoutMs`.
 *
 * @example
 * ```ts
 * import { dropStandbySlot } from 'slotstream/devdb';
 * await standby.stop();
 * await dropStandbySlot(primary, 'standby_1'); // true
 * ```
 */
export async function dropStandbySlot(
  primary: LocalCluster,
  slot: string,
  timeoutMs = 30_000,
): Promise<boolean> {
  validateSlotName(slot);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await rows<{ active_pid: number | null }>(
      primary.url(),
      "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'physical'",
      [slot],
    );
    if (row === undefined) return false;
    if (row.active_pid === null) {
      await rows(primary.url(), 'SELECT pg_drop_replication_slot($1)', [slot]);
      return true;
    }
    if (Date.now() > deadline)
      throw new StandbyError(
        `slot "${slot}" on the primary is still in use by walsender PID ${row.active_pid}: stop its standby first`,
      );
    await sleep(50);
  }
}

async function rows<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = await connectSql({ connectionString: url });
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
