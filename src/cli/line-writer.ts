/**
 * Output that tells when it is written: `tail` acknowledges a transaction only once its lines have left
 * the process, and stops reading the slot while the reader of stdout is slower than the stream
 * (backpressure), so a slow pipe never makes the process buffer the WAL in memory.
 *
 * Lines are gathered into chunks of about CHUNK_CHARS and each chunk is one write: a write per line costs a
 * system call, a callback and a promise per line, more than building the line does. What is gathered goes
 * out when a chunk is full or, at the latest, once the event loop is idle (the source has nothing more for
 * now), so a quiet stream's lines are not held back.
 */

/** Text gathered before it is handed to the stream in one write. */
export const CHUNK_CHARS = 64 * 1024;

/** The reader of our output went away (a closed pipe: `slotstream tail | head`, or a dead consumer). */
export class OutputClosedError extends Error {
  override name = 'OutputClosedError';
  constructor(cause: unknown) {
    super(`output closed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

export class LineWriter {
  readonly #stream: NodeJS.WritableStream;
  /** Text not yet handed to the stream. */
  #pending = '';
  /** Called once #pending has been written. */
  #pendingCallbacks: (() => void)[] = [];
  /** Settles once the last chunk handed to the stream has been written, or could not be. */
  #last: Promise<void> = Promise.resolve();
  /** While the stream holds more than its high-water mark: resolves when it drains. */
  #full: Promise<void> | undefined;
  #idleFlush: NodeJS.Immediate | undefined;
  #failure: OutputClosedError | undefined;
  #onError = (err: unknown) => {
    this.#failure ??= new OutputClosedError(err);
  };

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    // Without a listener, EPIPE on stdout would be an uncaught exception instead of an orderly stop.
    stream.on('error', this.#onError);
  }

  /**
   * Adds `text`. Returns a promise while the stream is full: wait for it before writing more. Returning
   * nothing otherwise spares the caller a turn of the microtask queue per line.
   */
  write(text: string): Promise<void> | undefined {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#pending += text;
    if (this.#pending.length >= CHUNK_CHARS) this.#send();
    else if (this.#pending !== '') this.#idleFlush ??= setImmediate(() => this.#send());
    return this.#full;
  }

  /** Calls `callback` once everything written so far has left the process; never, if it cannot. */
  whenWritten(callback: () => void): void {
    if (this.#pending !== '') this.#pendingCallbacks.push(callback);
    else this.#last.then(callback, () => {});
  }

  /**
   * Hands over what is gathered; resolves once everything written so far has left the process, rejects if
   * it cannot.
   */
  flushed(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#send();
    return this.#last;
  }

  /** Stops listening to the stream; what is not flushed by then is dropped. */
  release(): void {
    clearImmediate(this.#idleFlush);
    this.#idleFlush = undefined;
    this.#stream.off('error', this.#onError);
  }

  #send(): void {
    clearImmediate(this.#idleFlush);
    this.#idleFlush = undefined;
    if (this.#pending === '' || this.#failure) return;
    const text = this.#pending;
    const callbacks = this.#pendingCallbacks;
    this.#pending = '';
    this.#pendingCallbacks = [];
    const { promise: written, callback: onWritten } = writeCallback();
    const accepted = this.#stream.write(text, onWritten);
    written.then(
      () => {
        for (const callback of callbacks) callback();
      },
      () => {}, // observed through flushed()
    );
    this.#last = written;
    if (!accepted) this.#full ??= this.#drained();
  }

  #drained(): Promise<void> {
    const drained = new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        this.#full = undefined;
        this.#stream.off('drain', onDrain);
        this.#stream.off('error', onError);
        this.#stream.off('close', onClose);
        if (err) reject(this.#failure ?? new OutputClosedError(err));
        else resolve();
      };
      const onDrain = () => done();
      const onError = (err: unknown) => done(err);
      const onClose = () => done(new Error('stream closed'));
      this.#stream.on('drain', onDrain);
      this.#stream.on('error', onError);
      this.#stream.on('close', onClose);
    });
    drained.catch(() => {}); // a chunk sent while idle may fill the stream with no writer waiting on it
    return drained;
  }
}

/**
 * A write's callback and the promise it settles. Made apart from the text written: a callback that could
 * reach the text (a closure in the same scope) keeps every chunk alive for as long as the stream holds on to
 * the callback, and past the young generation, where only a full collection frees it.
 */
function writeCallback(): { promise: Promise<void>; callback: (err?: Error | null) => void } {
  let callback: (err?: Error | null) => void = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    callback = (err) => (err ? reject(new OutputClosedError(err)) : resolve());
  });
  return { promise, callback };
}
