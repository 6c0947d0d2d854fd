/**
 * Decoded column values (see pgoutput/values.ts) as values JSON can carry without losing anything, for
 * `slotstream tail`, `slots peek` and anything else that prints changes:
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
 */
import type { JsonValue, PgValue, Row } from '../replication/pgoutput/index.ts';
import { UnchangedToast } from '../replication/pgoutput/index.ts';

export const UNCHANGED_TOAST_JSON: { $unchanged_toast: true } = Object.freeze({ $unchanged_toast: true });

export function jsonSafe(value: PgValue): JsonValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    default:
      break;
  }
  if (Buffer.isBuffer(value)) return byteaHex(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof UnchangedToast) return UNCHANGED_TOAST_JSON;
  if (Array.isArray(value)) return value.map((v) => jsonSafe(v as PgValue));
  // A json/jsonb object: parsed from JSON, so already JSON-safe.
  return value as JsonValue;
}

/** A row with every value made JSON-safe; null stays null (no old row). */
export function jsonSafeRow(row: Row | null): Record<string, JsonValue> | null {
  if (row === null) return null;
  const out: Record<string, JsonValue> = {};
  for (const [name, value] of Object.entries(row)) out[name] = jsonSafe(value);
  return out;
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
