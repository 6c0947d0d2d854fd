import type pg from 'pg';
import { ServerError, SlotCreationTimeoutError, sqlState } from './errors.ts';
import { slotFailover } from './failover.ts';
import { type Lsn, parseLsn } from './lsn.ts';
import { quoteIdent, quoteLiteral, validateSlotName } from './names.ts';
import { serverVersionNum } from './server-version.ts';

/** A slot as pg_replication_slots shows it (the columns every supported version has). */
export interface SlotInfo {
  name: string;
  plugin: string | null;
  database: string | null;
  temporary: boolean;
  active: boolean;
  activePid: number | null;
  restartLsn: Lsn | null;
  confirmedFlushLsn: Lsn | null;
  /** reserved, extended, unreserved or lost. */
  walStatus: string | null;
  safeWalSize: bigint | null;
  /** Bytes of WAL between confirmed_flush_lsn and the server's current position. */
  lagBytes: bigint | null;
  /** PostgreSQL 17+: why the slot was invalidated, or null. */
  invalidationReason: string | null;
  /** PostgreSQL 17+: when the slot last stopped being used. */
  inactiveSince: Date | null;
  /** PostgreSQL 17+: synced to standbys running with sync_replication_slots (a failover slot); null before. */
  failover: boolean | null;
  /** PostgreSQL 17+: synced here from the primary (on a standby: not usable until promoted); null before. */
  synced: boolean | null;
}

export interface CreatedSlot {
  name: string;
  consistentPoint: Lsn;
  /** Valid only while the creating session stays open and runs nothing else. */
  snapshotName: string | null;
  /** Whether it was created as a failover slot (PostgreSQL 17+). */
  failover: boolean;
}

const SLOT_COLUMNS_17 = 'invalidation_reason, inactive_since, failover, synced';
const NO_SLOT_COLUMNS_17 =
  'NULL AS invalidation_reason, NULL AS inactive_since, NULL AS failover, NULL AS synced';

/**
 * Every slot, or just one, with lag measured against the server's current WAL position.
 *
 * @example
 * ```ts
 * import { listSlots } from 'slotstream';
 * // client: a connected pg.Client (an ordinary session)
 * for (const slot of await listSlots(client)) console.log(slot.name, slot.active, slot.lagBytes);
 * ```
 */
export async function listSlots(client: pg.Client, name?: string): Promise<SlotInfo[]> {
  const version = await serverVersionNum((sql) => client.query(sql));
  const newer = version >= 170000 ? SLOT_COLUMNS_17 : NO_SLOT_COLUMNS_17;
  const { rows } = await client.query(
    `SELECT slot_name, plugin, database, temporary, active, active_pid, restart_lsn::text, confirmed_flush_lsn::text,
            wal_status, safe_wal_size::text,
            (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END
              - confirmed_flush_lsn)::bigint::text AS lag_bytes,
            ${newer}
       FROM pg_replication_slots
      WHERE $1::text IS NULL OR slot_name = $1
      ORDER BY slot_name`,
    [name ?? null],
  );
  return rows.map((r) => ({
    name: r.slot_name,
    plugin: r.plugin,
    database: r.database,
    temporary: r.temporary,
    active: r.active,
    activePid: r.active_pid,
    restartLsn: r.restart_lsn ? parseLsn(r.restart_lsn) : null,
    confirmedFlushLsn: r.confirmed_flush_lsn ? parseLsn(r.confirmed_flush_lsn) : null,
    walStatus: r.wal_status,
    safeWalSize: r.safe_wal_size === null ? null : BigInt(r.safe_wal_size),
    lagBytes: r.lag_bytes === null ? null : BigInt(r.lag_bytes),
    invalidationReason: r.invalidation_reason,
    inactiveSince: r.inactive_since,
    failover: r.failover,
    synced: r.synced,
  }));
}

/**
 * The slot named `name`, or undefined when there is none. Throws InvalidNameError for a name no slot can
 * have, before any SQL is sent.
 *
 * @example
 * ```ts
 * import { getSlot } from 'slotstream';
 * const slot = await getSlot(client, 'reader_1'); // client: a connected pg.Client
 * console.log(slot?.confirmedFlushLsn, slot?.walStatus);
 * ```
 */
export async function getSlot(client: pg.Client, name: string): Promise<SlotInfo | undefined> {
  return (await listSlots(client, validateSlotName(name)))[0];
}

