import type {
  DeleteMessage,
  InsertMessage,
  Relation,
  Row,
  UpdateMessage,
} from '../replication/pgoutput/types.ts';
import { UNCHANGED_TOAST } from '../replication/pgoutput/values.ts';
import type { AnyStream, MessageStream, TableStream, TableUpdate } from './define.ts';
import { StreamDefinitionError, StreamSchemaError } from './errors.ts';
import { checkRelation } from './schema-check.ts';

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
  readonly #checked = new WeakMap<Relation, TableStream | null>();

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
   * StreamSchemaError when the relation does not match the declaration.
   */
  streamOf(relation: Relation): TableStream | undefined {
    let stream = this.#checked.get(relation);
    if (stream === undefined) {
      stream = this.#byTable.get(`${relation.schema}.${relation.name}`) ?? null;
      if (stream !== null) checkRelation(stream, relation);
      this.#checked.set(relation, stream);
    }
    return stream ?? undefined;
  }

  /** The stream update for a decoded change, or undefined when the table is not a stream. */
  toUpdate(change: InsertMessage | UpdateMessage | DeleteMessage): TableUpdate | undefined {
    const stream = this.streamOf(change.relation);
    if (stream === undefined) return undefined;
    switch (change.tag) {
      case 'insert':
        return {
          stream: stream.name,
          op: 'insert',
          position: positionOf(stream, change.new),
          row: change.new,
          old: null,
        };
      case 'update': {
        const old = change.old ?? change.key;
        const row = change.old === null ? change.new : withToastFrom(change.new, change.old);
        return { stream: stream.name, op: 'update', position: positionOf(stream, row), row, old };
      }
      case 'delete': {
        const old = (change.old ?? change.key) as Row;
        return { stream: stream.name, op: 'delete', position: positionOf(stream, old), row: null, old };
      }
    }
  }
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
