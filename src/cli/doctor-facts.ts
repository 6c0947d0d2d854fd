/** What `slotstream doctor` looks at, read from the server in one go (the checks themselves are pure). */
import type pg from 'pg';
import { type PublishAction, restrictedTables } from '../replication/preflight.ts';
import { serverVersionNum } from '../replication/server-version.ts';
import { listSlots, type SlotInfo } from '../replication/slots.ts';
import { conninfoHasDbname, parseSlotList } from './setting-values.ts';

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
    /** Actions it does not publish (its `publish` parameter): readers never see those changes. */
    notPublished: PublishAction[];
    /** Covered tables as schema.table. */
    tables: string[];
    /** Covered tables whose UPDATE/DELETE cannot be published: no primary key and no other replica identity. */
    tablesWithoutIdentity: string[];
    /** Covered tables published only in part: a row filter or a column list. */
    restricted: string[];
  };
  slots: SlotInfo[];
  topology: TopologyFacts;
}

/** Where this server stands in a primary/standby pair, and the settings failover and standbys depend on. */
export interface TopologyFacts {
  /** pg_is_in_recovery(): a standby (hot standby), not the primary. */
  inRecovery: boolean;
  hotStandbyFeedback: boolean;
  /** The standby's physical slot on the primary; '' when unset. */
  primarySlotName: string;
  /**
   * Whether primary_conninfo names a database (slot sync connects to one). Null when there is no
   * primary_conninfo or this role may not read it (superusers and pg_read_all_settings may).
   */
  primaryConninfoHasDbname: boolean | null;
  /** PostgreSQL 17+ (null before): whether this standby syncs the primary's failover slots. */
  syncReplicationSlots: boolean | null;
  /** PostgreSQL 17+ (null before): the physical slots logical walsenders wait for. */
  synchronizedStandbySlots: string[] | null;
  /** Walsenders streaming WAL to a standby (or a base backup): those not serving a logical slot. */
  physicalSenders: number;
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
            coalesce(p.pubupdate OR p.pubdelete, false) AS pub_updates,
            array_remove(ARRAY[CASE WHEN NOT p.pubinsert THEN 'insert' END,
                               CASE WHEN NOT p.pubupdate THEN 'update' END,
                               CASE WHEN NOT p.pubdelete THEN 'delete' END,
                               CASE WHEN NOT p.pubtruncate THEN 'truncate' END], NULL) AS not_published
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
      notPublished: r.not_published,
      tables: tables.rows.map((t) => t.name),
      tablesWithoutIdentity: tables.rows.filter((t) => !t.has_identity).map((t) => t.name),
      restricted: await restrictedTables((sql) => client.query(sql), publication),
    },
    slots: await listSlots(client),
    topology: await readTopology(client),
  };
}

async function readTopology(client: pg.Client): Promise<TopologyFacts> {
  // pg_settings rather than current_setting(): a row it hides from this role (primary_conninfo, which may
  // hold a password) reads as NULL instead of failing, and a setting this version lacks reads as NULL too.
  const { rows } = await client.query(
    `SELECT pg_is_in_recovery() AS in_recovery,
            (SELECT setting FROM pg_settings WHERE name = 'hot_standby_feedback') = 'on' AS feedback,
            (SELECT setting FROM pg_settings WHERE name = 'primary_slot_name') AS primary_slot,
            (SELECT setting FROM pg_settings WHERE name = 'primary_conninfo') AS conninfo,
            (SELECT setting FROM pg_settings WHERE name = 'sync_replication_slots') AS sync_slots,
            (SELECT setting FROM pg_settings WHERE name = 'synchronized_standby_slots') AS standby_slots,
            (SELECT count(*) FROM pg_stat_replication r
              WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots s
                                 WHERE s.active_pid = r.pid AND s.slot_type = 'logical'))::int AS physical`,
  );
  const r = rows[0];
  return {
    inRecovery: r.in_recovery,
    hotStandbyFeedback: r.feedback === true,
    primarySlotName: r.primary_slot ?? '',
    primaryConninfoHasDbname: r.conninfo ? conninfoHasDbname(r.conninfo) : null,
    syncReplicationSlots: r.sync_slots === null ? null : r.sync_slots === 'on',
    synchronizedStandbySlots: r.standby_slots === null ? null : parseSlotList(r.standby_slots),
    physicalSenders: r.physical,
  };
}
