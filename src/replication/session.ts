import type pg from 'pg';
import copyStreams, { type CopyBothStream } from 'pg-copy-streams';
import { FrameQueue } from './frame-queue.ts';
import { formatLsn, type Lsn } from './lsn.ts';
import { quoteIdent, quoteLiteral } from './names.ts';
import type { PositionTracker } from './positions.ts';
import { readKeepalive, standbyStatusUpdate } from './wire.ts';

export interface SessionOptions {
  slot: string;
  publication: string;
  startLsn: Lsn;
  protoVersion: number;
  /** Milliseconds between status updates sent regardless of traffic; well inside wal_sender_timeout. */
  statusIntervalMs: number;
  /**
   * Silence from the server after which the connection counts as dead (like wal_receiver_timeout): a
   * dropped network path sends no error, and TCP alone may take many minutes to notice. Half-way through,
   * we ask the server to reply.
   */
  receiveTimeoutMs: number;
  /** Longest an acknowledgement waits before it is reported to the server. */
  ackReportDelayMs: number;
  /** Bytes of frames held for the consumer; reading from the server pauses at this bound. */
  readBufferBytes: number;
}

/**
 * One START_REPLICATION on a replication connection, read through pg-copy-streams' copyBoth duplex. Frames
 * flow from the duplex into a queue bounded in bytes, and the consumer takes the whole queue at once. When
 * the queue is full the duplex is paused: it stops reading the socket, TCP fills, and the walsender waits,
 * so backpressure reaches the server instead of our memory. Status updates go out on a timer meanwhile
 * (writing is independent of reading), so a slow consumer does not hit wal_sender_timeout.
 */
export class ReplicationSession {
  readonly #stream: CopyBothStream;
  /** Frames received and not yet taken by the consumer. */
  readonly #queue: FrameQueue;
  /** The duplex is paused because the queue is full. */
  #paused = false;
  readonly #positions: PositionTracker;
  readonly #options: SessionOptions;
  readonly #timer: NodeJS.Timeout;
  #ackTimer: NodeJS.Timeout | undefined;
  #reportedFlush: Lsn = -1n;
  #closed = false;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  /** When the server last sent anything (a frame reached us). */
  #lastHeard = Date.now();

