/** Default bound on the frames a session holds for its consumer. */
const DEFAULT_READ_BUFFER_BYTES = 4 << 20;

/** A read buffer's bound: `bytes` (by default 4 MiB) when it is a positive whole number, else RangeError. */
export function readBufferLimit(bytes: number = DEFAULT_READ_BUFFER_BYTES): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new RangeError(`a read buffer of ${bytes} bytes: it must be a positive whole number of bytes`);
  return bytes;
}

const NO_FRAMES: readonly Buffer[] = Object.freeze([]);

/**
 * CopyData frames received and not yet taken by the consumer, bounded in bytes. A count of frames bounds
 * nothing: a keepalive is 18 bytes and one row can be megabytes. `push` says when the bound is reached, so
 * the caller stops reading from the server until `take` has made room again.
 */
export class FrameQueue {
  /** Bytes at which the queue counts as full. */
  readonly limit: number;
  #frames: Buffer[] = [];
  #bytes = 0;

  constructor(limit: number) {
    this.limit = readBufferLimit(limit);
  }

  /** Bytes of the frames queued. */
  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#frames.length;
  }

  /**
   * Queues a frame, always (it has been read already), and returns whether there is still room. A frame
   * bigger than the whole bound is taken too: the bound is on what waits, not on one message.
   */
  push(frame: Buffer): boolean {
    this.#frames.push(frame);
    this.#bytes += frame.length;
    return this.#bytes < this.limit;
  }

  /** Every frame queued, oldest first, in one array (handed over, not copied); empty when none. */
  take(): readonly Buffer[] {
    const frames = this.#frames;
    if (frames.length === 0) return NO_FRAMES;
    this.#frames = [];
    this.#bytes = 0;
    return frames;
  }

  /** Forgets what is queued (the session is over: nobody will take it). */
  clear(): void {
    this.#frames = [];
    this.#bytes = 0;
  }
}
