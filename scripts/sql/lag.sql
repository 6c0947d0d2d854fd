-- lag.sql: how far behind each logical slot's reader is, in bytes and in time, and whether the server
-- will keep its WAL.
--
--   psql "$DATABASE_URL" -f scripts/sql/lag.sql
--
-- For slots being streamed, pg_stat_replication adds the walsender's view: sent_lsn (what the server has
-- sent), flush_lsn (what the reader confirmed) and replay_lag (how long ago the last confirmed change was
-- written). A slot with no walsender shows empty sender columns: its reader is down.
SELECT s.slot_name,
       s.active_pid,
       pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)) AS unconfirmed,
       pg_size_pretty(pg_wal_lsn_diff(r.sent_lsn, r.flush_lsn)) AS sent_not_confirmed,
       r.replay_lag,
       r.state AS sender_state,
       s.wal_status,
       pg_size_pretty(s.safe_wal_size) AS safe_wal_size,
       current_setting('max_slot_wal_keep_size') AS max_slot_wal_keep_size
  FROM pg_replication_slots s
  LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
 WHERE s.slot_type = 'logical'
 ORDER BY pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn) DESC NULLS LAST, s.slot_name;
