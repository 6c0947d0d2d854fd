import type pg from 'pg';
import type { RunSql } from './connect.ts';
import { PublicationError, ReplicationPermissionError, WalLevelError } from './errors.ts';
import { quoteLiteral } from './names.ts';

/** What a publication can publish (its `publish` parameter). */
export type PublishAction = 'insert' | 'update' | 'delete' | 'truncate';

/** Every action: what a reader needs, since its caches follow every kind of change. */
export const PUBLISH_ACTIONS: readonly PublishAction[] = ['insert', 'update', 'delete', 'truncate'];

export interface PreflightOptions {
  publication: string;
  /** Tables (`schema.table` or `table` in public) the consumer needs the publication to cover. */
  tables?: readonly string[];
  /** Actions the consumer needs the publication to publish (default: none checked). */
  publish?: readonly PublishAction[];
}

/**
 * The server-side conditions for consuming a slot, checked over plain SQL so that each failure is a typed
 * error saying what to change, instead of whatever the walsender happens to report later.
 */
export async function preflight(client: pg.Client, options: PreflightOptions): Promise<void> {
  const { rows } = await client.query(
    `SELECT current_setting('wal_level') AS wal_level, current_user AS role,
            (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS may_replicate`,
  );
  const s = rows[0];
  if (s.wal_level !== 'logical') throw new WalLevelError(s.wal_level);
  if (!s.may_replicate) throw new ReplicationPermissionError(s.role);
  await checkPublication(client, options);
}

/**
 * Whether the publication exists, covers `tables` and publishes `publish`; throws PublicationError saying
 * what it lacks and how to repair it. Readers also call it when a transaction turns out incomplete, to name
 * the cause.
 */
export async function checkPublication(client: pg.Client, options: PreflightOptions): Promise<void> {
  const { rows } = await client.query<Record<`pub${PublishAction}` | 'puballtables', boolean>>(
    'SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1',
    [options.publication],
  );
  const pub = rows[0];
  if (pub === undefined) throw PublicationError.missing(options.publication, options.tables);
  const off = (options.publish ?? []).filter((action) => !pub[`pub${action}`]);
  if (off.length > 0) throw PublicationError.notPublishing(options.publication, off);
  if (!options.tables?.length || pub.puballtables) return;
  const covered = await client.query<{ name: string }>(
    "SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1",
    [options.publication],
  );
  const have = new Set(covered.rows.map((r) => r.name));
  const wanted = options.tables.map((t) => (t.includes('.') ? t : `public.${t}`));
  const missing = wanted.filter((t) => !have.has(t));
  if (missing.length > 0) throw PublicationError.notCovering(options.publication, missing);
  const restricted = await restrictedTables((sql) => client.query(sql), options.publication);
  const partial = restricted.filter((t) => wanted.includes(t));
  if (partial.length > 0) throw PublicationError.restricting(options.publication, partial);
}

/**
 * The tables `publication` publishes only in part, as `schema.table`: with a row filter (`WHERE`), whose
 * other rows' changes never reach readers, or a column list, whose rows arrive without the other columns.
 * Either way a reader's caches would follow changes it never sees: a stream table must be published whole.
 */
export async function restrictedTables(run: RunSql, publication: string): Promise<string[]> {
  const { rows } = await run(
    `SELECT n.nspname || '.' || c.relname AS name
       FROM pg_publication_rel r
       JOIN pg_publication p ON p.oid = r.prpubid
       JOIN pg_class c ON c.oid = r.prrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.pubname = ${quoteLiteral(publication)} AND (r.prqual IS NOT NULL OR r.prattrs IS NOT NULL)
      ORDER BY 1`,
  );
  return (rows as { name: string }[]).map((r) => r.name);
}
