/**
 * TupleData, the row of an Insert, Update or Delete, decoded into a row object.
 *
 * Most of a reader's time goes here, and a good part of it not in decoding proper but in the calls into the
 * runtime that turn bytes into strings, one per text column, each costing more than the short value it
 * decodes. So a row takes one of two paths:
 * - the fast path, for a whole row (not a key-only one) whose columns are all text, NULL or unchanged TOAST:
 *   one pass finds where each value is, checking every length against the end of the message, then the
 *   columns decoded from a string (text, json, numeric, timestamps, …; see stringDecoderFor) are decoded
 *   from one string made of the bytes from the first of them to the last, and handed their part of it;
 * - the general path, column by column, for everything else, including every malformed tuple: it reports
 *   errors in the order and at the offsets it always did.
 *
 * The one string stands for each column's own text only when every byte it covers is ASCII. The bytes in
 * between (kinds and lengths of the columns, integers written as digits) are ASCII as long as no length
 * has a byte of 0x80 or more, so the string stops before the first column whose length does (most values
 * of 128 bytes or more), or that would take it past SHARED_BYTES; the columns after it are decoded one by
 * one. Text that is not ASCII shows in the string's length (a UTF-8 character of several bytes is one or
 * two code units) or as U+FFFD (an invalid byte), and sends the row to the general path, and the table's
 * next rows too for a while (FAST_PATH_PAUSE): such text would otherwise be decoded twice per row.
 */
import { MalformedMessageError } from '../errors.ts';
import { type BinaryReader, describeTag } from './binary-reader.ts';
import type { RowMaker } from './row-maker.ts';
import type { Relation, Row } from './types.ts';
import { type PgValue, type StringDecoder, UNCHANGED_TOAST, type ValueDecoder } from './values.ts';

/** TupleData column kinds. */
const Kind = {
  Null: 0x6e, // n
  UnchangedToast: 0x75, // u
  Text: 0x74, // t
  Binary: 0x62, // b
} as const;

/** The parser's per-relation state: the public Relation plus what decoding its rows needs. */
export interface RelationEntry {
  relation: Relation;
  names: string[];
  decoders: ValueDecoder[];
  /** Per column, its decoder from a string when its type is decoded from one (see stringDecoderFor). */
  stringDecoders: (StringDecoder | undefined)[];
  keys: boolean[];
  /** Makes a whole row from its values; undefined when rows are built a column at a time (see rowMaker). */
  makeRow: RowMaker | undefined;
  /** A column is literally named `__proto__`: rows must be prototype-less objects. */
  nullProto: boolean;
  /** Rows left to decode column by column since the last one the fast path could not take. */
  fastPathPause: number;
}

/** In the values of a key-only tuple, a column that is not part of the key. */
const NOT_IN_KEY = Symbol('not in key');

/** In the fast path's value positions: SQL NULL, and an unchanged TOAST value. */
const NULL_AT = -1;
const TOAST_AT = -2;

/** Rows of a table that go column by column after one the fast path could not take. */
const FAST_PATH_PAUSE = 15;

/**
 * Most bytes the one string covers. Past a few hundred bytes a value's own call costs little next to its
 * decoding; and a text value cut from the string may keep the whole string alive (a consumer that keeps one
 * column of many rows would keep their other columns' text too), so the string stays short.
 */
const SHARED_BYTES = 1024;

/** Any byte of a 32-bit length that is 0x80 or more. */
const NON_ASCII_LENGTH = 0x80808080;

/**
 * Reads TupleData for one parser, reusing its arrays from row to row: a row costs no array, only its
 * values and the row itself.
 */
export class TupleReader {
  /** One tuple's values, decoded before its row is made. */
  readonly #values: (PgValue | typeof NOT_IN_KEY)[] = [];
  /** The fast path's first pass: where each column's value starts (or NULL_AT, TOAST_AT) and ends. */
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  /**
   * TupleData at the reader's position. With `keyOnly` (the K form) only identity columns are kept: the
   * server sends the other columns as nulls that stand for "not part of the key", not for SQL NULL.
   */
  read(r: BinaryReader, entry: RelationEntry, keyOnly: boolean): Row {
    const countAt = r.pos;
    const count = r.int16();
    if (count !== entry.names.length)
      throw r.error(
        `tuple has ${count} column(s) but relation ${entry.relation.schema}.${entry.relation.name} ` +
          `(OID ${entry.relation.oid}) has ${entry.names.length}`,
        countAt,
      );
    if (keyOnly || entry.fastPathPause > 0) {
      if (!keyOnly) entry.fastPathPause--;
      this.#columnByColumn(r, entry, keyOnly, count);
    } else if (!this.#fast(r, entry, count)) {
      entry.fastPathPause = FAST_PATH_PAUSE;
      this.#columnByColumn(r, entry, keyOnly, count);
    }
    const values = this.#values;
    const row =
      !keyOnly && entry.makeRow !== undefined
        ? entry.makeRow(values as PgValue[])
        : rowByColumn(entry, values);
    // The next tuple overwrites them; until then they must not keep a value alive. (A loop: fill() is a
    // call into the runtime that costs more than the stores.)
    for (let i = 0; i < count; i++) values[i] = null;
    return row;
  }

