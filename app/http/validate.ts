/**
 * Validators for request input. Each returns the value with its proper type or throws HttpError(400) naming
 * the field and what is wrong with it. Where the value came from decides the code: a path or query
 * parameter is M_INVALID_PARAM, a field of the JSON body is M_BAD_JSON.
 *
 * Identifier grammar (Matrix-like; every id is at most 255 bytes, as in Matrix):
 *
 * | id       | form               | allowed characters                                                   |
 * |----------|--------------------|----------------------------------------------------------------------|
 * | user     | `@localpart:server` | localpart `[a-z0-9._=\-/+]`, Matrix's user-id grammar                |
 * | room     | `!opaque:server`   | opaque: printable ASCII (0x21–0x7E) except `:` and `/`              |
 * | event    | `$opaque`          | opaque: printable ASCII (0x21–0x7E) except `/` (so `$x:server` too) |
 * | server   | host[:port]        | DNS name `[A-Za-z0-9.-]`, IPv4, or `[IPv6]`; port 1–5 digits          |
 *
 * `/` is kept out of the opaque parts because the ids travel in URL paths, where an encoded slash is easily
 * mangled by proxies; user localparts keep it because Matrix allows it there (clients percent-encode it).
 * In query strings, remember that `+` means a space: clients must encode it (URLSearchParams does).
 */
import { badJson, type HttpError, invalidParam } from './errors.ts';

/** Where a value came from: the path or query string, or the JSON body. */
export type Source = 'param' | 'body';

/** Matrix's limit for user, room and event ids and for event types. */
export const MAX_ID_BYTES = 255;

/** Bounds of `timeout` query parameters, in milliseconds (five minutes at most). */
export const TIMEOUT_BOUNDS = { min: 0, max: 300_000 } as const;

/** Bounds of `limit` query parameters. */
export const LIMIT_BOUNDS = { min: 1, max: 1000 } as const;

const SERVER_NAME = String.raw`(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?`;
const USER_ID = new RegExp(String.raw`^@[a-z0-9._=\-/+]+:${SERVER_NAME}$`);
const ROOM_ID = new RegExp(String.raw`^![\x21-\x2E\x30-\x39\x3B-\x7E]+:${SERVER_NAME}$`);
const EVENT_ID = /^\$[\x21-\x2E\x30-\x7E]+$/;
const TXN_ID = /^[\x21-\x7E]+$/;
/** Control characters (C0, DEL, C1) and lone surrogates (not encodable as UTF-8). */
const CONTROL_OR_LONE_SURROGATE = /\p{Cc}|\p{Cs}/u;

