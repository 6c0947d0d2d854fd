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

  #need(n: number, what: string): void {
    if (this.end - this.pos < n)
      throw this.error(
        `truncated: ${what} needs ${n} byte(s) but ${this.end - this.pos} remain (message is ${this.end - this.start} bytes)`,
      );
  }

  /** The next byte, unsigned. */
  uint8(): number {
    this.#need(1, 'uint8');
    return this.buf[this.pos++] as number;
  }

  /** The next signed 16-bit integer. */
  int16(): number {
    this.#need(2, 'int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** The next signed 32-bit integer. */
  int32(): number {
    this.#need(4, 'int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** OIDs, xids: unsigned. */
  uint32(): number {
    this.#need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** LSNs. */
  uint64(): bigint {
    this.#need(8, 'uint64');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** TimestampTz: signed microseconds since 2000-01-01 00:00:00 UTC. */
  int64(): bigint {
    this.#need(8, 'int64');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
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
    if (n < 0) throw this.error(`negative length ${n} for ${what}`);
    this.#need(n, what);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** A view (no copy) of the next `n` bytes. It shares memory with the message buffer. */
  subarray(n: number, what = 'bytes'): Buffer {
    const at = this.skip(n, what);
    return this.buf.subarray(at, at + n);
  }
}
