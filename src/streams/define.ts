import type { Row } from '../replication/pgoutput/types.ts';
import type { ColumnSpecs, PositionColumn, RowOf } from './columns.ts';
import { parseColumnSpec } from './columns.ts';
import { StreamDefinitionError } from './errors.ts';

/**
 * Stream declarations. A *table stream* is a published table whose rows carry the position the writer
 * allocated for them; a *message stream* lives only in the WAL as `pg_logical_emit_message` messages under a
 * prefix (transactional ones are part of their transaction's batch; non-transactional ones are decoded on
 * their own, at once, and never stored).
 */

/** One change of a table stream. `position` is the row's own position column (of `old` for a delete). */
export type TableUpdate<R = Row> =
  | { stream: string; op: 'insert'; position: bigint; row: R; old: null }
  /** `old` is the whole old row under REPLICA IDENTITY FULL, its key columns when the key changed, else null. */
  | { stream: string; op: 'update'; position: bigint; row: R; old: Partial<R> | null }
  | { stream: string; op: 'delete'; position: bigint; row: null; old: Partial<R> }
  /** Every row is gone; `position` is the reader's position before the transaction (no row says more). */
  | { stream: string; op: 'truncate'; position: bigint; row: null; old: null };

/**
 * A change that carries a row (its new row, or the old one of a delete): what `keys` functions and cache
 * rules see. A truncate has no row; it wakes every waiter and clears the stream's caches instead.
 */
export type RowUpdate<R = Row> = Exclude<TableUpdate<R>, { op: 'truncate' }>;

/**
 * One logical message of a message stream. `position`: for a transactional stream, the reader's position
 * before the transaction; for a non-transactional one, the message's LSN (the ephemeral position space,
 * which every reader agrees on because it is the WAL's).
 */
export interface MessageUpdate<M = unknown> {
  stream: string;
  op: 'message';
  position: bigint;
  row: M;
  old: null;
}

/** What a transaction did to a stream, in commit order: `{stream, position, op, row, old}`. */
export type StreamUpdate = TableUpdate | MessageUpdate;

export interface TableStream<C extends ColumnSpecs = ColumnSpecs> {
  readonly kind: 'table';
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  /** `schema.table`, as error messages and pg_publication_tables spell it. */
  readonly qualifiedName: string;
  readonly position: string;
  readonly columns: C;
  /** The notifier keys an update touches (a room id, a user id): who should be woken by it. */
  readonly keys: (update: RowUpdate) => Iterable<string>;
  /** Narrows a StreamUpdate to this stream's typed updates. */
  is(update: StreamUpdate): update is TableUpdate<RowOf<C>>;
}

export interface MessageStream<M = unknown> {
  readonly kind: 'message';
  readonly name: string;
  readonly prefix: string;
  readonly transactional: boolean;
  // Methods, not function properties: a MessageStream<TypingRow> must also be usable as a MessageStream.
  /** Decodes a message's content; throws StreamMessageError when it is not what `encode` writes. */
  parse(content: Buffer): M;
  encode(row: M): string;
  keys(row: M): Iterable<string>;
  is(update: StreamUpdate): update is MessageUpdate<M>;
}

export type AnyStream = TableStream | MessageStream;

export interface TableStreamOptions<C extends ColumnSpecs> {
  name: string;
  /** Default `public`. */
  schema?: string;
  /** Default: the stream's name. */
  table?: string;
  /** The int8 column holding the row's position. */
  position: PositionColumn<C>;
  columns: C;
  keys?: (update: RowUpdate<RowOf<C>>) => Iterable<string>;
}

const NO_KEYS = (): Iterable<string> => [];

/**
 * Declares a table stream: a published table whose rows carry the position the writer allocates, in the
 * `position` column (declared 'int8'). `columns` give the row type and are checked against the table when a
 * reader starts; `keys` names whom a change concerns (the waiters to wake). Throws StreamDefinitionError
 * for an empty name, an unknown column type (which only untyped JavaScript can pass) or a position column
 * not declared 'int8'.
 *
 * @example
 * ```ts
 * import { tableStream } from 'slotstream';
 * export const todos = tableStream({
 *   name: 'todos', position: 'position',
 *   columns: { id: 'text', owner: 'text', title: 'text', done: 'bool', position: 'int8' },
 *   keys: (u) => { const row = u.row ?? u.old; return row.owner === undefined ? [] : [row.owner]; },
 * });
 * ```
 */
export function tableStream<const C extends ColumnSpecs>(options: TableStreamOptions<C>): TableStream<C> {
  const { name, position, columns } = options;
  const schema = options.schema ?? 'public';
  const table = options.table ?? name;
  if (name === '') throw new StreamDefinitionError(name, 'a stream needs a name');
  for (const [column, spec] of Object.entries(columns)) {
    try {
      parseColumnSpec(spec);
    } catch (error) {
      // Only untyped JavaScript gets here: the declaration names a type slotstream cannot decode.
      throw new StreamDefinitionError(name, `column ${JSON.stringify(column)}: ${(error as Error).message}`);
    }
  }
  if (columns[position] !== 'int8') {
    throw new StreamDefinitionError(
      name,
      `position column ${JSON.stringify(position)} must be declared 'int8'`,
    );
  }
  return {
    kind: 'table',
    name,
    schema,
    table,
    qualifiedName: `${schema}.${table}`,
    position,
    columns,
    // Rows reach it as decoded, which the schema check has matched to `columns`.
    keys: (options.keys as ((update: RowUpdate) => Iterable<string>) | undefined) ?? NO_KEYS,
    is: (update): update is TableUpdate<RowOf<C>> => update.stream === name && update.op !== 'message',
  };
}

export interface MessageStreamOptions<M> {
  name: string;
  prefix: string;
  transactional: boolean;
  parse: (content: Buffer) => M;
  encode: (row: M) => string;
  keys?: (row: M) => Iterable<string>;
}

/**
 * Declares a message stream: rows that live only in the WAL, as logical messages under `prefix`, encoded by
 * `encode` and decoded by readers with `parse` (which throws StreamMessageError for content `encode` would
 * not write). A non-transactional stream's rows are written with `StreamWriter.emitEphemeral`. Throws
 * StreamDefinitionError for an empty name or prefix.
 *
 * @example
 * ```ts
 * import { messageStream } from 'slotstream';
 * type Typing = { room_id: string; user_id: string; typing: boolean };
 * export const typing = messageStream<Typing>({
 *   name: 'typing', prefix: 'app.typing', transactional: false,
 *   parse: (content) => JSON.parse(content.toString('utf8')) as Typing, // check it in real code
 *   encode: (row) => JSON.stringify(row),
 *   keys: (row) => [row.room_id],
 * });
 * ```
 */
export function messageStream<M>(options: MessageStreamOptions<M>): MessageStream<M> {
  const { name, prefix } = options;
  if (name === '') throw new StreamDefinitionError(name, 'a stream needs a name');
  if (prefix === '') throw new StreamDefinitionError(name, 'a message stream needs a prefix');
  return {
    kind: 'message',
    name,
    prefix,
    transactional: options.transactional,
    parse: options.parse,
    encode: options.encode,
    keys: options.keys ?? NO_KEYS,
    is: (update): update is MessageUpdate<M> => update.stream === name && update.op === 'message',
  };
}
