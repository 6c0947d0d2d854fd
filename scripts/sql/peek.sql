-- peek.sql: the changes waiting in slot :'slot' (not yet confirmed by its reader), WITHOUT consuming them.
--
--   psql "$DATABASE_URL" -v slot=reader_1 -f scripts/sql/peek.sql
--
-- pgoutput is a binary protocol, so this shows each message's frame, not its values: the WAL position,
-- the transaction, the message tag (B begin, C commit, R relation, Y type, O origin, I insert, U update,
-- D delete, T truncate, M logical message), its length, and the table (I/U/D/R) or the message prefix (M).
-- `slotstream slots peek NAME` decodes the same changes fully, as JSON lines.
-- It decodes through the publication slotstream and stops after the transaction reaching 100 messages.
-- The slot must be idle: PostgreSQL refuses to peek at a slot a reader is streaming from.
\set ON_ERROR_STOP on
SELECT c.lsn,
       c.xid,
       chr(get_byte(c.data, 0)) AS tag,
       CASE chr(get_byte(c.data, 0))
         WHEN 'B' THEN 'begin' WHEN 'C' THEN 'commit' WHEN 'R' THEN 'relation' WHEN 'Y' THEN 'type'
         WHEN 'O' THEN 'origin' WHEN 'I' THEN 'insert' WHEN 'U' THEN 'update' WHEN 'D' THEN 'delete'
         WHEN 'T' THEN 'truncate' WHEN 'M' THEN 'message' ELSE '?'
       END AS kind,
       length(c.data) AS bytes,
       CASE
         -- Protocol 1: the relation OID follows the tag in Insert, Update, Delete and Relation.
         WHEN chr(get_byte(c.data, 0)) IN ('I', 'U', 'D', 'R')
           THEN (('x' || encode(substring(c.data FROM 2 FOR 4), 'hex'))::bit(32)::bigint)::oid::regclass::text
         -- Message: tag, flags (1 byte), LSN (8 bytes), then the NUL-terminated prefix.
         WHEN chr(get_byte(c.data, 0)) = 'M'
           THEN convert_from(substring(c.data FROM 11 FOR position('\x00'::bytea IN substring(c.data FROM 11)) - 1), 'UTF8')
       END AS detail
  FROM pg_logical_slot_peek_binary_changes(:'slot', NULL, 100,
         'proto_version', '1', 'publication_names', 'slotstream', 'messages', 'true') AS c;
