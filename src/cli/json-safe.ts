/**
 * Decoded column values (see pgoutput/values.ts) as JSON text that loses nothing, for `slotstream tail`,
 * `slots peek` and anything else that prints changes:
 *
 * | decoded value            | JSON                                                             |
 * |--------------------------|------------------------------------------------------------------|
 * | bigint (int8)            | string of digits: a JSON number would round beyond 2^53          |
 * | numeric                  | already a string, kept exactly as PostgreSQL printed it          |
 * | Buffer (bytea)           | `\x` + lower-case hex, PostgreSQL's own bytea_output = hex form  |
 * | Date (timestamp[tz])     | ISO 8601 string in UTC (`toISOString`)                           |
 * | NaN, ±Infinity (floats)  | the strings 'NaN', 'Infinity', '-Infinity' (JSON has no such number) |
 * | UNCHANGED_TOAST          | `{"$unchanged_toast":true}`                                      |
 * | arrays                   | arrays, element by element                                       |
 * | json/jsonb values        | as they are: they came from JSON.parse                           |
 *
 * JSON text rather than JSON-ready values: a change line is built as one string, which spares an object per
 * row that would only be stringified again.
 */
import type { PgValue } from '../replication/pgoutput/index.ts';
import { UnchangedToast } from '../replication/pgoutput/index.ts';

const UNCHANGED_TOAST_JSON = '{"$unchanged_toast":true}';

/** One decoded value as JSON text. */
export function valueJson(value: PgValue): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return stringJson(value);
    case 'bigint':
      return `"${value}"`;
    case 'number':
      return Number.isFinite(value) ? `${value}` : `"${value}"`;
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      break;
  }
  if (value instanceof Date) return dateJson(value);
  if (Buffer.isBuffer(value)) return JSON.stringify(byteaHex(value));
  if (value instanceof UnchangedToast) return UNCHANGED_TOAST_JSON;
  if (Array.isArray(value)) return `[${value.map((v) => valueJson(v as PgValue)).join(',')}]`;
  // A json/jsonb object: parsed from JSON, so JSON.stringify gives it back as it was.
  return JSON.stringify(value);
}

/** Longer strings go to JSON.stringify at once: its call costs little next to its scan, the faster. */
const SHORT_STRING = 64;

/**
 * A string as JSON.stringify prints it. JSON.stringify is a call into the runtime that costs, for the short
 * strings of most columns, several times what checking them here does; most need no escape, and one that
 * may (a quote, a backslash, a control character, a surrogate, paired or not) is left to JSON.stringify.
 */
function stringJson(text: string): string {
  if (text.length > SHORT_STRING) return JSON.stringify(text);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/** The minute the last date printed fell in: its first millisecond, and how toISOString begins it. */
let minuteStart = Number.NaN;
let minuteText = ''; // `2026-11-30T10:00:`

/**
 * A date as JSON: toISOString's text, or null for an invalid date. toISOString is slow (a good part of what
 * a whole line costs), and the dates of consecutive changes mostly share their minute: for those, only the
 * seconds and milliseconds are made anew.
 */
function dateJson(date: Date): string {
  const ms = date.getTime();
  if (Number.isNaN(ms)) return 'null';
  const inMinute = ms - Math.floor(ms / 60_000) * 60_000;
  if (ms - inMinute !== minuteStart) {
    minuteStart = ms - inMinute;
    // Years beyond 9999 (or before 0) make the beginning longer; the seconds' part is the same.
    minuteText = date.toISOString().slice(0, -'00.000Z'.length);
  }
  const seconds = Math.floor(inMinute / 1000);
  const millis = inMinute % 1000;
  return `"${minuteText}${seconds < 10 ? '0' : ''}${seconds}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z"`;
}

/** bytes in PostgreSQL's hex form, `\x0a1b`. */
export function byteaHex(bytes: Uint8Array): string {
  return `\\x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A logical message's content: its text when the bytes are valid UTF-8 (the usual case: JSON payloads),
 * else `\x` hex. The two forms can only be confused when valid text itself starts with `\x`; a consumer that
 * sends binary payloads should give them a prefix of their own and read the hex form.
 */
export function messageContent(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return byteaHex(bytes);
  }
}
