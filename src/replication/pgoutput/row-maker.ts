import type { Row } from './types.ts';
import type { PgValue } from './values.ts';

/** Builds a relation's row from its column values, in column order. */
export type RowMaker = (values: readonly PgValue[]) => Row;

/**
 * A function that makes a relation's rows as one object literal, compiled once per Relation message. Setting
 * the columns one by one (`row[name] = value`) is a store whose property name changes with every column,
 * which V8 can only look up in its megamorphic cache, and a row that changes shape with every column: for
 * an 8-column row about three times what the literal costs. A literal gives every row its final shape at
 * once, with fixed names.
 *
 * Undefined when a literal cannot stand for the row: a column named `__proto__` (in a literal it would set the
 * prototype, not a column) or a process that forbids code generation from strings
 * (`--disallow-code-generation-from-strings`); the parser then sets columns one by one. Names are written
 * as JSON string literals, which JavaScript reads back as the very same strings.
 */
export function rowMaker(names: readonly string[]): RowMaker | undefined {
  if (names.includes('__proto__')) return undefined;
  const fields = names.map((name, i) => `${JSON.stringify(name)}: values[${i}]`);
  try {
    return new Function('values', `'use strict'; return { ${fields.join(', ')} };`) as RowMaker;
  } catch (error) {
    if (error instanceof EvalError) return undefined; // code generation from strings is disallowed here
    throw error;
  }
}
