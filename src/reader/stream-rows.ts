import type pg from 'pg';
import { SlotstreamError } from '../replication/errors.ts';
import { quoteIdent } from '../replication/names.ts';
import { decoderFor } from '../replication/pgoutput/values.ts';
import type { ColumnSpecs, RowOf } from '../streams/columns.ts';
import type { TableStream } from '../streams/define.ts';
import { StreamSchemaError } from '../streams/errors.ts';

/**
 * A table stream's rows read back from its table, in position order: what a StreamCursor delivers. The
 * values are the ones a reader decodes from the WAL for the same row (int8 a bigint, jsonb parsed,
 * timestamptz a Date, …): the text PostgreSQL prints for each column goes through the pgoutput decoder of
 * its type, in a session with the decoding settings (connectSql), so a consumer sees one row type whichever
 * way a row reached it.
 */

/**
 * The stream's table has no index that leads with its position column: every batch a cursor reads would
 * scan and sort the whole table. Thrown by `StreamCursor.start`; the message gives the statement to run.
 *
 * @example
 * ```ts
 * import { PositionIndexMissingError, StreamCursor } from 'slotstream';
 * await StreamCursor.start(options).catch((error: unknown) => {
 *   if (error instanceof PositionIndexMissingError) console.error(error.message); // CREATE INDEX … (position)
 *   throw error;
 * });
 * ```
 */
export class PositionIndexMissingError extends SlotstreamError {
  constructor(
    readonly stream: string,
    readonly table: string,
    readonly column: string,
  ) {
    super(
      `stream ${JSON.stringify(stream)}: table ${table} has no index on its position column ` +
        `${JSON.stringify(column)}, so each batch a cursor reads would scan the whole table. Add one in a ` +
        `migration: CREATE INDEX CONCURRENTLY ON ${table} (${quoteIdent(column)}) (a primary key or a unique ` +
        'constraint on the column counts too; a partial index does not).',
    );
  }
}

/** Throws StreamSchemaError if the stream's table does not exist, PositionIndexMissingError if it has no such index. */
export async function checkPositionIndex(client: pg.Client, stream: TableStream): Promise<void> {
  const { rows } = await client.query<{ table: boolean; indexed: boolean }>(
    `SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL AS "table",
            EXISTS (SELECT 1 FROM pg_index i
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                     WHERE i.indrelid = to_regclass(format('%I.%I', $1::text, $2::text))
                       AND a.attname = $3 AND i.indisvalid AND i.indpred IS NULL) AS indexed`,
    [stream.schema, stream.table, stream.position],
  );
  const found = rows[0];
  if (!found?.table) {
    throw new StreamSchemaError(stream.name, stream.qualifiedName, undefined, 'the table does not exist');
  }
  if (!found.indexed) throw new PositionIndexMissingError(stream.name, stream.qualifiedName, stream.position);
}

/** Every column's text through the decoder of its type (a column's type OID, as the result describes it). */
const DECODED: pg.CustomTypesConfig = {
  getTypeParser: (oid: number) => {
    const decode = decoderFor(oid);
    return (text: string) => {
      const buf = Buffer.from(text, 'utf8');
      return decode(buf, 0, buf.length);
    };
  },
};

/**
 * The stream's rows with a position in (`after`, `upto`], lowest first, at most `limit` of them: one
 * indexed range scan (checkPositionIndex). Only the declared columns are read.
 */
export async function readRows<C extends ColumnSpecs>(
  client: pg.Client,
  stream: TableStream<C>,
  after: bigint,
  upto: bigint,
  limit: number,
): Promise<RowOf<C>[]> {
  const columns = Object.keys(stream.columns).map(quoteIdent).join(', ');
  const position = quoteIdent(stream.position);
  const { rows } = await client.query<RowOf<C>>({
    text: `SELECT ${columns} FROM ${quoteIdent(stream.schema)}.${quoteIdent(stream.table)}
            WHERE ${position} > $1 AND ${position} <= $2 ORDER BY ${position} LIMIT $3`,
    values: [String(after), String(upto), limit],
    types: DECODED,
  });
  return rows;
}
