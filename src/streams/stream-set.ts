import type {
  DeleteMessage,
  InsertMessage,
  Relation,
  Row,
  UpdateMessage,
} from '../replication/pgoutput/types.ts';
import { UNCHANGED_TOAST } from '../replication/pgoutput/values.ts';
import { NotRepresentable } from './conversions.ts';
import type { AnyStream, MessageStream, TableStream, TableUpdate } from './define.ts';
import { type ColumnConversionWarning, StreamDefinitionError, StreamSchemaError } from './errors.ts';
import { type ColumnConversion, checkRelation } from './schema-check.ts';

/** A relation's stream, and the conversions its rows need to match the declaration. */
interface Checked {
  stream: TableStream;
  conversions: readonly ColumnConversion[];
}

/** Told once per Relation message that brings a column of another type than declared, but convertible. */
export type ConversionWarn = (warning: ColumnConversionWarning) => void;

/**
 * The streams one process knows, found by table or by message prefix, and the translation of decoded
 * changes into table-stream updates. Each Relation is checked against its stream once (the parser hands out
 * the same Relation object until the table changes, when a new Relation message brings a new one).
 * The constructor throws StreamDefinitionError for a name, table or message prefix declared twice.
 *
 * @example
 * ```ts
 * import { StreamReader, StreamSet } from 'slotstream';
 * const streams = new StreamSet([todos]); // every stream this reader follows, message streams included
 * const reader = await StreamReader.start({ connectionString, slot: 'reader_1', streams });
 * ```
 */
export class StreamSet {
  readonly streams: readonly AnyStream[];
  readonly #byTable = new Map<string, TableStream>();
  readonly #byPrefix = new Map<string, MessageStream>();
  readonly #byName = new Map<string, TableStream>();
  /** Relations already checked, with their stream (null: a published table that is no stream). */
  readonly #checked = new WeakMap<Relation, Checked | null>();

  constructor(streams: readonly AnyStream[]) {
    this.streams = streams;
    const names = new Set<string>();
    for (const stream of streams) {
      if (names.has(stream.name)) throw new StreamDefinitionError(stream.name, 'declared twice');
      names.add(stream.name);
      if (stream.kind === 'table') {
        if (this.#byTable.has(stream.qualifiedName)) {
          throw new StreamDefinitionError(
            stream.name,
            `table ${stream.qualifiedName} already backs another stream`,
          );
        }
        this.#byTable.set(stream.qualifiedName, stream);
        this.#byName.set(stream.name, stream);
      } else {
        if (this.#byPrefix.has(stream.prefix)) {
          throw new StreamDefinitionError(
            stream.name,
            `prefix ${stream.prefix} already belongs to another stream`,
          );
        }
        this.#byPrefix.set(stream.prefix, stream);
      }
    }
  }

  /** The table streams, in declaration order. */
  get tables(): TableStream[] {
    return [...this.#byTable.values()];
  }

  /** The table stream named `name`. */
  table(name: string): TableStream | undefined {
    return this.#byName.get(name);
  }

  /** The message stream of logical-message prefix `prefix`. */
  byPrefix(prefix: string): MessageStream | undefined {
    return this.#byPrefix.get(prefix);
  }

  /**
   * The stream behind a relation, checked against it on first sight; undefined for other tables. Throws
   * StreamSchemaError when the relation does not match the declaration; a column whose values the declared
   * type can still hold is converted (see checkRelation), and `warn` hears of it on first sight.
   */
  streamOf(relation: Relation, warn?: ConversionWarn): TableStream | undefined {
    return this.#check(relation, warn)?.stream;
  }

  /**
   * The stream update for a decoded change, or undefined when the table is not a stream. Its rows have the
   * declared types: values of a converted column are converted, or StreamSchemaError if one does not fit.
   */
  toUpdate(
    change: InsertMessage | UpdateMessage | DeleteMessage,
    warn?: ConversionWarn,
  ): TableUpdate | undefined {
    const checked = this.#check(change.relation, warn);
    if (checked === null) return undefined;
    const { stream, conversions } = checked;
    switch (change.tag) {
      case 'insert': {
        const row = converted(change.new, conversions);
        return { stream: stream.name, op: 'insert', position: positionOf(stream, row), row, old: null };
      }
      case 'update': {
        const old = converted(change.old ?? change.key, conversions);
        const now = converted(change.new, conversions);
        const row = change.old === null ? now : withToastFrom(now, old as Row);
        return { stream: stream.name, op: 'update', position: positionOf(stream, row), row, old };
      }
      case 'delete': {
        const old = converted((change.old ?? change.key) as Row, conversions);
        return { stream: stream.name, op: 'delete', position: positionOf(stream, old), row: null, old };
      }
    }
  }

  #check(relation: Relation, warn: ConversionWarn | undefined): Checked | null {
    let checked = this.#checked.get(relation);
    if (checked === undefined) {
      const stream = this.#byTable.get(`${relation.schema}.${relation.name}`);
      checked = stream === undefined ? null : { stream, conversions: checkRelation(stream, relation) };
      this.#checked.set(relation, checked);
      for (const conversion of checked?.conversions ?? []) warn?.(conversion.warning);
    }
    return checked;
  }
}

/** `row` (a fresh object of the decoder's) with the converted columns' values converted in place. */
function converted<R extends Row | null>(row: R, conversions: readonly ColumnConversion[]): R {
  if (row === null) return row;
  for (const { column, convert, declared, actual, warning } of conversions) {
    const value = row[column];
    if (value === undefined || value === null || value === UNCHANGED_TOAST) continue;
    try {
      row[column] = convert(value) as Row[string];
    } catch (error) {
      if (!(error instanceof NotRepresentable)) throw error;
      throw new StreamSchemaError(
        warning.stream,
        warning.table,
        column,
        `a value of the column, now ${actual}, that ${declared} cannot hold: ${error.message}`,
      );
    }
  }
  return row;
}

function positionOf(stream: TableStream, row: Row): bigint {
  const value = row[stream.position];
  if (typeof value !== 'bigint') {
    throw new StreamSchemaError(
      stream.name,
      stream.qualifiedName,
      stream.position,
      `a change carried ${value === null ? 'NULL' : typeof value} as its position; positions must be NOT NULL int8`,
    );
  }
  return value;
}

/**
 * An update's new row with its unchanged TOASTed values taken from the old row: under REPLICA IDENTITY FULL
 * the server sends the old row whole, so a consumer never has to deal with UNCHANGED_TOAST.
 */
function withToastFrom(row: Row, old: Row): Row {
  let filled: Row | undefined;
  for (const name in row) {
    if (row[name] !== UNCHANGED_TOAST) continue;
    filled ??= { ...row };
    filled[name] = old[name] as Row[string];
  }
  return filled ?? row;
}
