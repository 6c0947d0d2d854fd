import { isDatabaseUnavailable, NotifierClosedError, UnconfirmedWriteError } from 'slotstream';

/**
 * Errors the reference application answers with. Every error response has the body
 * `{"error": CODE, "message": TEXT}` (docs/http-api.md); the codes are
 * Matrix-style so a client can branch on them without parsing the message.
 */

/** The codes this layer produces; handlers may use others (an `HttpError` takes any string). */
export type HttpErrorCode =
  | 'M_NOT_FOUND'
  | 'M_UNRECOGNIZED'
  | 'M_NOT_JSON'
  | 'M_BAD_JSON'
  | 'M_TOO_LARGE'
  | 'M_INVALID_PARAM'
  | 'M_UNAVAILABLE'
  | 'M_UNKNOWN';

/** The JSON body of every error response. */
export interface ErrorBody {
  error: string;
  message: string;
}

/** An error with the HTTP status, code and message the client gets. Throw it from a handler. */
export class HttpError extends Error {
  /** Extra response headers: `Allow` on a 405, `Connection: close` when the socket must not be reused. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly status: number,
    // `string & {}` keeps editor completion for the known codes while accepting any other.
    readonly code: HttpErrorCode | (string & {}),
    message: string,
    options?: { headers?: Record<string, string>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.headers = { ...options?.headers };
  }

  get body(): ErrorBody {
    return { error: this.code, message: this.message };
  }
}

/** No route has this path. */
export function notFound(path: string): HttpError {
  return new HttpError(404, 'M_NOT_FOUND', `no such endpoint: ${path}`);
}

/** The path exists but not for this method; `Allow` lists the methods that do. */
export function methodNotAllowed(method: string, path: string, allowed: readonly string[]): HttpError {
  const allow = [...allowed].sort().join(', ');
  return new HttpError(405, 'M_UNRECOGNIZED', `${method} is not supported on ${path}; use ${allow}`, {
    headers: { Allow: allow },
  });
}

/** The body is not JSON at all: empty, not UTF-8, or a syntax error. */
export function notJson(message: string): HttpError {
  return new HttpError(400, 'M_NOT_JSON', message);
}

/** The body is JSON but not of the shape the endpoint takes. */
export function badJson(message: string): HttpError {
  return new HttpError(400, 'M_BAD_JSON', message);
}

/**
 * The body is over the limit. 400, not 413: the project's contract says so. `Connection: close` because
 * the rest of the upload is never read: the socket cannot carry another request.
 */
export function tooLarge(limit: number): HttpError {
  return new HttpError(400, 'M_TOO_LARGE', `request body is larger than ${limit} bytes`, {
    headers: { Connection: 'close' },
  });
}

/** A path or query parameter that is malformed or out of range. */
export function invalidParam(message: string): HttpError {
  return new HttpError(400, 'M_INVALID_PARAM', message);
}

/**
 * Why a request's `signal` aborted: the client went away before its answer was sent, or the server is
 * shutting down. Long-polls that pass the signal on (the notifier rejects with `signal.reason`) end with
 * this error, which the server recognises and does not report as a failure.
 */
export class RequestAbortedError extends Error {
  constructor(readonly why: 'client-closed' | 'shutdown') {
    super(
      why === 'client-closed'
        ? 'the client closed the connection before the response was sent'
        : 'the server is shutting down; retry the request (another reader can answer it)',
    );
    this.name = 'RequestAbortedError';
  }
}

/**
 * The error response for anything a handler threw. HttpErrors are answered as they are. A shutdown abort, or
 * a wait ended because the reader stopped, is 503 so the client retries elsewhere; so is a database that is
 * unavailable (down, restarting, failing over), with Retry-After, and a write that committed but whose flush
 * could not be confirmed (retrying with the same transaction id gives the first result, or writes it again if
 * it was lost). Anything else is a bug: 500 M_UNKNOWN. None of them carries the error's own text (a driver's
 * message can hold SQL): that, the stack and the cause go to the log.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  // The reader stopped under a waiting request: another reader can answer it.
  if ((err instanceof RequestAbortedError && err.why === 'shutdown') || err instanceof NotifierClosedError) {
    return new HttpError(503, 'M_UNKNOWN', err.message, {
      headers: { Connection: 'close', 'Retry-After': '0' },
      cause: err,
    });
  }
  if (err instanceof UnconfirmedWriteError)
    return new HttpError(
      503,
      'M_UNAVAILABLE',
      `the write committed at position ${err.position} but could not be confirmed durable: retry it (with the same transaction id, a retry returns it if it is there)`,
      { headers: { 'Retry-After': '1' }, cause: err },
    );
  if (isDatabaseUnavailable(err))
    return new HttpError(503, 'M_UNAVAILABLE', 'the database is unavailable: retry shortly', {
      headers: { 'Retry-After': '1' },
      cause: err,
    });
  return new HttpError(500, 'M_UNKNOWN', 'internal server error', { cause: err });
}
