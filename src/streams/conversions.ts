import type { PgValue } from '../replication/pgoutput/values.ts';
import type { ColumnType } from './columns.ts';

/**
 * Values of a column whose type changed under its stream (`ALTER TABLE … ALTER COLUMN … TYPE`) to one that
 * the declared type can still represent: they are converted to what the declaration promises rather than
 * stopping the reader, but only exactly. A value that does not fit (a numeric with a fraction where int8 is
 * declared, an int8 beyond int4) is NotRepresentable, never rounded or truncated.
 *
 * The WAL a slot retains keeps the rows as they were written, in the type of that moment; a reader must
 * decode them whatever the table says today, so these conversions also let a deployment ride out a type
 * changed and changed back.
 */

/** Converts one decoded value (never null or an unchanged TOAST value: those pass as they are). */
export type Convert = (value: PgValue) => PgValue;

/** A value the declared type cannot hold exactly. */
export class NotRepresentable extends Error {}

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
const INTEGRAL = /^-?[0-9]+$/;

/** An integer (bigint) within [min, max], or NotRepresentable. */
function integral(value: PgValue, min: bigint, max: bigint, into: ColumnType): bigint {
  let n: bigint | undefined;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && INTEGRAL.test(value)) n = BigInt(value);
  if (n === undefined || n < min || n > max)
    throw new NotRepresentable(`${describe(value)} is not ${into === 'int8' ? 'an' : 'a'} ${into}`);
  return n;
}

function describe(value: PgValue): string {
  const text = typeof value === 'bigint' ? value.toString() : JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

const toInt8: Convert = (value) => integral(value, INT8_MIN, INT8_MAX, 'int8');
const toInt4: Convert = (value) => Number(integral(value, -(2n ** 31n), 2n ** 31n - 1n, 'int4'));
const toInt2: Convert = (value) => Number(integral(value, -(2n ** 15n), 2n ** 15n - 1n, 'int2'));
/** numeric is decoded as its decimal text: an integer's is what String gives. */
const toNumeric: Convert = (value) => String(value);
/** Both sides are JavaScript numbers (or strings and JSON values): the value is already the one declared. */
const same: Convert = (value) => value;

/**
 * Declared type → (the column's type now → conversion). Only conversions that keep every value the column
 * can hold, or refuse it; anything else is a schema mismatch, as before.
 */
const CONVERSIONS: ReadonlyMap<ColumnType, ReadonlyMap<string, Convert>> = new Map<
  ColumnType,
  ReadonlyMap<string, Convert>
>([
  [
    'int8',
    new Map([
      ['int2', toInt8],
      ['int4', toInt8],
      ['numeric', toInt8],
    ]),
  ],
  [
    'int4',
    new Map([
      ['int2', same],
      ['int8', toInt4],
      ['numeric', toInt4],
    ]),
  ],
  [
    'int2',
    new Map([
      ['int4', toInt2],
      ['int8', toInt2],
      ['numeric', toInt2],
    ]),
  ],
  [
    'numeric',
    new Map([
      ['int2', toNumeric],
      ['int4', toNumeric],
      ['int8', toNumeric],
    ]),
  ],
  [
    'float8',
    new Map([
      ['float4', same],
      ['int2', same],
      ['int4', same],
    ]),
  ],
  [
    'text',
    new Map([
      ['varchar', same],
      ['bpchar', same],
      ['name', same],
      ['uuid', same],
    ]),
  ],
  [
    'varchar',
    new Map([
      ['text', same],
      ['bpchar', same],
      ['name', same],
    ]),
  ],
  ['json', new Map([['jsonb', same]])],
  ['jsonb', new Map([['json', same]])],
]);

/** How values of a column now of type `actual` become the `declared` type; undefined if they cannot. */
export function conversionFor(declared: ColumnType, actual: string): Convert | undefined {
  return CONVERSIONS.get(declared)?.get(actual);
}
