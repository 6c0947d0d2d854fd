import type pg from 'pg';
import copyStreams, { type CopyBothStream } from 'pg-copy-streams';
import { formatLsn, type Lsn } from './lsn.ts';
import { quoteIdent, quoteLiteral } from './names.ts';
import type { PositionTracker } from './positions.ts';
import {
  PRIMARY_KEEPALIVE,
  readKeepalive,
  standbyStatusUpdate,
  XLOG_DATA,
  XLOG_DATA_HEADER_LENGTH,
  xlogDataStart,
} from './wire.ts';

export interface SessionOptions {
  slot: string;
  publication: string;
  startLsn: Lsn;
  protoVersion: number;
  /** Milliseconds between status updates sent regardless of traffic; well inside wal_sender_timeout. */
  statusIntervalMs: number;
  /** Longest an acknowledgement waits before it is reported to the server. */
  ackReportDelayMs: number;
}

/** One pgoutput message as it came off the wire. */
export interface WalMessage {
  /** WAL position of the record the message was decoded from. */
  lsn: Lsn;
  /** The pgoutput message (a view into the frame; copy it to keep it). */
  payload: Buffer;
}

/**
 * One START_REPLICATION on a replication connection, read through pg-copy-streams' copyBoth duplex. The
 * consumer pulls messages; while it does not, the duplex stops reading the socket, TCP fills, and the
 * walsender waits: backpressure reaches the server instead of our memory. Status updates go out on a timer
 * meanwhile (writing is independent of reading), so a slow consumer does not hit wal_sender_timeout.
 */
export class ReplicationSession {
  readonly #stream: CopyBothStream;
  readonly #positions: PositionTracker;
  readonly #options: SessionOptions;
  readonly #timer: NodeJS.Timeout;
  #ackTimer: NodeJS.Timeout | undefined;
  #reportedFlush: Lsn = -1n;
  #closed = false;

  constructor(client: pg.Client, positions: PositionTracker, options: SessionOptions) {
    this.#positions = positions;
    this.#options = options;
    const pluginOptions = [
      `proto_version ${quoteLiteral(String(options.protoVersion))}`,
      `publication_names ${quoteLiteral(quoteIdent(options.publication))}`,
      `messages 'true'`,
      ...(options.protoVersion >= 2 ? [`streaming 'on'`] : []),
    ];
    const sql = `START_REPLICATION SLOT ${quoteIdent(options.slot)} LOGICAL ${formatLsn(options.startLsn)} (${pluginOptions.join(', ')})`;
    // One chunk per CopyData frame: object mode, or the Readable would concatenate buffered frames on read.
    // The high-water mark (in frames) is what we buffer before TCP backpressure pauses the walsender.
    this.#stream = client.query(
      copyStreams.both(sql, {
        alignOnCopyDataFrame: true,
        readableObjectMode: true,
        readableHighWaterMark: 256,
      }),
    );
    // Errors reach the consumer through messages(); after close, a late one (the connection ending under
    // the query) has nobody to tell and must not become an uncaught exception.
    this.#stream.on('error', () => {});
    this.#timer = setInterval(() => this.sendStatus(), options.statusIntervalMs);
    this.#timer.unref();
  }

  /**
   * The pgoutput messages, in WAL order. Keepalives are answered here and never yielded. Ends when the
   * server ends the stream; throws what the server or the connection reported.
   */
  async *messages(): AsyncGenerator<WalMessage> {
    const message: WalMessage = { lsn: 0n, payload: Buffer.alloc(0) };
    // Not destroyed when the consumer stops early: close() must report the last acknowledgement first.
    const frames = this.#stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
    for await (const frame of frames) {
      const kind = frame[0];
      if (kind === XLOG_DATA) {
        message.lsn = xlogDataStart(frame);
        message.payload = frame.subarray(XLOG_DATA_HEADER_LENGTH);
        this.#positions.observe(message.lsn);
        yield message;
      } else if (kind === PRIMARY_KEEPALIVE) {
        const { walEnd, replyRequested } = readKeepalive(frame);
        if (this.#positions.keepalive(walEnd) || replyRequested) this.sendStatus();
      }
    }
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

  sendStatus(): void {
    if (this.#closed || this.#stream.destroyed) return;
    // The tracker keeps received >= flush: nothing is flushed before it was seen.
    const { received, flush } = this.#positions;
    this.#reportedFlush = flush;
    this.#stream.write(standbyStatusUpdate(received, flush, flush));
  }

  /** Reports the final position, then stops reading. The connection is the caller's to end. */
  close(): void {
    if (this.#closed) return;
    this.sendStatus();
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#ackTimer);
    this.#stream.destroy();
  }
}
