/** What `slotstream doctor` looks at, read from the server in one go (the checks themselves are pure). */
import type pg from 'pg';
import { serverVersionNum } from '../replication/server-version.ts';
import { listSlots, type SlotInfo } from '../replication/slots.ts';

export interface ServerFacts {
  versionNum: number;
  walLevel: string;
  maxReplicationSlots: number;
  maxWalSenders: number;
  /** Walsenders running now (pg_stat_replication), physical and logical. */
  walSendersInUse: number;
  /** In MB, -1 for unlimited. */
  maxSlotWalKeepSizeMb: number;
  /** PostgreSQL 18+: in seconds, 0 when disabled; null before 18. */
  idleReplicationSlotTimeoutS: number | null;
  role: string;
  roleCanReplicate: boolean;
  publication: {
    name: string;
    exists: boolean;
    allTables: boolean;
    /** Publishes UPDATE or DELETE: then every table needs a replica identity. */
    publishesUpdatesOrDeletes: boolean;
    /** Covered tables as schema.table. */
    tables: string[];
    /** Covered tables whose UPDATE/DELETE cannot be published: no primary key and no other replica identity. */
    tablesWithoutIdentity: string[];
  };
  slots: SlotInfo[];
}

export async function readServerFacts(client: pg.Client, publication: string): Promise<ServerFacts> {
  const { rows } = await client.query(
    `SELECT current_setting('wal_level') AS wal_level,
            current_setting('max_replication_slots')::int AS max_slots,
            current_setting('max_wal_senders')::int AS max_senders,
            (SELECT count(*) FROM pg_stat_replication)::int AS senders_in_use,
            (SELECT setting::int FROM pg_settings WHERE name = 'max_slot_wal_keep_size') AS keep_mb,
            (SELECT setting::int FROM pg_settings WHERE name = 'idle_replication_slot_timeout') AS idle_s,
            current_user AS role,
            (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS can_replicate,
            p.oid IS NOT NULL AS pub_exists,
            coalesce(p.puballtables, false) AS pub_all_tables,
            coalesce(p.pubupdate OR p.pubdelete, false) AS pub_updates
       FROM (SELECT 1) AS one
       LEFT JOIN pg_publication p ON p.pubname = $1`,
    [publication],
  );
  const r = rows[0];
  const tables = await client.query<{ name: string; has_identity: boolean }>(
    `SELECT t.schemaname || '.' || t.tablename AS name,
            CASE c.relreplident
              WHEN 'f' THEN true
              WHEN 'i' THEN true
              WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
              ELSE false
            END AS has_identity
       FROM pg_publication_tables t
       JOIN pg_class c ON c.oid = format('%I.%I', t.schemaname, t.tablename)::regclass
      WHERE t.pubname = $1
      ORDER BY 1`,
    [publication],
  );
  return {
    versionNum: await serverVersionNum((sql) => client.query(sql)),
    walLevel: r.wal_level,
    maxReplicationSlots: r.max_slots,
    maxWalSenders: r.max_senders,
    walSendersInUse: r.senders_in_use,
    maxSlotWalKeepSizeMb: r.keep_mb,
    idleReplicationSlotTimeoutS: r.idle_s,
    role: r.role,
    roleCanReplicate: r.can_replicate === true,
    publication: {
      name: publication,
      exists: r.pub_exists,
      allTables: r.pub_all_tables,
      publishesUpdatesOrDeletes: r.pub_updates,
      tables: tables.rows.map((t) => t.name),
      tablesWithoutIdentity: tables.rows.filter((t) => !t.has_identity).map((t) => t.name),
    },
    slots: await listSlots(client),
  };
}