  /**
   * The fast path (see the top of this file): false, having read nothing, when the row must take the
   * general path.
   */
  #fast(r: BinaryReader, entry: RelationEntry, count: number): boolean {
    const { buf, end } = r;
    const { decoders, stringDecoders } = entry;
    const starts = this.#starts;
    const ends = this.#ends;
    let pos = r.pos;
    // The one string's bytes: from the first column decoded from a string (short enough) to the last one
    // before a length that is not ASCII, within SHARED_BYTES.
    let from = -1;
    let to = -1;
    let extending = true;
    for (let i = 0; i < count; i++) {
      if (pos >= end) return false;
      const kind = buf[pos++];
      if (kind === Kind.Text) {
        if (end - pos < 4) return false;
        const len =
          ((buf[pos] as number) << 24) |
          ((buf[pos + 1] as number) << 16) |
          ((buf[pos + 2] as number) << 8) |
          (buf[pos + 3] as number);
        pos += 4;
        if (len < 0 || end - pos < len) return false;
        starts[i] = pos;
        ends[i] = pos + len;
        if (from >= 0 && (len & NON_ASCII_LENGTH) !== 0) extending = false;
        if (stringDecoders[i] !== undefined && extending) {
          if (from < 0) {
            if (len <= SHARED_BYTES) {
              from = pos;
              to = pos + len;
            }
          } else if (pos + len - from <= SHARED_BYTES) {
            to = pos + len;
          } else {
            extending = false;
          }
        }
        pos += len;
      } else if (kind === Kind.Null) {
        starts[i] = NULL_AT;
      } else if (kind === Kind.UnchangedToast) {
        starts[i] = TOAST_AT;
      } else {
        return false; // binary values, unknown kinds
      }
    }
    let text = '';
    if (from >= 0) {
      text = buf.toString('utf8', from, to);
      if (text.length !== to - from || text.indexOf('\uFFFD') !== -1) return false;
    }
    const values = this.#values;
    for (let i = 0; i < count; i++) {
      const at = starts[i] as number;
      if (at === NULL_AT) {
        values[i] = null;
      } else if (at === TOAST_AT) {
        values[i] = UNCHANGED_TOAST;
      } else {
        const until = ends[i] as number;
        const fromString = stringDecoders[i];
        try {
          values[i] =
            fromString !== undefined && at >= from && until <= to
              ? fromString(until - at === text.length ? text : text.slice(at - from, until - from))
              : (decoders[i] as ValueDecoder)(buf, at, until);
        } catch (err) {
          throw columnError(r, entry, i, at, err);
        }
      }
    }
    r.pos = pos;
    return true;
  }

  /** The general path: each column decoded from its own bytes as it is read. */
  #columnByColumn(r: BinaryReader, entry: RelationEntry, keyOnly: boolean, count: number): void {
    const { names, decoders, keys } = entry;
    const values = this.#values;
    const buf = r.buf;
    for (let i = 0; i < count; i++) {
      const kindAt = r.pos;
      const kind = r.uint8();
      if (kind === Kind.Text) {
        const len = r.int32();
        const at = r.skip(len, 'text value');
        if (keyOnly && !keys[i]) {
          values[i] = NOT_IN_KEY;
          continue;
        }
        try {
          values[i] = (decoders[i] as ValueDecoder)(buf, at, at + len);
        } catch (err) {
          throw columnError(r, entry, i, at, err);
        }
      } else if (kind === Kind.Null) {
        values[i] = keyOnly && !keys[i] ? NOT_IN_KEY : null;
      } else if (kind === Kind.UnchangedToast) {
        values[i] = UNCHANGED_TOAST;
      } else if (kind === Kind.Binary) {
        const len = r.int32();
        const at = r.skip(len, 'binary value');
        values[i] = keyOnly && !keys[i] ? NOT_IN_KEY : Buffer.from(buf.subarray(at, at + len));
      } else {
        throw r.error(
          `unknown tuple column kind ${describeTag(kind)} for column ${JSON.stringify(names[i])} (expected t, n, u or b)`,
          kindAt,
        );
      }
    }
  }
}

/** A value its decoder refused, at `at` (an absolute index) in the message. */
function columnError(
  r: BinaryReader,
  entry: RelationEntry,
  column: number,
  at: number,
  err: unknown,
): MalformedMessageError {
  return new MalformedMessageError(
    r.tag,
    at - r.start,
    `column ${JSON.stringify(entry.names[column])} (type OID ${entry.relation.columns[column]?.typeOid}): ${(err as Error).message}`,
  );
}

/** A row set a column at a time: key-only tuples (only the key's columns), and where rowMaker cannot help. */
function rowByColumn(entry: RelationEntry, values: readonly (PgValue | typeof NOT_IN_KEY)[]): Row {
  const row: Row = entry.nullProto ? Object.create(null) : {};
  const names = entry.names;
  for (let i = 0; i < names.length; i++) {
    const value = values[i] as PgValue | typeof NOT_IN_KEY;
    if (value !== NOT_IN_KEY) row[names[i] as string] = value;
  }
  return row;
}
