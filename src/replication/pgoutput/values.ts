/**
 * Text-format column values (TupleData kind 't') decoded by type OID.
 *
 * A decoder is chosen once per column when a Relation message arrives (`decoderFor`); decoding a row is then
 * one indexed call per column over a slice of the message buffer, with no per-row table building, no
 * closures and, for integers and booleans, no intermediate string.
 *
 * | type                                   | JavaScript value                                              |
 * |----------------------------------------|---------------------------------------------------------------|
 * | bool                                   | boolean                                                       |
 * | int2, int4, oid                        | number                                                        |
 * | int8                                   | bigint (exact)                                                |
 * | float4, float8                         | number (NaN, Infinity, -Infinity included)                    |
 * | numeric                                | string, exactly as PostgreSQL prints it ('NaN', 'Infinity')   |
 * | text, varchar, bpchar, name, "char",   | string (bpchar keeps its padding); a domain whose Type        |
 * |                                        | message names a built-in base type decodes as that type       |
 * | uuid, and every other type (enums,     |                                                               |
 * | domains, interval, inet, …)            |                                                               |
 * | json, jsonb                            | the parsed JSON value                                         |
 * | bytea                                  | Buffer (hex form `\x…`; the escape form is decoded too)       |
 * | date                                   | string 'YYYY-MM-DD' as printed ('infinity', '0044-03-15 BC')  |
 * | timestamp                              | Date, the wall-clock time read as UTC (ms precision: the      |
 * |                                        | microseconds beyond the millisecond are dropped)              |
 * | timestamptz                            | Date (same precision)                                         |
 * | ±infinity timestamp/timestamptz        | the strings 'infinity' / '-infinity'                          |
 * | timestamp outside the JS Date range    | the text as PostgreSQL printed it                             |
 * | arrays of the types above              | nested arrays (multi-dimensional arrays nest; lower bounds    |
 * |                                        | like `[0:1]=` are dropped), NULL elements are null            |
 * | SQL NULL                               | null                                                          |
 * | unchanged TOAST ('u')                  | UNCHANGED_TOAST                                               |
 * | binary-format values ('b')             | Buffer (raw bytes; slotstream never requests binary mode)     |
 *
 * The text forms assume the decoding session's defaults: DateStyle ISO, bytea_output hex (escape works too),
 * any TimeZone (timestamptz carries its offset), any extra_float_digits.
 */

/**
 * An unchanged TOASTed value: the update did not touch it and the server did not send it. There is one
 * instance, UNCHANGED_TOAST; test with `=== UNCHANGED_TOAST`. (Stream updates never carry it for a table
 * under REPLICA IDENTITY FULL: the old row fills it in.)
 *
 * @example
 * ```ts
 * import { UNCHANGED_TOAST } from 'slotstream/pgoutput';
 * const untouched = (value: unknown) => value === UNCHANGED_TOAST; // keep what you had for that column
 * JSON.stringify({ body: UNCHANGED_TOAST }); // '{"body":{"$unchanged_toast":true}}'
 * ```
 */
export class UnchangedToast {
  /** `{ $unchanged_toast: true }`, so JSON output shows the value was not sent. */
  toJSON(): { $unchanged_toast: true } {
    return { $unchanged_toast: true };
  }
  /** `[unchanged toast]`. */
  toString(): string {
    return '[unchanged toast]';
  }
}

/** The one UnchangedToast instance; compare with `===`. */
export const UNCHANGED_TOAST: UnchangedToast = Object.freeze(new UnchangedToast());

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type PgScalar = null | boolean | number | bigint | string | Buffer | Date;
export type PgArray = Array<PgScalar | JsonValue | PgArray>;
/** Any decoded column value. */
export type PgValue = PgScalar | JsonValue | PgArray | UnchangedToast;

/** Decodes the text form of one value held in `buf[start, end)`. Throws on a malformed value. */
export type ValueDecoder = (buf: Buffer, start: number, end: number) => PgValue;
/** Decodes one value from its (already unescaped) text. */
export type ElementDecoder = (text: string) => PgScalar | JsonValue;

// ---------------------------------------------------------------------------------------------------------
// Text decoders (for array elements and the scalar decoders that need a string anyway)

function bad(what: string, text: string): SyntaxError {
  const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  return new SyntaxError(`invalid ${what} value ${JSON.stringify(shown)}`);
}

