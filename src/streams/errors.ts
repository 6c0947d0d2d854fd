import { SlotstreamError } from '../replication/errors.ts';

/**
 * The table behind a stream does not have the columns the stream declares (or cannot say where deleted rows
 * were): the code and the schema disagree, so decoding its rows would hand out values of the wrong type.
 * Raised at start-up and whenever a Relation message announces a changed table.
 */
export class StreamSchemaError extends SlotstreamError {
  constructor(
    readonly stream: string,
    readonly table: string,
    readonly column: string | undefined,
    detail: string,
  ) {
    super(
      `stream ${JSON.stringify(stream)}: table ${table}${column === undefined ? '' : `, column ${JSON.stringify(column)}`}: ${detail}. ` +
        'Migrate the table (slotstream migrate runs your migrations) or fix the stream declaration so that they agree.',
    );
  }
}

/** Two streams declared on one table or message prefix, or a declaration that cannot work. */
export class StreamDefinitionError extends SlotstreamError {
  constructor(
    readonly stream: string,
    detail: string,
  ) {
    super(`stream ${JSON.stringify(stream)}: ${detail}`);
  }
}

/** A logical message under a stream's prefix whose content is not what that stream's writer emits. */
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

/** A client token that this version did not produce: answer the client with a 400, not a guess. */
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
