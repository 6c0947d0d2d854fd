import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Lsn } from './lsn.ts';
import { readUInt64 } from './pgoutput/binary-reader.ts';

const EMPTY = Buffer.alloc(0);

/** Record header: message length (4) and WAL position (8). */
const HEADER = 12;

/** Bytes kept in memory per spooled transaction before they go to its file. */
const WRITE_BUFFER_BYTES = 1 << 20;

/**
 * The changes of one streamed transaction (pgoutput `streaming`), kept on disk until its Stream Commit,
 * since it may still abort and nothing of an aborted transaction may reach the consumer. Memory stays at
 * one write buffer however big the transaction grows. A record is the raw pgoutput message after its
 * 4-byte length and the 8-byte WAL position it was decoded from.
 *
 * A subtransaction rolled back (Stream Abort with its own xid) is cut off by truncating back to where its
 * first change was written; subtransactions that began after it are nested in it or were released into
 * it, so they go too. This is how PostgreSQL's own apply worker handles it.
 */
export class TransactionSpool {
  readonly xid: number;
  readonly #fd: number;
  readonly #file: string;
  /** Allocated on first use: many small streamed transactions open at once must not cost 1 MiB each. */
  #buffer = EMPTY;
  #buffered = 0;
  #flushed = 0;
  /** Subtransaction xid → offset of its first record. */
  readonly #subxactStart = new Map<number, number>();

  constructor(dir: string, xid: number) {
    this.xid = xid;
    this.#file = path.join(dir, `xid-${xid}.spool`);
    this.#fd = openSync(this.#file, 'w+');
    // Unlinked at once: the descriptor keeps the data, and no crash (kill -9 included) can leave it behind.
    rmSync(this.#file);
  }

  get size(): number {
    return this.#flushed + this.#buffered;
  }

  append(subxid: number, lsn: Lsn, message: Buffer): void {
    if (!this.#subxactStart.has(subxid)) this.#subxactStart.set(subxid, this.size);
    const need = HEADER + message.length;
    if (this.#buffer === EMPTY) this.#buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
    if (this.#buffered + need > this.#buffer.length) this.#flush();
    if (need > this.#buffer.length) {
      const header = Buffer.allocUnsafe(HEADER);
      header.writeUInt32BE(message.length, 0);
      header.writeBigUInt64BE(lsn, 4);
      this.#write(header);
      this.#write(message);
      return;
    }
    this.#buffer.writeUInt32BE(message.length, this.#buffered);
    this.#buffer.writeBigUInt64BE(lsn, this.#buffered + 4);
    message.copy(this.#buffer, this.#buffered + HEADER);
    this.#buffered += need;
  }

  /** Drops everything written since `subxid`'s first change (a ROLLBACK TO SAVEPOINT). */
  abortSubtransaction(subxid: number): void {
    const start = this.#subxactStart.get(subxid);
    if (start === undefined) return; // it wrote nothing
    for (const [xid, offset] of this.#subxactStart) if (offset >= start) this.#subxactStart.delete(xid);
    if (start >= this.#flushed) {
      this.#buffered = start - this.#flushed;
    } else {
      this.#buffered = 0;
      ftruncateSync(this.#fd, start);
      this.#flushed = start;
    }
  }

  /** The spooled messages in order. Each yielded record (one object, reused) is valid until the next. */
  *messages(): Generator<{ lsn: Lsn; payload: Buffer }> {
    const record = { lsn: 0n, payload: this.#buffer };
    this.#flush();
    let chunk = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
    let position = 0;
    let start = 0;
    let end = 0;
    for (;;) {
      if (end - start < HEADER || end - start < HEADER + chunk.readUInt32BE(start)) {
        const need = end - start >= HEADER ? HEADER + chunk.readUInt32BE(start) : HEADER;
        // Move the partial record to the front, growing the chunk for a record bigger than it.
        const next = need > chunk.length ? Buffer.allocUnsafe(need) : chunk;
        chunk.copy(next, 0, start, end);
        chunk = next;
        end -= start;
        start = 0;
        const n = readSync(this.#fd, chunk, end, chunk.length - end, position);
        position += n;
        if (n === 0) {
          if (end !== 0) throw new Error(`spool ${this.#file} ends inside a record`);
          return;
        }
        end += n;
        continue;
      }
      const length = chunk.readUInt32BE(start);
      record.lsn = readUInt64(chunk, start + 4);
      record.payload = chunk.subarray(start + HEADER, start + HEADER + length);
      yield record;
      start += HEADER + length;
    }
  }

  dispose(): void {
    closeSync(this.#fd);
  }

  #flush(): void {
    if (this.#buffered === 0) return;
    this.#write(this.#buffer.subarray(0, this.#buffered));
    this.#buffered = 0;
  }

  #write(bytes: Buffer): void {
    let done = 0;
    while (done < bytes.length)
      done += writeSync(this.#fd, bytes, done, bytes.length - done, this.#flushed + done);
    this.#flushed += bytes.length;
  }
}

/** A private directory for one subscription's spool files, removed with it. */
export function createSpoolDirectory(parent: string = tmpdir()): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(parent, 'slotstream-spool-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
