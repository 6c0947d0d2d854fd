/**
 * Writing responses: JSON (bigints as strings) or text, with a Content-Length so keep-alive works without
 * chunking. The body is serialised before any header is written, so a body that cannot be serialised still
 * gets a proper 500 instead of a half-sent response.
 */
import type { ServerResponse } from 'node:http';
import type { HttpError } from './errors.ts';
import type { HandlerResult } from './router.ts';

export const JSON_CONTENT_TYPE = 'application/json';

/**
 * JSON text of a response body. Bigints (stream positions, int8 columns) become strings of digits: a JSON
 * number would lose precision beyond 2^53, and positions are opaque strings in the API anyway.
 */
export function toJsonText(body: unknown): string {
  const text = JSON.stringify(body, (_key, value) => (typeof value === 'bigint' ? value.toString() : value));
  // JSON.stringify gives undefined for undefined, functions and symbols: a handler bug, not a response.
  if (text === undefined) throw new TypeError(`response body is not JSON-serialisable (${typeof body})`);
  return text;
}

/** Writes a handler's result. `extra` headers (e.g. `Connection: close` during shutdown) are added. */
export function writeResult(
  res: ServerResponse,
  result: HandlerResult,
  extra: Record<string, string> = {},
): void {
  const status = result.status ?? 200;
  if ('text' in result) {
    send(res, status, result.contentType, result.text, { ...result.headers, ...extra });
  } else {
    // 204 and 304 must not carry a body.
    const text = status === 204 || status === 304 ? '' : toJsonText(result.body);
    send(res, status, JSON_CONTENT_TYPE, text, { ...result.headers, ...extra });
  }
}

/** Writes `{"error": CODE, "message": TEXT}` with the error's status and headers. */
export function writeError(res: ServerResponse, error: HttpError, extra: Record<string, string> = {}): void {
  send(res, error.status, JSON_CONTENT_TYPE, toJsonText(error.body), { ...error.headers, ...extra });
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  text: string,
  headers: Record<string, string>,
): void {
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType,
    'Content-Length': String(Buffer.byteLength(text, 'utf8')),
  });
  res.end(text);
}