/**
 * A slot PostgreSQL will never stream from again: its WAL is gone (`max_slot_wal_keep_size`) or it was
 * invalidated. A subscription's next connection drops it and starts a new slot, with a reset event.
 *
 * @example
 * ```ts
 * import { getSlot, isLost } from 'slotstream';
 * const slot = await getSlot(client, 'reader_1');
 * if (slot !== undefined && isLost(slot)) console.warn('reader_1 will reset: its caches start over');
 * ```
 */
export function isLost(slot: SlotInfo): boolean {
  return slot.walStatus === 'lost' || slot.invalidationReason !== null;
}

/**
 * Creates a pgoutput slot on a replication session, exporting a snapshot of the database as of the slot's
 * consistent point. Creation waits for transactions open at that moment to end; `lockTimeoutMs` bounds the
 * wait, so one forgotten transaction cannot hang a reader's start-up. The session keeps that lock_timeout
 * (resetting it here would end the snapshot): RESET it once the snapshot has served.
 *
 * `failover`: whether the slot is synced to standbys (PostgreSQL 17+, see failover.ts); by default it is
 * wherever the server can do it (17+, not temporary, not on a standby).
 *
 * Throws InvalidNameError for a bad name (before any SQL), FailoverUnsupportedError for `failover: true`
 * where the server cannot (before the slot is created), SlotCreationTimeoutError when the wait runs out,
 * and ServerError for anything else the server refuses (a name already taken, no free slots).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createSlot } from 'slotstream';
 * // A replication session (@types/pg does not declare the `replication` option, hence the cast).
 * const replication = new pg.Client({ connectionString, replication: 'database' } as pg.ClientConfig);
 * await replication.connect();
 * const { consistentPoint } = await createSlot(replication, 'reader_1', { exportSnapshot: false });
 * ```
 */
export async function createSlot(
  replication: pg.Client,
  name: string,
  options: { temporary?: boolean; lockTimeoutMs?: number; exportSnapshot?: boolean; failover?: boolean } = {},
): Promise<CreatedSlot> {
  validateSlotName(name);
  const temporary = options.temporary === true;
  const failover = await slotFailover((sql) => replication.query(sql), name, options.failover, temporary);
  await replication.query(`SET lock_timeout = ${Math.max(0, Math.round(options.lockTimeoutMs ?? 30_000))}`);
  const snapshot = options.exportSnapshot === false ? 'nothing' : 'export';
  try {
    const { rows } = await replication.query(
      `CREATE_REPLICATION_SLOT ${quoteIdent(name)}${temporary ? ' TEMPORARY' : ''} LOGICAL pgoutput ` +
        // Only 17+ knows the FAILOVER option; elsewhere the flag is undefined and left out.
        `(SNAPSHOT ${quoteLiteral(snapshot)}${failover === true ? ', FAILOVER true' : ''})`,
    );
    const row = rows[0];
    return {
      name,
      consistentPoint: parseLsn(row.consistent_point),
      snapshotName: row.snapshot_name ?? null,
      failover: failover === true,
    };
  } catch (err) {
    if (sqlState(err) === '55P03')
      throw new SlotCreationTimeoutError(name, await describeBlockers(replication), err);
    throw new ServerError(`creating replication slot "${name}"`, err as Error);
  }
}

async function describeBlockers(client: pg.Client): Promise<string> {
  try {
    await client.query('SET lock_timeout = 0');
    const { rows } = await client.query(
      `SELECT pid, now() - xact_start AS age FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 5`,
    );
    return rows.length === 0 ? '' : ` (open transactions in PIDs ${rows.map((r) => r.pid).join(', ')})`;
  } catch {
    return '';
  }
}

/**
 * Drops a slot if it exists; returns whether it did. A slot still in use cannot be dropped (55006).
 * Throws InvalidNameError for a bad name, and ServerError for what the server refuses.
 *
 * @example
 * ```ts
 * import { dropSlot } from 'slotstream';
 * await dropSlot(client, 'reader_1'); // true; ServerError with code '55006' while a reader holds it
 * ```
 */
export async function dropSlot(client: pg.Client, name: string): Promise<boolean> {
  validateSlotName(name);
  try {
    const { rows } = await client.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
      [name],
    );
    return rows.length > 0;
  } catch (err) {
    throw new ServerError(`dropping replication slot "${name}"`, err as Error);
  }
}
