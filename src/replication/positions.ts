import type { Lsn } from './lsn.ts';

/**
 * The three positions a consumer must keep apart (received, delivered, acknowledged) and the one it may
 * report to the server as flushed. Pure bookkeeping, so the rules are unit-tested without a server:
 *
 * - `flush` only ever covers transactions whose consumer acknowledged them (nothing is lost: docs/design.md).
 * - A keepalive's wal_end is taken as flushed only when nothing received is still unprocessed: no
 *   transaction open, none delivered and unacknowledged. An idle database then does not pin WAL, and a
 *   busy one never has its unprocessed work skipped after a crash.
 */
export class PositionTracker {
  /** Highest WAL position seen in any frame. Reported as `write`. */
  received: Lsn;
  /** Highest position the server may forget: reported as `flush` and `apply`. */
  flush: Lsn;
  /** End LSN of the last transaction handed to the consumer. */
  #deliveredEnd: Lsn;
  /** Between a Begin (or Stream Start) and its Commit: the transaction is only partly received. */
  #openTransactions = 0;

  constructor(start: Lsn) {
    this.received = start;
    this.flush = start;
    this.#deliveredEnd = start;
  }

  /**
   * A new session on the same slot: transactions that were arriving are cut off and will come again from
   * their Begin. Delivered-but-unacknowledged ones stay unprocessed until the consumer acknowledges them,
   * so a keepalive cannot confirm past them in the meantime.
   */
  restart(): void {
    this.#openTransactions = 0;
  }

  /** A new slot, starting at `start`: nothing of the old one counts any more. */
  reset(start: Lsn): void {
    this.received = start;
    this.flush = start;
    this.#deliveredEnd = start;
    this.#openTransactions = 0;
  }

  /**
   * The server is on a timeline that forked off the one streamed so far at `fork` (a promoted standby):
   * past it, the same positions hold other WAL, so nothing past it counts as received, delivered or
   * confirmed, and streaming resumes from the fork at the latest.
   */
  rewind(fork: Lsn): void {
    if (this.received > fork) this.received = fork;
    if (this.flush > fork) this.flush = fork;
    if (this.#deliveredEnd > fork) this.#deliveredEnd = fork;
    this.#openTransactions = 0;
  }

  observe(lsn: Lsn): void {
    if (lsn > this.received) this.received = lsn;
  }

  transactionOpened(): void {
    this.#openTransactions++;
  }

  /** A transaction's commit was handed to the consumer; `endLsn` is the end of its commit record. */
  transactionDelivered(endLsn: Lsn): void {
    if (this.#openTransactions > 0) this.#openTransactions--;
    if (endLsn > this.#deliveredEnd) this.#deliveredEnd = endLsn;
    this.observe(endLsn);
  }

  /** A received transaction that will never be delivered (aborted while streamed, or already applied). */
  transactionDropped(): void {
    if (this.#openTransactions > 0) this.#openTransactions--;
  }

  /** The consumer finished the transaction ending at `endLsn`. Returns whether `flush` moved. */
  acknowledge(endLsn: Lsn): boolean {
    const next = endLsn > this.#deliveredEnd ? this.#deliveredEnd : endLsn;
    if (next <= this.flush) return false;
    this.flush = next;
    return true;
  }

  /** Everything received has been processed: no open transaction, every delivered one acknowledged. */
  get idle(): boolean {
    return this.#openTransactions === 0 && this.flush >= this.#deliveredEnd;
  }

  /** A keepalive reported `walEnd`. Returns whether `flush` moved. */
  keepalive(walEnd: Lsn): boolean {
    this.observe(walEnd);
    if (!this.idle || walEnd <= this.flush) return false;
    this.flush = walEnd;
    this.#deliveredEnd = walEnd;
    return true;
  }
}
