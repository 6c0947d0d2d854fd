import { SlotstreamError } from './errors.ts';
import type { IncompleteEvent, ReplicationEvent } from './events.ts';
import { type Lsn, ZERO_LSN } from './lsn.ts';
import { PgoutputParser } from './pgoutput/parser.ts';
import type { BeginMessage, CommitMessage, StreamCommitMessage } from './pgoutput/types.ts';
import type { PositionTracker } from './positions.ts';
import { TransactionSpool } from './spool.ts';
import { replayParser, replayRelations, type StreamedTransaction, TAG_STREAM_STOP } from './streamed.ts';

/**
 * pgoutput messages → whole transactions, the half of a subscription that needs no server: the
 * Subscription owns the connection and feeds this the messages of one decoding session after another.
 *
 * - Ordinary transactions pass straight through as they arrive (memory stays flat however big they are);
 *   if the session ends between their Begin and Commit, `endSession` says so with an `incomplete` event.
 * - Streamed transactions (pgoutput `streaming`) are spooled to disk per xid and replayed, Begin to Commit,
 *   at Stream Commit, or forgotten at Stream Abort: nothing of an aborted transaction reaches the consumer.
 * - A transaction whose commit LSN is at or below the last one delivered is a redelivery after a reconnect
 *   (the slot restarts from the last acknowledgement), and is skipped.
 *
 * It tells the PositionTracker when a transaction opens, is delivered or is dropped, since whether a
 * keepalive's position may be confirmed depends on that.
 */
export class TransactionAssembler {
  readonly #positions: PositionTracker;
  /** WAL position of the record the event being handed out was decoded from. */
  #eventLsn: Lsn = ZERO_LSN;
  /** Commit LSN of the last transaction delivered: a redelivered one is at or below it. */
  #lastDelivered: Lsn = ZERO_LSN;
  /** The ordinary transaction being passed through: begun, not yet committed. */
  #receiving: { xid: number; finalLsn: Lsn } | undefined;
  // Per decoding session (see startSession):
  #spoolDir = '';
  #parser = new PgoutputParser();
  /** Open streamed transactions: their spool, and the Stream Start that lets a parser read their messages. */
  readonly #streamed = new Map<number, StreamedTransaction>();
  /** The streamed transaction whose Stream Start … Stream Stop block we are inside. */
  #current: StreamedTransaction | undefined;
  /** Inside a transaction already delivered before a reconnect. */
  #skipping = false;
  /** The rest of a streamed transaction being replayed: what `replayed()` hands out. */
  #replay: Generator<ReplicationEvent, void> | undefined;

  constructor(positions: PositionTracker) {
    this.#positions = positions;
  }

  get eventLsn(): Lsn {
    return this.#eventLsn;
  }

  /**
   * A decoding session starts. Its messages need a parser of its own, since pgoutput sends each session
   * the relations afresh; its streamed transactions spool in `spoolDir`.
   */
  startSession(spoolDir: string): void {
    this.#spoolDir = spoolDir;
    this.#parser = new PgoutputParser();
    this.#current = undefined;
    this.#skipping = false;
    this.#receiving = undefined;
    this.#replay = undefined;
  }

