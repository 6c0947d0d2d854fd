/**
 * Output that tells when it is written: `tail` acknowledges a transaction only once its lines have left
 * the process, and stops reading the slot while the reader of stdout is slower than the stream
 * (backpressure), so a slow pipe never makes the process buffer the WAL in memory.
 */

/** The reader of our output went away (a closed pipe: `slotstream tail | head`, or a dead consumer). */
export class OutputClosedError extends Error {
  override name = 'OutputClosedError';
  constructor(cause: unknown) {
    super(`output closed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

export class LineWriter {
  readonly #stream: NodeJS.WritableStream;
  #last: Promise<void> = Promise.resolve();
  #failure: OutputClosedError | undefined;
  #onError = (err: unknown) => {
    this.#failure ??= new OutputClosedError(err);
  };

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    // Without a listener, EPIPE on stdout would be an uncaught exception instead of an orderly stop.
    stream.on('error', this.#onError);
  }

  /** Queues `text`; resolves at once, or, when the stream's buffer is full, once it has drained. */
  async write(text: string): Promise<void> {
    if (this.#failure) throw this.#failure;
    let accepted = true;
    const written = new Promise<void>((resolve, reject) => {
      accepted = this.#stream.write(text, (err) => (err ? reject(new OutputClosedError(err)) : resolve()));
    });
    written.catch(() => {}); // observed through flushed()
    this.#last = written;
    if (!accepted) await this.#drained();
  }

  /** Resolves once everything written so far was handed to the operating system; rejects if it cannot be. */
  flushed(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return this.#last;
  }

  /** Stops listening to the stream. */
  release(): void {
    this.#stream.off('error', this.#onError);
  }

  #drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: unknown) => {
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
  }
}
