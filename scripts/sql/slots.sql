-- slots.sql: which replication slots exist on this server, who holds them, and how much WAL each pins.
--
--   psql "$DATABASE_URL" -f scripts/sql/slots.sql
--
-- lag_bytes: WAL written since the slot's confirmed_flush_lsn (what its reader still has to confirm).
-- retained: WAL kept on disk for the slot (from restart_lsn). safe_wal_size: how much more WAL may be
-- written before the slot is lost (empty when max_slot_wal_keep_size = -1, i.e. unlimited).
-- inactive_since exists from PostgreSQL 17; it is read through to_jsonb so the script runs on 15 and 16 too.
-- `slotstream slots list` shows the same.
SELECT s.slot_name,
       s.plugin,
       s.database,
       s.active_pid,
       s.confirmed_flush_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint AS lag_bytes,
       pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)) AS lag,
       pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)) AS retained,
       s.wal_status,
       pg_size_pretty(s.safe_wal_size) AS safe_wal_size,
       (to_jsonb(s) ->> 'inactive_since')::timestamptz AS inactive_since
  FROM pg_replication_slots s
 ORDER BY s.slot_name;