  /**
   * The session ended (the connection dropped or was closed). Streamed transactions still open are
   * forgotten: the next session streams them again from their start, as it does the ordinary transaction
   * cut off, which is returned as an `incomplete` event so the consumer forgets the part it received.
   */
  endSession(): IncompleteEvent | undefined {
    this.#replay?.return(); // releases the spool of a replay the consumer did not finish
    this.#replay = undefined;
    for (const txn of this.#streamed.values()) txn.spool.dispose();
    this.#streamed.clear();
    this.#current = undefined;
    const cut = this.#receiving;
    this.#receiving = undefined;
    return cut && { tag: 'incomplete', xid: cut.xid, finalLsn: cut.finalLsn };
  }

  /** The slot was created (anew): its transactions are all new to the consumer, none a redelivery. */
  /** See PositionTracker.rewind: a transaction committed past `fork` is a new one, not a redelivery. */
  rewind(fork: Lsn): void {
    if (this.#lastDelivered > fork) this.#lastDelivered = fork;
  }

  slotCreated(): void {
    this.#lastDelivered = ZERO_LSN;
  }

  /**
   * One pgoutput message, `buf` from `start` on (an XLogData frame after its header: taking the offset
   * spares a view per frame), decoded from the WAL record at `lsn`: the event it completes, if any. A
   * Stream Commit completes a whole transaction: this returns its Begin, and `replayed()` the rest, read
   * back from disk as the consumer pulls. One event per call, not a generator: this runs once per message
   * received, and an iterator per message was a measurable share of a reader's time.
   */
  receive(lsn: Lsn, buf: Buffer, start = 0): ReplicationEvent | undefined {
    this.#eventLsn = lsn;
    const positions = this.#positions;
    if (this.#current) {
      if (buf[start] === TAG_STREAM_STOP) {
        this.#parser.parse(buf, start); // leaves the block
        this.#current = undefined;
      } else {
        // Relation and Type messages too, in order: a relation may change inside the transaction. Inside a
        // block every message carries its (sub)transaction's xid first, which a subtransaction abort needs.
        const subxid = buf.readUInt32BE(start + 1);
        this.#current.spool.append(subxid, lsn, buf.subarray(start));
      }
      return undefined;
    }
    const parsed = this.#parser.parse(buf, start);
    switch (parsed.tag) {
      case 'begin':
        positions.transactionOpened();
        this.#skipping = parsed.finalLsn <= this.#lastDelivered;
        if (this.#skipping) return undefined;
        this.#receiving = { xid: parsed.xid, finalLsn: parsed.finalLsn };
        return parsed;
      case 'commit':
        if (this.#skipping) {
          positions.transactionDropped();
          this.#skipping = false;
          return undefined;
        }
        this.#delivered(parsed);
        return parsed;
      case 'stream_start': {
        let txn = this.#streamed.get(parsed.xid);
        if (!txn) {
          txn = {
            spool: new TransactionSpool(this.#spoolDir, parsed.xid),
            streamStart: Buffer.from(buf.subarray(start)),
          };
          this.#streamed.set(parsed.xid, txn);
          positions.transactionOpened();
        }
        this.#current = txn;
        return undefined;
      }
      case 'stream_abort': {
        const txn = this.#streamed.get(parsed.xid);
        if (parsed.subxid !== parsed.xid) {
          txn?.spool.abortSubtransaction(parsed.subxid);
        } else if (txn) {
          txn.spool.dispose();
          this.#streamed.delete(parsed.xid);
          positions.transactionDropped();
        }
        return undefined;
      }
      case 'stream_commit':
        return this.#streamCommit(lsn, parsed);
      case 'stream_stop':
        return undefined;
      default:
        return this.#skipping ? undefined : parsed;
    }
  }

  /**
   * The next event of the streamed transaction whose Stream Commit `receive` last returned the Begin of,
   * or undefined once its Commit has been handed out (and whenever no replay is under way).
   */
  replayed(): ReplicationEvent | undefined {
    const replay = this.#replay;
    if (replay === undefined) return undefined;
    const next = replay.next();
    if (next.done !== true) return next.value;
    this.#replay = undefined;
    return undefined;
  }

  /** A streamed transaction committed: its Begin now, the rest from its spool through `replayed()`. */
  #streamCommit(lsn: Lsn, message: StreamCommitMessage): ReplicationEvent | undefined {
    const txn = this.#streamed.get(message.xid);
    this.#streamed.delete(message.xid);
    if (!txn)
      throw new SlotstreamError(`Stream Commit for transaction ${message.xid} that never started streaming`);
    if (message.commitLsn <= this.#lastDelivered) {
      try {
        // Already delivered, but pgoutput now counts its relations as sent: learn them anyway.
        this.#parser.adoptRelations(replayRelations(txn, this.#parser));
        this.#positions.transactionDropped();
      } finally {
        txn.spool.dispose();
      }
      return undefined;
    }
    const replay = this.#replayStreamed(lsn, txn, message);
    this.#replay = replay;
    // Started at once, so that its `finally` releases the spool however the replay ends.
    const begin = replay.next();
    return begin.done === true ? undefined : begin.value;
  }

  /** A committed streamed transaction as Begin, changes and Commit, read back from its spool as pulled. */
  *#replayStreamed(
    lsn: Lsn,
    txn: StreamedTransaction,
    message: StreamCommitMessage,
  ): Generator<ReplicationEvent, void> {
    try {
      const { commitLsn, endLsn, commitTime, commitTimeMicros, xid, flags } = message;
      // From its Begin on the consumer holds part of it, like an ordinary transaction passing through.
      this.#receiving = { xid, finalLsn: commitLsn };
      yield { tag: 'begin', finalLsn: commitLsn, commitTime, commitTimeMicros, xid } satisfies BeginMessage;
      const replay = replayParser(txn, this.#parser);
      for (const record of txn.spool.messages()) {
        this.#eventLsn = record.lsn;
        yield replay.parse(record.payload) as ReplicationEvent;
      }
      this.#eventLsn = lsn;
      // pgoutput counts the relations sent inside a committed streamed transaction as sent for the
      // ordinary path too, so later transactions rely on them without repeating them.
      this.#parser.adoptRelations(replay);
      const commit: CommitMessage = { tag: 'commit', flags, commitLsn, endLsn, commitTime, commitTimeMicros };
      this.#delivered(commit);
      yield commit;
    } finally {
      txn.spool.dispose();
    }
  }

  #delivered(commit: CommitMessage): void {
    this.#lastDelivered = commit.commitLsn;
    this.#receiving = undefined;
    this.#positions.transactionDelivered(commit.endLsn);
  }
}
