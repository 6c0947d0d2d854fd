import { BUILTIN_TYPE_NAMES, BUILTIN_TYPE_OIDS, type JsonValue } from '../replication/pgoutput/values.ts';

/**
 * Column declarations of a table stream: a PostgreSQL type name per column, `?` for a nullable one. The
 * row type a stream yields is computed from them, so the TypeScript type and the start-up check against the
 * server's columns come from one declaration and cannot disagree.
 */

/** The JavaScript value the decoder produces for each declarable type (see replication/pgoutput/values.ts). */
interface ColumnValues {
  bool: boolean;
  int2: number;
  int4: number;
  int8: bigint;
  float4: number;
  float8: number;
  numeric: string;
  text: string;
  varchar: string;
  uuid: string;
  json: JsonValue;
  jsonb: JsonValue;
  bytea: Buffer;
  timestamptz: Date;
}

export type ColumnType = keyof ColumnValues;
export type ColumnSpec = ColumnType | `${ColumnType}?`;
export type ColumnSpecs = Readonly<Record<string, ColumnSpec>>;

export type ColumnValue<S extends ColumnSpec> = S extends `${infer T extends ColumnType}?`
  ? ColumnValues[T] | null
  : S extends ColumnType
    ? ColumnValues[S]
    : never;

/** The typed row of a stream with columns `C`. */
export type RowOf<C extends ColumnSpecs> = { -readonly [K in keyof C]: ColumnValue<C[K]> };

/**
 * What the writer accepts for each declarable type: what node-postgres serialises to it (an int8 may come
 * as a number, a bigint or a decimal string; json as anything JSON.stringify takes, sent as JSON text).
 */
interface ColumnInputs {
  bool: boolean;
  int2: number;
  int4: number;
  int8: bigint | number | string;
  float4: number;
  float8: number;
  numeric: string | number | bigint;
  text: string;
  varchar: string;
  uuid: string;
  json: unknown;
  jsonb: unknown;
  bytea: Uint8Array;
  timestamptz: Date | string;
}

type ColumnInput<S extends ColumnSpec> = S extends `${infer T extends ColumnType}?`
  ? ColumnInputs[T] | null
  : S extends ColumnType
    ? ColumnInputs[S]
    : never;

/**
 * A row the writer inserts into a stream with columns `C`: any of its columns, typed by their declaration
 * (a misspelt column or a wrong type fails to compile). Each may be left out for the table's default; the
 * position column must be (the writer fills it in at commit, and says so if it is given).
 */
export type InputRowOf<C extends ColumnSpecs> = { -readonly [K in keyof C]?: ColumnInput<C[K]> };

/** The columns of `C` declared as int8 (not nullable): the only ones that can hold a position. */
export type PositionColumn<C extends ColumnSpecs> = {
  [K in keyof C]: C[K] extends 'int8' ? K : never;
}[keyof C] &
  string;

export function parseColumnSpec(spec: ColumnSpec): { type: ColumnType; nullable: boolean; oid: number } {
  const nullable = spec.endsWith('?');
  const type = (nullable ? spec.slice(0, -1) : spec) as ColumnType;
  const oid = BUILTIN_TYPE_OIDS.get(type);
  if (oid === undefined) throw new TypeError(`unknown column type ${JSON.stringify(spec)}`);
  return { type, nullable, oid };
}

/** A type OID as a name for error messages. */
export function typeName(oid: number): string {
  return BUILTIN_TYPE_NAMES.get(oid) ?? `type OID ${oid}`;
}