function fail(source: Source, message: string): HttpError {
  return source === 'param' ? invalidParam(message) : badJson(message);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function checkId(value: unknown, field: string, source: Source, pattern: RegExp, form: string): string {
  if (typeof value !== 'string')
    throw fail(source, `${field} must be a ${form} string, got ${describe(value)}`);
  // The patterns admit ASCII only, so the length in characters is the length in bytes.
  if (value.length > MAX_ID_BYTES)
    throw fail(source, `${field} is ${value.length} bytes long; ids are at most ${MAX_ID_BYTES} bytes`);
  if (!pattern.test(value)) throw fail(source, `${field} must be a ${form}, got ${JSON.stringify(value)}`);
  return value;
}

/** `@localpart:server`, localpart of `a-z 0-9 . _ = - / +`. */
export function validateUserId(value: unknown, field: string, source: Source = 'param'): string {
  return checkId(value, field, source, USER_ID, 'user id (@localpart:server)');
}

/** `!opaque:server`. */
export function validateRoomId(value: unknown, field: string, source: Source = 'param'): string {
  return checkId(value, field, source, ROOM_ID, 'room id (!opaque:server)');
}

/** A client's transaction id: printable ASCII without spaces, as it sits in a path. */
export function validateTxnId(value: unknown, field: string, source: Source = 'param'): string {
  return checkId(value, field, source, TXN_ID, 'transaction id (printable ASCII)');
}

/** `$opaque`. */
export function validateEventId(value: unknown, field: string, source: Source = 'param'): string {
  return checkId(value, field, source, EVENT_ID, 'event id ($opaque)');
}

/** An event or account-data type: non-empty, at most 255 bytes of UTF-8, no control characters. */
export function validateEventType(value: unknown, field: string, source: Source = 'param'): string {
  if (typeof value !== 'string') throw fail(source, `${field} must be a string, got ${describe(value)}`);
  if (value === '') throw fail(source, `${field} must not be empty`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_ID_BYTES)
    throw fail(source, `${field} is ${bytes} bytes long; types are at most ${MAX_ID_BYTES} bytes`);
  if (CONTROL_OR_LONE_SURROGATE.test(value))
    throw fail(source, `${field} must not contain control characters, got ${JSON.stringify(value)}`);
  return value;
}

/** The value as a JSON object (not null, not an array), e.g. the whole body or an event's `content`. */
export function requireObject(value: unknown, field = 'request body'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badJson(`${field} must be a JSON object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

/**
 * `obj[field]` as a string of at most `maxLength` UTF-16 code units (JavaScript's `length`). NUL is refused
 * whatever the options: PostgreSQL text and jsonb cannot store it, so it would fail later as a 500.
 */
export function requireString(
  obj: Record<string, unknown>,
  field: string,
  options: { maxLength?: number; allowEmpty?: boolean } = {},
): string {
  const value = obj[field];
  if (typeof value !== 'string') throw badJson(`${field} must be a string, got ${describe(value)}`);
  if (value === '' && !options.allowEmpty) throw badJson(`${field} must not be empty`);
  if (options.maxLength !== undefined && value.length > options.maxLength)
    throw badJson(`${field} is ${value.length} characters long; at most ${options.maxLength} are allowed`);
  if (value.includes('\0')) throw badJson(`${field} must not contain NUL (\\u0000)`);
  return value;
}

/** `obj[field]` as a boolean (no coercion: `"true"` and `1` are refused). */
export function requireBoolean(obj: Record<string, unknown>, field: string): boolean {
  const value = obj[field];
  if (typeof value !== 'boolean') throw badJson(`${field} must be true or false, got ${describe(value)}`);
  return value;
}

/** `obj[field]` as an integer within the bounds, or `undefined` when the field is absent. */
export function optionalInteger(
  obj: Record<string, unknown>,
  field: string,
  bounds: { min: number; max: number },
): number | undefined {
  const value = obj[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw badJson(`${field} must be an integer, got ${describe(value)}`);
  if (value < bounds.min || value > bounds.max)
    throw badJson(`${field} must be between ${bounds.min} and ${bounds.max}, got ${value}`);
  return value;
}

/** The query parameter given once, or `undefined`; a parameter given twice is ambiguous and refused. */
export function queryString(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw invalidParam(`query parameter ${name} is given ${values.length} times`);
  return values[0];
}

/** A query parameter that must be present. */
export function requireQueryString(query: URLSearchParams, name: string): string {
  const value = queryString(query, name);
  if (value === undefined) throw invalidParam(`query parameter ${name} is required`);
  return value;
}

/**
 * An optional integer query parameter within the bounds (`TIMEOUT_BOUNDS`, `LIMIT_BOUNDS`), else
 * `fallback`. Decimal digits only: `1e3`, `0x10`, `+5`, `1.0` and an empty value are refused rather than
 * guessed at.
 */
export function queryInteger(
  query: URLSearchParams,
  name: string,
  bounds: { min: number; max: number },
  fallback?: number,
): number | undefined {
  const raw = queryString(query, name);
  if (raw === undefined) return fallback;
  if (!/^-?[0-9]{1,16}$/.test(raw))
    throw invalidParam(`query parameter ${name} must be an integer, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (value < bounds.min || value > bounds.max)
    throw invalidParam(`query parameter ${name} must be between ${bounds.min} and ${bounds.max}, got ${raw}`);
  return value;
}
