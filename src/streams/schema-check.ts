import type { Relation } from '../replication/pgoutput/types.ts';
import { parseColumnSpec, typeName } from './columns.ts';
import type { TableStream } from './define.ts';
import { StreamSchemaError } from './errors.ts';

/**
 * Checks that `relation` (from a Relation message, or read from the catalog at start-up in the same shape)
 * has every column `stream` declares, with the declared type, and that deleted rows will say where they
 * were: the position column must be part of the replica identity, or the identity must be FULL.
 * Throws StreamSchemaError naming the table and the column. `StreamSet.streamOf` (and so the reader) runs
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
export function checkRelation(stream: TableStream, relation: Relation): void {
  const table = `${relation.schema}.${relation.name}`;
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
      throw new StreamSchemaError(
        stream.name,
        table,
        name,
        `declared ${expected.type}, but the table's column is ${typeName(column.typeOid)}`,
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
}
