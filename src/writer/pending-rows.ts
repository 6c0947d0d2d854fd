import type { Knex } from 'knex';
import { parseColumnSpec } from '../streams/columns.ts';
import type { TableStream } from '../streams/define.ts';
import type { StreamRowRef } from './row-ref.ts';
import type { NewRow } from './writer-transaction.ts';

/** A stream row waiting for its position. */
export interface PendingRow {
  stream: TableStream;
  row: NewRow;
  /** Upsert on these columns (ON CONFLICT … DO UPDATE), for tables keyed by something else than position. */
  onConflict: readonly string[] | undefined;
  ref: StreamRowRef;
}

/** Keeps a multi-row INSERT well under PostgreSQL's 65,535 bind parameters. */
const ROWS_PER_INSERT = 1000;

/**
 * Gives `rows` the positions ending at `last` in order, then inserts them. Consecutive plain inserts into one
 * stream go out as one multi-row INSERT, in position order. Upserts go one by one: a multi-row upsert fails
 * when two of its rows hit the same key.
 */
export async function insertRows(knex: Knex.Transaction, rows: readonly PendingRow[], last: bigint) {
  let next = last - BigInt(rows.length) + 1n;
  for (const pending of rows) pending.ref.allocated(next++);
  let start = 0;
  while (start < rows.length) {
    const first = rows[start] as PendingRow;
    let end = start + 1;
    if (first.onConflict === undefined) {
      const limit = Math.min(rows.length, start + ROWS_PER_INSERT);
      while (end < limit && isPlainInsertInto(rows[end] as PendingRow, first.stream)) end++;
    }
    const values = rows.slice(start, end).map((p) => toColumns(p.stream, p.row, p.ref.position));
    const insert = knex(first.stream.table).withSchema(first.stream.schema).insert(values);
    if (first.onConflict === undefined) await insert;
    else await insert.onConflict([...first.onConflict]).merge();
    start = end;
  }
}

function isPlainInsertInto(pending: PendingRow, stream: TableStream): boolean {
  return pending.stream === stream && pending.onConflict === undefined;
}

/** JSON columns are sent as JSON text: node-postgres would turn a JS array into a PostgreSQL array. */
function toColumns(stream: TableStream, row: NewRow, position: bigint): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row, [stream.position]: position.toString() };
  for (const [name, spec] of Object.entries(stream.columns)) {
    const { type } = parseColumnSpec(spec);
    if ((type === 'json' || type === 'jsonb') && out[name] !== undefined && out[name] !== null) {
      out[name] = JSON.stringify(out[name]);
    }
  }
  return out;
}