  constructor(client: pg.Client, positions: PositionTracker, options: SessionOptions) {
    this.#positions = positions;
    this.#options = options;
    this.#queue = new FrameQueue(options.readBufferBytes);
    const pluginOptions = [
      `proto_version ${quoteLiteral(String(options.protoVersion))}`,
      `publication_names ${quoteLiteral(quoteIdent(options.publication))}`,
      `messages 'true'`,
      ...(options.protoVersion >= 2 ? [`streaming 'on'`] : []),
    ];
    const sql = `START_REPLICATION SLOT ${quoteIdent(options.slot)} LOGICAL ${formatLsn(options.startLsn)} (${pluginOptions.join(', ')})`;
    // One chunk per CopyData frame: object mode, or the Readable would concatenate buffered frames. Frames
    // are taken as they come ('data'), with no read() per frame; the duplex buffers only while paused, and
    // its high-water mark of one frame makes it stop reading the socket then (after the rest of the socket
    // read it is parsing), so what is held in memory is the queue's bound and about one socket read more.
    this.#stream = client.query(
      copyStreams.both(sql, {
        alignOnCopyDataFrame: true,
        readableObjectMode: true,
        readableHighWaterMark: 1,
      }),
    );
    const wake = () => {
      this.#wake?.();
      this.#wake = undefined;
    };
    this.#stream.on('data', (frame: Buffer) => {
      if (!this.#queue.push(frame) && !this.#paused) {
        this.#paused = true;
        this.#stream.pause();
      }
      if (this.#wake !== undefined) wake();
    });
    // Errors reach the consumer through nextBatch(); after close, a late one (the connection ending under
    // the query) has nobody to tell, and the listener keeps it from becoming an uncaught exception.
    this.#stream.on('error', (err) => {
      this.#failure ??= err;
      wake();
    });
    this.#stream.on('end', () => {
      this.#ended = true;
      wake();
    });
    this.#stream.on('close', () => {
      this.#ended = true;
      wake();
    });
    this.#timer = setInterval(() => this.#tick(), options.statusIntervalMs);
    this.#timer.unref();
    // The duplex holds writes until the server's CopyBothResponse, so the first status update's callback
    // is the moment START_REPLICATION was accepted; an error or an end before it is its refusal (a slot in
    // use, a missing publication, ...).
    this.ready = new Promise<void>((resolve, reject) => {
      const refused = (err?: Error) =>
        reject(err ?? new Error('the server closed the stream before streaming began'));
      this.#stream.once('error', refused);
      this.#stream.once('close', refused);
      this.#stream.write(standbyStatusUpdate(positions.received, positions.flush, positions.flush), (err) => {
        this.#stream.off('error', refused);
        this.#stream.off('close', refused);
        if (err) refused(err);
        else resolve();
      });
    });
    this.ready.catch(() => {}); // also reported by nextBatch(); not an unhandled rejection when unawaited
  }

  /** Resolves once the server accepted START_REPLICATION; rejects with its refusal. */
  readonly ready: Promise<void>;

  /** Reading from the server is paused: the queue is full until the consumer takes from it. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * The frames that have arrived, in order (at least one; waits when there are none), or null once the
   * server ended the stream. Throws what the server or the connection reported, once the frames received
   * before it are taken. Handing over everything queued at once, rather than a promise per frame, is what
   * lets the consumer keep up with the walsender; the queue's bound in bytes bounds the work between two
   * looks at the event loop, since only I/O refills it. XLogData frames go to the caller; pass keepalives to
   * keepalive() in their turn, since whether their position may be confirmed depends on everything before
   * them having been processed.
   */
  async nextBatch(): Promise<readonly Buffer[] | null> {
    for (;;) {
      if (this.#queue.length > 0) {
        const batch = this.#queue.take();
        if (this.#paused && !this.#closed) {
          this.#paused = false;
          this.#stream.resume();
        }
        this.#lastHeard = Date.now();
        return batch;
      }
      if (this.#failure) throw this.#failure;
      if (this.#ended || this.#closed) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /**
   * A keepalive frame: confirms its position when nothing is unprocessed, and answers when asked. A
   * position it confirms is reported with the next batch of acknowledgements, not at once: the walsender
   * sends a keepalive after every transaction, and a status write per transaction cost a reader about a
   * fifth of its time under load.
   */
  keepalive(frame: Buffer): void {
    const { walEnd, replyRequested } = readKeepalive(frame);
    const advanced = this.#positions.keepalive(walEnd);
    if (replyRequested) this.sendStatus();
    else if (advanced) this.acknowledged();
  }

  /** Reports an acknowledgement soon, batching the acks of small transactions into one update. */
  acknowledged(): void {
    if (this.#ackTimer || this.#closed) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      if (this.#positions.flush !== this.#reportedFlush) this.sendStatus();
    }, this.#options.ackReportDelayMs);
    this.#ackTimer.unref();
  }

  sendStatus(replyRequested = false): void {
    if (this.#closed || this.#stream.destroyed) return;
    // The tracker keeps received >= flush: nothing is flushed before it was seen.
    const { received, flush } = this.#positions;
    this.#reportedFlush = flush;
    this.#stream.write(standbyStatusUpdate(received, flush, flush, replyRequested));
  }

  /** The status timer: report, and watch for a server gone silent. */
  #tick(): void {
    // Frames waiting for a busy consumer are news from the server too: only an empty buffer is silence.
    if (this.#queue.length > 0 || this.#stream.readableLength > 0) this.#lastHeard = Date.now();
    const silentMs = Date.now() - this.#lastHeard;
    if (silentMs >= this.#options.receiveTimeoutMs) {
      this.#stream.destroy(
        new Error(`no message from the server for ${silentMs} ms; the connection counts as lost`),
      );
    } else {
      this.sendStatus(silentMs >= this.#options.receiveTimeoutMs / 2);
    }
  }

  /** Reports the final position, then stops reading. The connection is the caller's to end. */
  close(): void {
    if (this.#closed) return;
    this.sendStatus();
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#ackTimer);
    this.#stream.destroy();
    this.#queue.clear();
  }
}
