/**
 * A bounds-checked big-endian reader over one pgoutput message. One instance is reused for every message
 * (`reset`), so decoding allocates nothing for the reader itself. Every read checks the end of the message
 * first and throws MalformedMessageError naming the message tag and the offset (relative to the message
 * start) of the read that failed.
 *
 * OIDs and xids are unsigned 32-bit (read with readUInt32BE, as node-postgres does for type OIDs); LSNs are
 * unsigned 64-bit bigints; timestamps are signed 64-bit microsecond counts.
 */
import { MalformedMessageError } from '../errors.ts';

const EMPTY = Buffer.alloc(0);

/** 2^32, and the high halves below which a 64-bit value fits a double exactly (|value| < 2^53). */
const TWO_32 = 0x1_0000_0000;
const EXACT_HIGH = 0x20_0000;

/**
 * How error messages name a tag byte: `I (0x49)`.
 *
 * @example
 * ```ts
 * import { describeTag } from 'slotstream/pgoutput';
 * describeTag(0x49); // 'I (0x49)'; describeTag(0) is '0x00'
 * ```
 */
export function describeTag(byte: number | undefined): string {
  if (byte === undefined) return '(none)';
  const hex = `0x${byte.toString(16).padStart(2, '0')}`;
  return byte >= 0x20 && byte < 0x7f ? `${String.fromCharCode(byte)} (${hex})` : hex;
}

/** describeTag of every byte, built once: the parser names each message's tag without building a string. */
export const TAG_NAMES: readonly string[] = Array.from({ length: 256 }, (_, byte) => describeTag(byte));

/**
 * Bounds-checked big-endian reads over one message, `buf[start, end)`: a read past its end throws
 * MalformedMessageError naming the message tag and the offset. `PgoutputParser` reuses one for every
 * message; it is exported for decoding messages of your own the same way.
 *
 * @example
 * ```ts
 * import { BinaryReader } from 'slotstream/pgoutput';
 * const r = new BinaryReader();
 * r.reset(Buffer.from([0x42, 0, 0, 0, 7]));
 * r.uint8(); // 0x42
 * r.int32(); // 7; one more read throws MalformedMessageError (truncated)
 * ```
 */
export class BinaryReader {
  /** The message being read; `buf[start]` is its tag byte. */
  buf: Buffer = EMPTY;
  /** Position of the next read (absolute index into `buf`). */
  pos = 0;
  /** Start of the message in `buf`; offsets in errors are relative to it. */
  start = 0;
  /** End of the message (exclusive). */
  end = 0;
  /** The message tag as errors name it; set by the parser once it has read the tag byte. */
  tag = '(none)';

  /** Points the reader at `buf[start, end)`. */
  reset(buf: Buffer, start = 0, end: number = buf.length): void {
    if (start < 0 || end > buf.length || start > end)
      throw new RangeError(
        `BinaryReader.reset: [${start}, ${end}) is outside a buffer of ${buf.length} bytes`,
      );
    this.buf = buf;
    this.pos = start;
    this.start = start;
    this.end = end;
    this.tag = '(none)';
  }

  /** Drops the reference to the last buffer so the reader does not keep it alive. */
  release(): void {
    this.buf = EMPTY;
    this.pos = this.start = this.end = 0;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Offset of the next read relative to the message start. */
  get offset(): number {
    return this.pos - this.start;
  }

  /** A MalformedMessageError at the current position (or at `at`, an absolute index). */
  error(detail: string, at: number = this.pos): MalformedMessageError {
    return new MalformedMessageError(this.tag, at - this.start, detail);
  }

  /**
   * Throws unless `n` bytes remain. The reads below inline their own check and call this only to throw,
   * so that the common path is a comparison and a few byte loads: they run several times per row.
   */
  #need(n: number, what: string): void {
    if (this.end - this.pos < n)
      throw this.error(
        `truncated: ${what} needs ${n} byte(s) but ${this.end - this.pos} remain (message is ${this.end - this.start} bytes)`,
      );
  }

