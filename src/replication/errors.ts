/**
 * Errors of the replication layer. Each says what happened and what to do; those caused by the server carry
 * its SQLSTATE (`code`) and its own message.
 */
export class SlotstreamError extends Error {
  /** SQLSTATE when the server reported the error. */
  readonly code: string | undefined;

  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code;
  }
}

/** A pgoutput message that cannot be decoded: truncated, an unknown tag, or a value of the wrong form. */
export class MalformedMessageError extends SlotstreamError {
  constructor(
    readonly tag: string,
    readonly offset: number,
    detail: string,
  ) {
    super(
      `malformed pgoutput message '${tag}' at offset ${offset}: ${detail}. ` +
        'The server sent bytes this decoder does not understand; report it with the server version.',
    );
  }
}
