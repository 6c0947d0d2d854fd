-- roles.sql: the two roles a deployment runs as, each with only what it needs.
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 [-v publication=NAME] -f scripts/sql/roles.sql
--
-- Run it after `slotstream migrate`, in the service's database, as the owner of its tables (whoever ran the
-- migrations); run it again after a migration adds a stream table. It makes two group roles:
--   slotstream_reader  SELECT on stream_head and on the tables of the publication (default slotstream);
--                      SELECT, INSERT, UPDATE on slotstream_cursors (consumers with a cursor, as the pusher)
--   slotstream_writer  SELECT, UPDATE on stream_head, EXECUTE on slotstream_allocate, and SELECT, INSERT,
--                      UPDATE, DELETE on the tables of the publication
-- and takes slotstream_allocate away from PUBLIC, so that only the writer (and the owner) allocate positions.
-- Tables the service's caches read besides its streams are the service's to grant.
--
-- Login roles join them. REPLICATION is an attribute of the login role itself, not passed on by membership:
--   CREATE ROLE reader_1 LOGIN REPLICATION PASSWORD '...' IN ROLE slotstream_reader;
--   CREATE ROLE chat_writer LOGIN PASSWORD '...' IN ROLE slotstream_writer;
-- then `slotstream doctor --reader-role reader_1 --writer-role chat_writer` checks them.
\if :{?publication}
\else
\set publication slotstream
\endif

SELECT format('CREATE ROLE %I NOLOGIN', r) FROM unnest(ARRAY['slotstream_reader', 'slotstream_writer']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r)
\gexec

GRANT SELECT ON stream_head TO slotstream_reader;
GRANT SELECT, INSERT, UPDATE ON slotstream_cursors TO slotstream_reader;
GRANT SELECT, UPDATE ON stream_head TO slotstream_writer;
REVOKE EXECUTE ON FUNCTION slotstream_allocate(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION slotstream_allocate(bigint) TO slotstream_writer;

SELECT format('GRANT USAGE ON SCHEMA %I TO slotstream_reader, slotstream_writer', schemaname)
  FROM (SELECT DISTINCT schemaname FROM pg_publication_tables WHERE pubname = :'publication') AS s
\gexec
SELECT format('GRANT SELECT ON %I.%I TO slotstream_reader', schemaname, tablename)
  FROM pg_publication_tables WHERE pubname = :'publication'
\gexec
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO slotstream_writer', schemaname, tablename)
  FROM pg_publication_tables WHERE pubname = :'publication'
\gexec
