/**
 * `slotstream slots list` output: a table for people, or (`--json`) an array of objects for scripts.
 * In JSON, LSNs are strings and byte counts plain numbers (WAL sizes stay far below 2^53).
 */
import { formatLsn } from '../replication/lsn.ts';
import type { SlotInfo } from '../replication/slots.ts';
import { formatTable } from './table.ts';

export interface SlotRow {
  name: string;
  plugin: string | null;
  database: string | null;
  temporary: boolean;
  active_pid: number | null;
  confirmed_flush_lsn: string | null;
  lag_bytes: number | null;
  wal_status: string | null;
  safe_wal_size: number | null;
  /** PostgreSQL 17+; null before, and while the slot is in use. */
  inactive_since: string | null;
  /** PostgreSQL 17+ (null before): synced to standbys that run with sync_replication_slots. */
  failover: boolean | null;
  /** PostgreSQL 17+ (null before): synced here from the primary. */
  synced: boolean | null;
}

export function slotRow(slot: SlotInfo): SlotRow {
  return {
    name: slot.name,
    plugin: slot.plugin,
    database: slot.database,
    temporary: slot.temporary,
    active_pid: slot.activePid,
    confirmed_flush_lsn: slot.confirmedFlushLsn === null ? null : formatLsn(slot.confirmedFlushLsn),
    lag_bytes: slot.lagBytes === null ? null : Number(slot.lagBytes),
    wal_status: slot.walStatus,
    safe_wal_size: slot.safeWalSize === null ? null : Number(slot.safeWalSize),
    inactive_since: slot.inactiveSince ? new Date(slot.inactiveSince).toISOString() : null,
    failover: slot.failover,
    synced: slot.synced,
  };
}

/**
 * safe_wal_size shows '-' when unbounded (max_slot_wal_keep_size = -1) or the slot is lost; inactive_since,
 * failover and synced show '-' before PostgreSQL 17, which has no such columns.
 */
const HEADERS = [
  'name',
  'plugin',
  'database',
  'active_pid',
  'confirmed_flush_lsn',
  'lag_bytes',
  'wal_status',
  'safe_wal_size',
  'inactive_since',
  'failover',
  'synced',
];

export function formatSlotTable(rows: readonly SlotRow[]): string {
  if (rows.length === 0) return 'no replication slots';
  const cell = (v: string | number | boolean | null) => (v === null ? '-' : String(v));
  return formatTable(
    HEADERS,
    rows.map((r) => [
      r.temporary ? `${r.name} (temporary)` : r.name,
      cell(r.plugin),
      cell(r.database),
      cell(r.active_pid),
      cell(r.confirmed_flush_lsn),
      cell(r.lag_bytes),
      cell(r.wal_status),
      cell(r.safe_wal_size),
      cell(r.inactive_since),
      cell(r.failover),
      cell(r.synced),
    ]),
  );
}