/**
 * bool's text form, `t` or `f`; throws SyntaxError for anything else. The `textTo…` decoders read one
 * value's text, e.g. an array element (`parseArrayLiteral`).
 *
 * @example
 * ```ts
 * import { textToBool } from 'slotstream/pgoutput';
 * textToBool('t'); // true
 * ```
 */
export function textToBool(s: string): boolean {
  if (s === 't') return true;
  if (s === 'f') return false;
  throw bad('bool', s);
}

/**
 * int2/int4/oid: at most 10 digits, always exact as a number. Throws SyntaxError for other text.
 *
 * @example
 * ```ts
 * import { textToInt } from 'slotstream/pgoutput';
 * textToInt('-42'); // -42
 * ```
 */
export function textToInt(s: string): number {
  const len = s.length;
  let i = 0;
  let neg = false;
  if (s.charCodeAt(0) === 0x2d) {
    neg = true;
    i = 1;
  }
  if (i === len || len - i > 10) throw bad('integer', s);
  let n = 0;
  for (; i < len; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) throw bad('integer', s);
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

const INT8_TEXT = /^-?\d{1,19}$/;

/**
 * int8's text form as an exact bigint; throws SyntaxError for anything but an optional minus and 1 to 19
 * digits.
 *
 * @example
 * ```ts
 * import { textToBigInt } from 'slotstream/pgoutput';
 * textToBigInt('9007199254740993'); // 9007199254740993n (a number would round it)
 * ```
 */
export function textToBigInt(s: string): bigint {
  if (!INT8_TEXT.test(s)) throw bad('int8', s);
  return BigInt(s);
}

/**
 * float4/float8's text form, `NaN`, `Infinity` and `-Infinity` included; throws SyntaxError for empty or
 * non-numeric text.
 *
 * @example
 * ```ts
 * import { textToFloat } from 'slotstream/pgoutput';
 * textToFloat('1.5e3'); // 1500
 * ```
 */
export function textToFloat(s: string): number {
  const v = Number(s);
  if (Number.isNaN(v) ? s !== 'NaN' : s.length === 0) throw bad('float', s);
  return v;
}

/**
 * The text itself: the decoder for every type kept as text (text, varchar, numeric, uuid, date, …).
 *
 * @example
 * ```ts
 * import { parseArrayLiteral, textToString } from 'slotstream/pgoutput';
 * parseArrayLiteral('{a,"b c"}', textToString); // ['a', 'b c']
 * ```
 */
export function textToString(s: string): string {
  return s;
}

/**
 * json/jsonb's text form, parsed; throws JSON.parse's SyntaxError for invalid JSON.
 *
 * @example
 * ```ts
 * import { textToJson } from 'slotstream/pgoutput';
 * textToJson('{"tags":["a"]}'); // { tags: ['a'] }
 * ```
 */
export function textToJson(s: string): JsonValue {
  return JSON.parse(s) as JsonValue;
}

const HEX_TEXT = /^[0-9a-fA-F]*$/;

/**
 * bytea in the hex form (`\x0102`) or, if bytea_output = escape, the escape form. Throws SyntaxError for
 * text of neither form. (A bytea column's value is decoded the same way, straight from the message.)
 *
 * @example
 * ```ts
 * import { textToBytea } from 'slotstream/pgoutput';
 * textToBytea('\\x0102'); // <Buffer 01 02>
 * ```
 */
export function textToBytea(s: string): Buffer {
  if (s.charCodeAt(0) === 0x5c && s.charCodeAt(1) === 0x78) {
    if ((s.length & 1) !== 0 || !HEX_TEXT.test(s.slice(2))) throw bad('bytea', s);
    return Buffer.from(s.slice(2), 'hex');
  }
  return escapeBytea(s);
}

function escapeBytea(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c !== 0x5c) {
      if (c > 0xff) throw bad('bytea', s);
      out[n++] = c;
      i++;
    } else if (s.charCodeAt(i + 1) === 0x5c) {
      out[n++] = 0x5c;
      i += 2;
    } else {
      const oct = s.slice(i + 1, i + 4);
      if (!/^[0-3][0-7]{2}$/.test(oct)) throw bad('bytea', s);
      out[n++] = Number.parseInt(oct, 8);
      i += 4;
    }
  }
  return out.subarray(0, n);
}

