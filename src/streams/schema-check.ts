import type { Relation } from '../replication/pgoutput/types.ts';
import { type ColumnType, parseColumnSpec, typeName } from './columns.ts';
import { type Convert, conversionFor } from './conversions.ts';
import type { TableStream } from './define.ts';
import { ColumnConversionWarning, StreamSchemaError } from './errors.ts';

/** A column whose type differs from its declaration in a way its values survive (see conversions.ts). */
export interface ColumnConversion {
  column: string;
  declared: ColumnType;
  /** The column's type now, as pg_type names it. */
  actual: string;
  convert: Convert;
  /** What to tell the operator: the table no longer matches its declaration. */
  warning: ColumnConversionWarning;
}

/**
 * Checks that `relation` (from a Relation message, or read from the catalog at start-up in the same shape)
 * has every column `stream` declares, with the declared type, and that deleted rows will say where they
 * were: the position column must be part of the replica identity, or the identity must be FULL.
 * Throws StreamSchemaError naming the table and the column. A column whose type changed to one the
 * declared type can still hold exactly (int4 or numeric where int8 is declared, varchar for text, …) is
 * no error: it is returned, with the conversion its values go through and a warning to pass on. `StreamSet.streamOf` (and so the reader) runs
 * it for every stream table; call it yourself when consuming `subscribe()` directly.
 *
 * @example
 * ```ts
 * import { checkRelation } from 'slotstream';
 * for await (const event of sub) {
 *   const relation = event.tag === 'relation' ? event.relation : undefined;
 *   if (relation?.name === todos.table) checkRelation(todos, relation); // StreamSchemaError if it differs
 * }
 * ```
 */
export function checkRelation(stream: TableStream, relation: Relation): ColumnConversion[] {
  const table = `${relation.schema}.${relation.name}`;
  const conversions: ColumnConversion[] = [];
  const byName = new Map(relation.columns.map((column) => [column.name, column]));
  for (const [name, spec] of Object.entries(stream.columns)) {
    const expected = parseColumnSpec(spec);
    const column = byName.get(name);
    if (column === undefined) {
      throw new StreamSchemaError(
        stream.name,
        table,
        name,
        `the stream declares it (${spec}) but the table ${relation.columns.length === 0 ? 'has no published columns' : 'does not publish it'}`,
      );
    }
    if (column.typeOid !== expected.oid) {
      const actual = typeName(column.typeOid);
      const convert = conversionFor(expected.type, actual);
      if (convert !== undefined) {
        const warning = new ColumnConversionWarning(stream.name, table, name, expected.type, actual);
        conversions.push({ column: name, declared: expected.type, actual, convert, warning });
        continue;
      }
      throw new StreamSchemaError(
        stream.name,
        table,
        name,
        `declared ${expected.type}, but the table's column is ${actual}, which ${expected.type} cannot hold`,
      );
    }
  }
  const position = byName.get(stream.position);
  if (relation.replicaIdentity !== 'f' && position?.isKey !== true) {
    throw new StreamSchemaError(
      stream.name,
      table,
      stream.position,
      'deletes would not carry the row position: make the position column part of the primary key, or ' +
        'ALTER TABLE … REPLICA IDENTITY FULL',
    );
  }
  return conversions;
}
