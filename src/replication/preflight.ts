import type pg from 'pg';
import { PublicationError, ReplicationPermissionError, WalLevelError } from './errors.ts';

export interface PreflightOptions {
  publication: string;
  /** Tables (`schema.table` or `table` in public) the consumer needs the publication to cover. */
  tables?: readonly string[];
}

/**
 * The server-side conditions for consuming a slot, checked over plain SQL so that each failure is a typed
 * error saying what to change, instead of whatever the walsender happens to report later.
 */
export async function preflight(client: pg.Client, options: PreflightOptions): Promise<void> {
  const { rows } = await client.query(
    `SELECT current_setting('wal_level') AS wal_level, current_user AS role,
            (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS may_replicate,
            (SELECT puballtables FROM pg_publication WHERE pubname = $1) AS all_tables,
            EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS publication_exists`,
    [options.publication],
  );
  const s = rows[0];
  if (s.wal_level !== 'logical') throw new WalLevelError(s.wal_level);
  if (!s.may_replicate) throw new ReplicationPermissionError(s.role);
  if (!s.publication_exists) throw PublicationError.missing(options.publication, options.tables);
  if (!options.tables?.length || s.all_tables) return;
  const covered = await client.query<{ name: string }>(
    "SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1",
    [options.publication],
  );
  const have = new Set(covered.rows.map((r) => r.name));
  const missing = options.tables
    .map((t) => (t.includes('.') ? t : `public.${t}`))
    .filter((t) => !have.has(t));
  if (missing.length > 0) throw PublicationError.notCovering(options.publication, missing);
}
