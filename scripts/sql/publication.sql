-- publication.sql: which publications exist in this database, which tables each covers, and whether each
-- table can publish UPDATE and DELETE (it needs a primary key or another replica identity; without one,
-- UPDATE/DELETE on a table published for them fail in the writer).
--
--   psql "$DATABASE_URL" -f scripts/sql/publication.sql
--
-- slotstream's readers decode through the publication `slotstream` (created by `slotstream migrate`).
-- replica_identity: default (the primary key), index, full (the whole old row) or nothing.
SELECT p.pubname AS publication,
       p.puballtables AS all_tables,
       concat_ws(' ',
         CASE WHEN p.pubinsert THEN 'insert' END,
         CASE WHEN p.pubupdate THEN 'update' END,
         CASE WHEN p.pubdelete THEN 'delete' END,
         CASE WHEN p.pubtruncate THEN 'truncate' END) AS publishes,
       t.schemaname || '.' || t.tablename AS "table",
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_primary_key,
       CASE c.relreplident
         WHEN 'd' THEN 'default'
         WHEN 'i' THEN 'index'
         WHEN 'f' THEN 'full'
         WHEN 'n' THEN 'nothing'
       END AS replica_identity,
       CASE
         WHEN c.relreplident IN ('f', 'i') THEN true
         WHEN c.relreplident = 'd' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
         ELSE false
       END AS updates_publishable
  FROM pg_publication p
  LEFT JOIN pg_publication_tables t ON t.pubname = p.pubname
  LEFT JOIN pg_class c ON c.oid = format('%I.%I', t.schemaname, t.tablename)::regclass
 ORDER BY p.pubname, t.schemaname, t.tablename;
