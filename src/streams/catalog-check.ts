import type pg from 'pg';
import { PublicationError } from '../replication/errors.ts';
import type { Relation, ReplicaIdentity } from '../replication/pgoutput/types.ts';
import type { TableStream } from './define.ts';
import { type ColumnConversionWarning, StreamSchemaError } from './errors.ts';
import { checkRelation } from './schema-check.ts';

interface ColumnRow {
  replident: ReplicaIdentity;
  name: string;
  type_oid: number;
  is_key: boolean;
  published: boolean;
}

/**
 * The start-up form of the Relation check: reads each stream table as the catalog describes it (published
 * columns, types, replica identity) and checks it like a Relation message, so a schema mismatch stops a
 * reader before it decodes anything rather than at the first change to that table. Returns the warnings
 * of columns whose type changed to one the declaration can still hold (their values will be converted).
 */
export async function checkStreamTables(
  client: pg.Client,
  publication: string,
  streams: readonly TableStream[],
): Promise<ColumnConversionWarning[]> {
  const warnings: ColumnConversionWarning[] = [];
  for (const stream of streams) {
    const { rows } = await client.query<ColumnRow>(
      `SELECT c.relreplident AS replident, a.attname AS name, a.atttypid::int8::float8 AS type_oid,
              coalesce(a.attnum = ANY (ri.indkey::int2[]), false) AS is_key,
              (pt.attnames IS NULL OR a.attname = ANY (pt.attnames)) AS published
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_publication_tables pt
           ON pt.pubname = $1 AND pt.schemaname = n.nspname AND pt.tablename = c.relname
         LEFT JOIN pg_index ri ON ri.indrelid = c.oid
          AND CASE c.relreplident WHEN 'd' THEN ri.indisprimary WHEN 'i' THEN ri.indisreplident ELSE false END
        WHERE n.nspname = $2 AND c.relname = $3
        ORDER BY a.attnum`,
      [publication, stream.schema, stream.table],
    );
    if (rows.length === 0) await explainMissing(client, publication, stream);
    const relation: Relation = {
      oid: 0,
      schema: stream.schema,
      name: stream.table,
      replicaIdentity: (rows[0] as ColumnRow).replident,
      columns: rows
        .filter((row) => row.published)
        .map((row) => ({ name: row.name, typeOid: Number(row.type_oid), typeMod: -1, isKey: row.is_key })),
    };
    for (const conversion of checkRelation(stream, relation)) warnings.push(conversion.warning);
  }
  return warnings;
}

/** Why a stream table is not seen through the publication: the publication, the table, or the pairing. */
async function explainMissing(client: pg.Client, publication: string, stream: TableStream): Promise<never> {
  const { rows } = await client.query<{ publication: boolean; table: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS publication,
            to_regclass(format('%I.%I', $2::text, $3::text)) IS NOT NULL AS "table"`,
    [publication, stream.schema, stream.table],
  );
  const found = rows[0];
  if (!found?.publication) throw PublicationError.missing(publication, [stream.qualifiedName]);
  if (!found.table) {
    throw new StreamSchemaError(stream.name, stream.qualifiedName, undefined, 'the table does not exist');
  }
  throw PublicationError.notCovering(publication, [stream.qualifiedName]);
}