/** Milliseconds in 400 Gregorian years: shifts years 0–99 out of Date.UTC's 1900+ mapping. */
const MS_400_YEARS = 146097 * 86_400_000;

function digits(s: string, from: number, to: number): number {
  if (to > s.length || from >= to) return Number.NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * An ISO-style timestamp as PostgreSQL prints it with DateStyle ISO:
 * `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]][ BC]`. Without an offset the wall-clock time is read as UTC.
 * Returns 'infinity'/'-infinity' as is, and the text itself when the instant is outside the Date range.
 */
function textToTimestampImpl(s: string, withZone: boolean): Date | string {
  if (s === 'infinity' || s === '-infinity') return s;
  let len = s.length;
  let bc = false;
  if (s.endsWith(' BC')) {
    bc = true;
    len -= 3;
  }
  const dash = s.indexOf('-', 1);
  const year = digits(s, 0, dash);
  const month = digits(s, dash + 1, dash + 3);
  const day = digits(s, dash + 4, dash + 6);
  const hour = digits(s, dash + 7, dash + 9);
  const minute = digits(s, dash + 10, dash + 12);
  const second = digits(s, dash + 13, dash + 15);
  if (
    dash < 1 ||
    s.charCodeAt(dash + 3) !== 0x2d ||
    s.charCodeAt(dash + 6) !== 0x20 ||
    s.charCodeAt(dash + 9) !== 0x3a ||
    s.charCodeAt(dash + 12) !== 0x3a ||
    Number.isNaN(year + month + day + hour + minute + second)
  )
    throw bad(withZone ? 'timestamptz' : 'timestamp', s);
  let p = dash + 15;
  let ms = 0;
  if (s.charCodeAt(p) === 0x2e) {
    const from = ++p;
    while (p < len && s.charCodeAt(p) >= 0x30 && s.charCodeAt(p) <= 0x39) p++;
    if (p === from) throw bad('timestamp', s);
    // Milliseconds are the first three fraction digits; the rest (microseconds) do not fit a Date.
    const take = Math.min(3, p - from);
    ms = digits(s, from, from + take) * (take === 1 ? 100 : take === 2 ? 10 : 1);
  }
  let offsetSeconds = 0;
  if (withZone) {
    const sign = s.charCodeAt(p);
    if (sign !== 0x2b && sign !== 0x2d) throw bad('timestamptz', s);
    let off = digits(s, p + 1, p + 3) * 3600;
    p += 3;
    if (s.charCodeAt(p) === 0x3a) {
      off += digits(s, p + 1, p + 3) * 60;
      p += 3;
      if (s.charCodeAt(p) === 0x3a) {
        off += digits(s, p + 1, p + 3);
        p += 3;
      }
    }
    if (Number.isNaN(off)) throw bad('timestamptz', s);
    offsetSeconds = sign === 0x2d ? -off : off;
  }
  if (p !== len) throw bad(withZone ? 'timestamptz' : 'timestamp', s);
  const y = bc ? 1 - year : year;
  let t: number;
  if (y >= 0 && y < 100) t = Date.UTC(y + 400, month - 1, day, hour, minute, second, ms) - MS_400_YEARS;
  else t = Date.UTC(y, month - 1, day, hour, minute, second, ms);
  t -= offsetSeconds * 1000;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? s : d;
}

/**
 * timestamp's text form (DateStyle ISO) as a Date, the wall-clock time read as UTC, to the millisecond.
 * `infinity`, `-infinity` and instants outside the Date range come back as the text; other text throws
 * SyntaxError.
 *
 * @example
 * ```ts
 * import { textToTimestamp } from 'slotstream/pgoutput';
 * textToTimestamp('2026-11-26 10:00:00.123456'); // 2026-11-26T10:00:00.123Z
 * ```
 */
export function textToTimestamp(s: string): Date | string {
  return textToTimestampImpl(s, false);
}

/**
 * timestamptz's text form (DateStyle ISO, with its offset) as the Date of that instant, to the
 * millisecond; otherwise as `textToTimestamp`.
 *
 * @example
 * ```ts
 * import { textToTimestamptz } from 'slotstream/pgoutput';
 * textToTimestamptz('2026-11-26 10:00:00+02'); // 2026-11-26T08:00:00.000Z
 * ```
 */
export function textToTimestamptz(s: string): Date | string {
  return textToTimestampImpl(s, true);
}

// ---------------------------------------------------------------------------------------------------------
// Array literals

// The parser is a small recursive descent over module-level state: decoding is synchronous and element
// decoders never parse arrays themselves, so there is no re-entrancy.
let arrText = '';
let arrPos = 0;

/**
 * Parses an array literal as PostgreSQL prints it (`{a,"b c",NULL,{…}}`, optionally preceded by bounds such
 * as `[0:1]=`), decoding each non-NULL element with `element`. Bounds are dropped: the result is always a
 * zero-based (nested) JavaScript array. Throws SyntaxError for a malformed literal, and whatever `element`
 * throws.
 *
 * @example
 * ```ts
 * import { parseArrayLiteral, textToInt } from 'slotstream/pgoutput';
 * parseArrayLiteral('{1,NULL,3}', textToInt); // [1, null, 3]
 * parseArrayLiteral('[0:1]={{1},{2}}', textToInt); // [[1], [2]]
 * ```
 */
export function parseArrayLiteral(text: string, element: ElementDecoder, delimiter = ','): PgArray {
  arrText = text;
  arrPos = 0;
  try {
    if (text.charCodeAt(0) === 0x5b) {
      const eq = text.indexOf('=');
      if (eq < 0) throw bad('array', text);
      arrPos = eq + 1;
    }
    if (text.charCodeAt(arrPos) !== 0x7b) throw bad('array', text);
    const out = parseArrayLevel(element, delimiter.charCodeAt(0));
    if (arrPos !== text.length) throw bad('array', text);
    return out;
  } finally {
    arrText = '';
  }
}

function parseArrayLevel(element: ElementDecoder, delim: number): PgArray {
  const s = arrText;
  const out: PgArray = [];
  arrPos++; // '{'
  if (s.charCodeAt(arrPos) === 0x7d) {
    arrPos++;
    return out;
  }
  for (;;) {
    const c = s.charCodeAt(arrPos);
    if (c === 0x7b) {
      out.push(parseArrayLevel(element, delim));
    } else if (c === 0x22) {
      // Quoted: backslash escapes the next character.
      let value = '';
      let from = ++arrPos;
      for (;;) {
        const q = s.charCodeAt(arrPos);
        if (q === 0x22) break;
        if (q === 0x5c) {
          value += s.slice(from, arrPos);
          from = ++arrPos;
        }
        if (arrPos >= s.length) throw bad('array', s);
        arrPos++;
      }
      value += s.slice(from, arrPos);
      arrPos++;
      out.push(element(value));
    } else {
      const from = arrPos;
      for (;;) {
        const u = s.charCodeAt(arrPos);
        if (u === delim || u === 0x7d) break;
        if (arrPos >= s.length || u === 0x7b || u === 0x22) throw bad('array', s);
        arrPos++;
      }
      const token = s.slice(from, arrPos);
      if (token.length === 0) throw bad('array', s);
      out.push(token.length === 4 && token.toUpperCase() === 'NULL' ? null : element(token));
    }
    const d = s.charCodeAt(arrPos++);
    if (d === delim) continue;
    if (d === 0x7d) return out;
    throw bad('array', s);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Column decoders over buffer slices

function decodeBool(buf: Buffer, start: number, end: number): boolean {
  if (end - start === 1) {
    const c = buf[start];
    if (c === 0x74) return true;
    if (c === 0x66) return false;
  }
  throw bad('bool', buf.toString('latin1', start, end));
}

function decodeInt(buf: Buffer, start: number, end: number): number {
  let i = start;
  let neg = false;
  if (buf[i] === 0x2d) {
    neg = true;
    i++;
  }
  if (i === end || end - i > 10) throw bad('integer', buf.toString('latin1', start, end));
  let n = 0;
  for (; i < end; i++) {
    const d = (buf[i] as number) - 0x30;
    if (d < 0 || d > 9) throw bad('integer', buf.toString('latin1', start, end));
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

function decodeBigInt(buf: Buffer, start: number, end: number): bigint {
  // Fast path for the common case (positions, millisecond timestamps): up to 15 digits are exact in a
  // double, so accumulate digits straight from the buffer and skip the string and the regex.
  let i = start;
  const negative = buf[i] === 0x2d; // '-'
  if (negative) i++;
  if (end - i > 0 && end - i <= 15) {
    let n = 0;
    for (; i < end; i++) {
      const digit = (buf[i] as number) - 0x30;
      if (digit < 0 || digit > 9) break;
      n = n * 10 + digit;
    }
    if (i === end) return BigInt(negative ? -n : n);
  }
  return textToBigInt(buf.toString('latin1', start, end));
}

function decodeFloat(buf: Buffer, start: number, end: number): number {
  return textToFloat(buf.toString('latin1', start, end));
}

/** numeric, uuid, date: ASCII text. */
function decodeAscii(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, end);
}

function decodeText(buf: Buffer, start: number, end: number): string {
  return buf.toString('utf8', start, end);
}

function decodeJson(buf: Buffer, start: number, end: number): JsonValue {
  return JSON.parse(buf.toString('utf8', start, end)) as JsonValue;
}

function decodeBytea(buf: Buffer, start: number, end: number): Buffer {
  if (buf[start] === 0x5c && buf[start + 1] === 0x78) {
    const hexLen = end - start - 2;
    if ((hexLen & 1) === 0) {
      const out = Buffer.from(buf.toString('latin1', start + 2, end), 'hex');
      if (out.length * 2 === hexLen) return out;
    }
    throw bad('bytea', buf.toString('latin1', start, end));
  }
  return escapeBytea(buf.toString('latin1', start, end));
}

function decodeTimestamp(buf: Buffer, start: number, end: number): Date | string {
  return textToTimestampImpl(buf.toString('latin1', start, end), false);
}

function decodeTimestamptz(buf: Buffer, start: number, end: number): Date | string {
  return textToTimestampImpl(buf.toString('latin1', start, end), true);
}

function arrayDecoder(element: ElementDecoder): ValueDecoder {
  return (buf, start, end) => parseArrayLiteral(buf.toString('utf8', start, end), element);
}

// ---------------------------------------------------------------------------------------------------------
// Built-in types

/**
 * The built-in types this module decodes, the one place their OIDs are written down: everything else that
 * needs a type's OID or name (TypeOid, decoderFor, Type messages, stream column declarations) is derived
 * from here, so a type added here is known everywhere at once. OIDs are fixed in pg_type.dat.
 */
const BUILTIN_TYPES = [
  { name: 'bool', oid: 16, arrayOid: 1000, decode: decodeBool, element: textToBool, fromBytes: true },
  { name: 'bytea', oid: 17, arrayOid: 1001, decode: decodeBytea, element: textToBytea, fromBytes: true },
  { name: 'char', oid: 18, arrayOid: 1002, decode: decodeText, element: textToString },
  { name: 'name', oid: 19, arrayOid: 1003, decode: decodeText, element: textToString },
  { name: 'int8', oid: 20, arrayOid: 1016, decode: decodeBigInt, element: textToBigInt, fromBytes: true },
  { name: 'int2', oid: 21, arrayOid: 1005, decode: decodeInt, element: textToInt, fromBytes: true },
  { name: 'int4', oid: 23, arrayOid: 1007, decode: decodeInt, element: textToInt, fromBytes: true },
  { name: 'text', oid: 25, arrayOid: 1009, decode: decodeText, element: textToString },
  { name: 'oid', oid: 26, arrayOid: 1028, decode: decodeInt, element: textToInt, fromBytes: true },
  { name: 'json', oid: 114, arrayOid: 199, decode: decodeJson, element: textToJson },
  { name: 'float4', oid: 700, arrayOid: 1021, decode: decodeFloat, element: textToFloat },
  { name: 'float8', oid: 701, arrayOid: 1022, decode: decodeFloat, element: textToFloat },
  { name: 'bpchar', oid: 1042, arrayOid: 1014, decode: decodeText, element: textToString },
  { name: 'varchar', oid: 1043, arrayOid: 1015, decode: decodeText, element: textToString },
  { name: 'date', oid: 1082, arrayOid: 1182, decode: decodeAscii, element: textToString },
  { name: 'time', oid: 1083, arrayOid: 1183, decode: decodeText, element: textToString },
  { name: 'timestamp', oid: 1114, arrayOid: 1115, decode: decodeTimestamp, element: textToTimestamp },
  { name: 'timestamptz', oid: 1184, arrayOid: 1185, decode: decodeTimestamptz, element: textToTimestamptz },
  { name: 'interval', oid: 1186, arrayOid: 1187, decode: decodeText, element: textToString },
  { name: 'numeric', oid: 1700, arrayOid: 1231, decode: decodeAscii, element: textToString },
  { name: 'uuid', oid: 2950, arrayOid: 2951, decode: decodeAscii, element: textToString },
  { name: 'jsonb', oid: 3802, arrayOid: 3807, decode: decodeJson, element: textToJson },
] as const satisfies readonly {
  /** As in pg_catalog.pg_type; its array type is named with a leading underscore. */
  name: string;
  oid: number;
  arrayOid: number;
  /** A column of the type. */
  decode: ValueDecoder;
  /** One element of an array of the type (already unescaped). */
  element: ElementDecoder;
  /** `decode` reads the bytes themselves, with no string in between (see stringDecoderFor). */
  fromBytes?: true;
}[];

type BuiltinType = (typeof BUILTIN_TYPES)[number];

/** Built-in type OIDs by name: `TypeOid.int4`, and `TypeOid.int4Array` for its array type. */
export const TypeOid = Object.freeze(
  Object.fromEntries(
    BUILTIN_TYPES.flatMap((t) => [
      [t.name, t.oid],
      [`${t.name}Array`, t.arrayOid],
    ]),
  ),
) as { readonly [T in BuiltinType as T['name']]: T['oid'] } & {
  readonly [T in BuiltinType as `${T['name']}Array`]: T['arrayOid'];
};

/**
 * pg_catalog type names → OIDs, for Type messages: for a domain, pgoutput's Type message names the domain's
 * base type (with an empty schema for pg_catalog), so a domain over a built-in type decodes like that type.
 */
export const BUILTIN_TYPE_OIDS: ReadonlyMap<string, number> = new Map(
  BUILTIN_TYPES.flatMap((t) => [
    [t.name, t.oid],
    [`_${t.name}`, t.arrayOid],
  ]),
);

/** The other way round: a built-in type's pg_catalog name by OID. */
export const BUILTIN_TYPE_NAMES: ReadonlyMap<number, string> = new Map(
  [...BUILTIN_TYPE_OIDS].map(([name, oid]) => [oid, name]),
);

const DECODERS: ReadonlyMap<number, ValueDecoder> = new Map(
  BUILTIN_TYPES.flatMap((t) => [
    [t.oid, t.decode],
    [t.arrayOid, arrayDecoder(t.element)],
  ]),
);

/**
 * The decoder for a column of type `typeOid` (text format). Every type not in the table (enums, domains,
 * ranges, …) decodes to its text. `PgoutputParser` picks each column's decoder with it when a Relation
 * message arrives.
 *
 * @example
 * ```ts
 * import { decoderFor, TypeOid } from 'slotstream/pgoutput';
 * const decode = decoderFor(TypeOid.int8Array);
 * decode(Buffer.from('{1,2}'), 0, 5); // [1n, 2n]
 * ```
 */
export function decoderFor(typeOid: number): ValueDecoder {
  return DECODERS.get(typeOid) ?? decodeText;
}

/** Decodes one column's value from its whole text (see stringDecoderFor). */
export type StringDecoder = (text: string) => PgValue;

const STRING_DECODERS: ReadonlyMap<number, StringDecoder | undefined> = new Map<
  number,
  StringDecoder | undefined
>(
  BUILTIN_TYPES.flatMap((t) => [
    [t.oid, 'fromBytes' in t ? undefined : t.element],
    [t.arrayOid, (text: string) => parseArrayLiteral(text, t.element)],
  ]),
);

/**
 * For a column of type `typeOid` whose decoder turns its bytes into a string first: a decoder of that
 * string, which gives the very value `decoderFor(typeOid)` gives from the bytes. The parser decodes the
 * text of several such columns of a row as one string, a native call per row instead of one per column,
 * and hands each decoder its part. Undefined for the types decoded from the bytes themselves (bool,
 * integers, bytea).
 */
export function stringDecoderFor(typeOid: number): StringDecoder | undefined {
  return STRING_DECODERS.has(typeOid) ? STRING_DECODERS.get(typeOid) : textToString;
}