  /** The next byte, unsigned. */
  uint8(): number {
    const at = this.pos;
    if (at >= this.end) this.#need(1, 'uint8');
    this.pos = at + 1;
    return this.buf[at] as number;
  }

  /** The next signed 16-bit integer. */
  int16(): number {
    const at = this.pos;
    if (this.end - at < 2) this.#need(2, 'int16');
    this.pos = at + 2;
    const buf = this.buf;
    return (((buf[at] as number) << 24) | ((buf[at + 1] as number) << 16)) >> 16;
  }

  /** The next signed 32-bit integer. */
  int32(): number {
    const at = this.pos;
    if (this.end - at < 4) this.#need(4, 'int32');
    this.pos = at + 4;
    const buf = this.buf;
    return (
      ((buf[at] as number) << 24) |
      ((buf[at + 1] as number) << 16) |
      ((buf[at + 2] as number) << 8) |
      (buf[at + 3] as number)
    );
  }

  /** OIDs, xids: unsigned. */
  uint32(): number {
    const at = this.pos;
    if (this.end - at < 4) this.#need(4, 'uint32');
    this.pos = at + 4;
    return readUInt32(this.buf, at);
  }

  /** LSNs. */
  uint64(): bigint {
    const at = this.pos;
    if (this.end - at < 8) this.#need(8, 'uint64');
    this.pos = at + 8;
    return readUInt64(this.buf, at);
  }

  /** TimestampTz: signed microseconds since 2000-01-01 00:00:00 UTC. */
  int64(): bigint {
    const at = this.pos;
    if (this.end - at < 8) this.#need(8, 'int64');
    this.pos = at + 8;
    const high = readUInt32(this.buf, at) | 0; // signed
    const low = readUInt32(this.buf, at + 4);
    return high < EXACT_HIGH && high >= -EXACT_HIGH
      ? BigInt(high * TWO_32 + low)
      : (BigInt(high) << 32n) + BigInt(low);
  }

  /** A NUL-terminated string (UTF-8). */
  cstring(): string {
    const from = this.pos;
    const nul = this.buf.indexOf(0, from);
    if (nul < 0 || nul >= this.end) throw this.error('truncated: string without a NUL terminator');
    this.pos = nul + 1;
    return this.buf.toString('utf8', from, nul);
  }

  /** Skips `n` bytes after checking they exist; returns the absolute index where they start. */
  skip(n: number, what: string): number {
    const at = this.pos;
    if (n < 0 || this.end - at < n) {
      if (n < 0) throw this.error(`negative length ${n} for ${what}`);
      this.#need(n, what);
    }
    this.pos = at + n;
    return at;
  }

  /** A view (no copy) of the next `n` bytes. It shares memory with the message buffer. */
  subarray(n: number, what = 'bytes'): Buffer {
    const at = this.skip(n, what);
    return this.buf.subarray(at, at + n);
  }
}

/**
 * The unsigned big-endian 64-bit integer at `at` (the caller has checked the bounds): one BigInt, from an
 * exact double where the value fits one (every LSN short of 8 PiB of WAL), where Buffer's
 * readBigUInt64BE makes three. Several are read per transaction, and one per XLogData frame.
 */
export function readUInt64(buf: Buffer, at: number): bigint {
  const high = readUInt32(buf, at);
  const low = readUInt32(buf, at + 4);
  return high < EXACT_HIGH ? BigInt(high * TWO_32 + low) : (BigInt(high) << 32n) | BigInt(low);
}

/** The unsigned big-endian 32-bit integer at `at` (the caller has checked the bounds). */
function readUInt32(buf: Buffer, at: number): number {
  return (
    (buf[at] as number) * 0x100_0000 +
    (((buf[at + 1] as number) << 16) | ((buf[at + 2] as number) << 8) | (buf[at + 3] as number))
  );
}
