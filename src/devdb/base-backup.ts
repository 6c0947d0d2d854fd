import type { Dirent } from 'node:fs';
import { chown, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { StandbyError } from './errors.ts';
import { serverUser } from './server-user.ts';

/**
 * Directories whose contents a base backup leaves out, the directories themselves kept: WAL (the standby
 * streams what it needs over its slot), the primary's replication slots (a copy would pin WAL on the
 * standby for clients that never connect to it), and what the server rebuilds at start-up. PostgreSQL's
 * "Making a Base Backup Using the Low Level API" lists them.
 */
const EMPTIED = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);

/**
 * Files left out wherever they are: the running server's (they would make pg_ctl think the copy is
 * running), the relation cache (rebuilt in recovery), and LocalCluster's own log and port, which belong
 * to the primary.
 */
const SKIPPED = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'pg_internal.init',
  'server.log',
  'slotstream.port',
]);

/**
 * Copies a running cluster's data directory to `target` (which must not exist) between pg_backup_start
 * and pg_backup_stop on `session`, an ordinary superuser session on that cluster, and writes the backup
 * label into the copy. The embedded PostgreSQL ships no pg_basebackup; this is the low-level API the
 * PostgreSQL documentation describes, for a cluster on the same machine.
 *
 * Files change while they are copied; that is expected: recovery replays the WAL from the backup's start,
 * which repairs them. A file that vanishes meanwhile (a dropped table) was not needed.
 */
export async function takeBaseBackup(
  session: pg.Client,
  sourceDir: string,
  target: string,
  label: string,
): Promise<void> {
  // A non-exclusive backup lives as long as the session that started it: one session, start to stop, and
  // a failure in between (the session ends) cancels it.
  await session.query('SELECT pg_backup_start($1, true)', [label]); // true: an immediate checkpoint
  const owner = await serverUser();
  await copyTree(sourceDir, target, owner, true);
  // false: no WAL archive to wait for; the standby streams from its slot.
  const { rows } = await session.query<{ labelfile: string; spcmapfile: string }>(
    'SELECT labelfile, spcmapfile FROM pg_backup_stop(false)',
  );
  const stop = rows[0];
  if (stop === undefined) throw new Error('pg_backup_stop returned no row');
  // A tablespace's directory is outside the data directory: a copy would have to move it elsewhere (as
  // pg_basebackup --tablespace-mapping does), or the standby would share it with the primary on this
  // machine and destroy it. Tablespace links are not copied above; say so rather than start half a copy.
  if (stop.spcmapfile !== '')
    throw new StandbyError(
      `the cluster in ${sourceDir} has tablespaces, which a standby on the same machine cannot share: ` +
        'make the standby with pg_basebackup --tablespace-mapping, or use a primary without tablespaces',
    );
  // Without backup_label, the copy would start recovery from the checkpoint in its pg_control, which may
  // be later than the copy of some files: silent corruption. Written byte for byte, as the docs insist.
  await writeFile(path.join(target, 'backup_label'), stop.labelfile, { mode: 0o600 });
  if (owner) await chown(path.join(target, 'backup_label'), owner.uid, owner.gid);
}

type Owner = { uid: number; gid: number } | undefined;

async function copyTree(from: string, to: string, owner: Owner, top: boolean): Promise<void> {
  await mkdir(to, { mode: 0o700 });
  if (owner) await chown(to, owner.uid, owner.gid);
  let entries: Dirent[];
  try {
    entries = await readdir(from, { withFileTypes: true });
  } catch (error) {
    if (vanished(error)) return;
    throw error;
  }
  for (const entry of entries) {
    const source = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (SKIPPED.has(entry.name) || entry.name.startsWith('pgsql_tmp')) continue;
    if (entry.isDirectory()) {
      if (top && EMPTIED.has(entry.name)) {
        await mkdir(dest, { mode: 0o700 });
        if (owner) await chown(dest, owner.uid, owner.gid);
      } else {
        await copyTree(source, dest, owner, false);
      }
    } else if (entry.isFile()) {
      try {
        await copyFile(source, dest);
      } catch (error) {
        if (vanished(error)) continue;
        throw error;
      }
      if (owner) await chown(dest, owner.uid, owner.gid);
    }
  }
}

function vanished(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}
