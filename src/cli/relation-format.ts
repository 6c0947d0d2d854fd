/**
 * The parts of a change line that depend only on its table (see change-line.ts), worked out once per
 * Relation message instead of once per row: the quoted table name with the op that follows it, and each
 * column's quoted name.
 */
import type { PgValue, Relation, Row } from '../replication/pgoutput/index.ts';
import { valueJson } from './json-safe.ts';

export class RelationFormat {
  /** `"schema.table","op":"insert","row":`, to be followed by the new row. */
  readonly insert: string;
  /** `"schema.table","op":"update","row":`, to be followed by the new row. */
  readonly update: string;
  /** `"schema.table","op":"delete","row":null,"old":`, to be followed by the old row. */
  readonly delete: string;
  /** The rest of a truncate line after `"table":`, its newline included. */
  readonly truncate: string;
  /** The column names in the order a whole row's own keys come in (see rowJson). */
  readonly #names: readonly string[];
  /** Each of #names as an object's first member (`{"name":`) and as a later one (`,"name":`). */
  readonly #keys: readonly (readonly [string, string])[];

  constructor(relation: Relation) {
    const table = JSON.stringify(`${relation.schema}.${relation.name}`);
    this.insert = `${table},"op":"insert","row":`;
    this.update = `${table},"op":"update","row":`;
    this.delete = `${table},"op":"delete","row":null,"old":`;
    this.truncate = `${table},"op":"truncate","row":null,"old":null}\n`;
    // A whole row has every column, in the order JavaScript keeps an object's keys: integer-like names
    // first. A prototype-less object takes `__proto__` as a name like any other.
    const row: Record<string, null> = Object.create(null);
    for (const { name } of relation.columns) row[name] = null;
    this.#names = Object.keys(row);
    this.#keys = this.#names.map(keyJson);
  }

  /**
   * A row as a JSON object (null: no row). for…in walks the row's own keys in the order JSON.stringify
   * would print them (JavaScript's property order: integer-like names first), and a key-only old row has
   * just its key columns, so the text is exactly what stringifying the row would give. The keys of a whole
   * row come in #names' order, and are then found by position, not looked up by name.
   */
  rowJson(row: Row | null): string {
    if (row === null) return 'null';
    const names = this.#names;
    let text = '';
    let i = 0;
    for (const name in row) {
      const key = names[i] === name ? (this.#keys[i] as readonly [string, string]) : keyJson(name);
      text += (i === 0 ? key[0] : key[1]) + valueJson(row[name] as PgValue);
      i++;
    }
    return i === 0 ? '{}' : `${text}}`;
  }
}

function keyJson(name: string): readonly [string, string] {
  const quoted = JSON.stringify(name);
  return [`{${quoted}:`, `,${quoted}:`];
}
