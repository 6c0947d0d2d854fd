import { SlotstreamError } from '../replication/errors.ts';

/**
 * The table behind a stream does not have the columns the stream declares (or cannot say where deleted rows
 * were): the code and the schema disagree, so decoding its rows would hand out values of the wrong type.
 * Raised at start-up and whenever a Relation message announces a changed table.
 *
 * @example
 * ```ts
 * import { StreamReader, StreamSchemaError } from 'slotstream';
 * await StreamReader.start({ connectionString, slot: 'reader_1', streams }).catch((error: unknown) => {
 *   if (error instanceof StreamSchemaError) console.error(`${error.table}, ${error.column}: migrate first`);
 *   throw error; // later, a changed table rejects `reader.done` with it
 * });
 * ```
 */
export class StreamSchemaError extends SlotstreamError {
  constructor(
    readonly stream: string,
    readonly table: string,
    readonly column: string | undefined,
    /** What differs, without the names and the advice. */
    readonly detail: string,
  ) {
    super(
      `stream ${JSON.stringify(stream)}: table ${table}${column === undefined ? '' : `, column ${JSON.stringify(column)}`}: ${detail}. ` +
        'Migrate the table (slotstream migrate runs your migrations) or fix the stream declaration so that they agree.',
    );
  }
}

/**
 * A reader stopped on a change in its slot that does not fit its declared streams (the cause: a column's
 * type changed to one its declaration cannot hold, a column dropped, …). The slot keeps the change and
 * delivers it again on every start, even after the table is changed back (the WAL holds the rows as they
 * were written), so the message gives the way past it.
 */
export class SchemaChangeError extends SlotstreamError {
  constructor(
    readonly slot: string,
    /** The commit LSN of the transaction holding the change, as PostgreSQL prints LSNs. */
    readonly lsn: string,
    readonly xid: number | undefined,
    override readonly cause: StreamSchemaError,
  ) {
    super(
      `${cause.message} The change is in the transaction${xid === undefined ? '' : ` ${xid}`} that committed at ` +
        `WAL position ${lsn}, which slot "${slot}" delivers again on every ` +
        `start. To go past it, drop what the slot still holds: \`slotstream slots reset ${slot}\` (a new slot at ` +
        'the current position: the reader starts afresh there, and its clients resync).',
      { cause },
    );
  }
}

/**
 * Not an error: a warning (to a reader's `onWarning`) that a stream table's column changed type to one whose
 * values the declared type still holds exactly, so they are converted as they are decoded. A value that does
 * not fit stops the reader with StreamSchemaError.
 */
export class ColumnConversionWarning extends SlotstreamError {
  constructor(
    readonly stream: string,
    readonly table: string,
    readonly column: string,
    readonly declared: string,
    readonly actual: string,
  ) {
    super(
      `stream ${JSON.stringify(stream)}: table ${table}, column ${JSON.stringify(column)} is ${actual}, declared ` +
        `${declared}: its values are converted to ${declared} exactly, and one that ${declared} cannot hold ` +
        `would stop the reader. Declare the column as ${actual}, or migrate it back to ${declared}.`,
    );
  }
}

/**
 * Two streams declared on one table or message prefix, or a declaration that cannot work.
 *
 * @example
 * ```ts
 * import { StreamSet } from 'slotstream';
 * new StreamSet([todos, todos]); // throws StreamDefinitionError: stream "todos": declared twice
 * ```
 */
export class StreamDefinitionError extends SlotstreamError {
  constructor(
    readonly stream: string,
    detail: string,
  ) {
    super(`stream ${JSON.stringify(stream)}: ${detail}`);
  }
}

/**
 * A logical message under a stream's prefix whose content is not what that stream's writer emits. Throw it
 * from a message stream's `parse`: the reader reports it to `onWarning` and skips the message.
 *
 * @example
 * ```ts
 * import { StreamMessageError } from 'slotstream';
 * const parse = (content: Buffer): { room_id: string } => {
 *   const row = JSON.parse(content.toString('utf8')) as { room_id?: unknown };
 *   if (typeof row.room_id !== 'string') throw new StreamMessageError('typing', 'app.typing', 'no room_id');
 *   return { room_id: row.room_id };
 * };
 * ```
 */
export class StreamMessageError extends SlotstreamError {
  constructor(
    readonly stream: string,
    readonly prefix: string,
    detail: string,
  ) {
    super(
      `stream ${JSON.stringify(stream)}: malformed logical message under prefix ${JSON.stringify(prefix)}: ${detail}`,
    );
  }
}

/**
 * A client token that this version did not produce: answer the client with a 400, not a guess. Thrown by
 * `decodeToken` and `decodePosition`; the message quotes the client's text.
 *
 * @example
 * ```ts
 * import { decodeToken } from 'slotstream';
 * decodeToken('s12'); // throws InvalidTokenError: expected s<position>_<ephemeral>
 * ```
 */
export class InvalidTokenError extends SlotstreamError {
  constructor(
    readonly token: string,
    detail: string,
  ) {
    super(
      `invalid stream token ${JSON.stringify(token.length > 80 ? `${token.slice(0, 80)}…` : token)}: ${detail}`,
    );
  }
}
