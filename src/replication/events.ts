import type { Lsn } from './lsn.ts';
import type { PgoutputMessage } from './pgoutput/types.ts';

/** What a subscription consumer receives, and what it is told about the connection. */

export type SubscriptionStatus =
  | { event: 'connected'; slot: string; startLsn: Lsn; protoVersion: number }
  | { event: 'slot-created'; slot: string; consistentPoint: Lsn; failover: boolean }
  /** An existing slot's failover flag was changed to what the subscription asked for (PostgreSQL 17+). */
  | { event: 'slot-failover-changed'; slot: string; failover: boolean }
  /**
   * The server is on another timeline than at the last session (a standby was promoted): streaming resumes
   * from `forkLsn`, where its timeline forked off the one streamed before (0/0: not a descendant of it, so
   * from the slot's own position).
   */
  | { event: 'timeline-changed'; slot: string; from: number; to: number; forkLsn: Lsn }
  | { event: 'reconnecting'; slot: string; delayMs: number; error: Error }
  | { event: 'waiting-for-slot'; slot: string; pid: number | undefined };

/**
 * The consumer must forget everything it derived from this slot's earlier changes and start over (from a
 * snapshot or from scratch): the slot was lost (its WAL removed), dropped, or was temporary and had to be
 * recreated after a reconnect; or it was given up and recreated because its publication went missing or
 * stopped covering a table (`publication`: what it decoded meanwhile lacks those rows for good, since
 * pgoutput reads the publication as it was at each change) or because the consumer asked (`requested`,
 * Subscription.resync). Changes between the old slot's end and the new one's start are not delivered.
 */
export interface ResetEvent {
  tag: 'reset';
  reason: 'slot-lost' | 'slot-missing' | 'temporary-slot' | 'publication' | 'requested';
  slot: string;
  /** Where the new slot starts. */
  consistentPoint: Lsn;
}

/**
 * The connection was lost in the middle of passing transaction `xid` through: forget the part of it you
 * received. It comes again, whole, from its Begin (or, if the slot was lost, a reset follows instead).
 */
export interface IncompleteEvent {
  tag: 'incomplete';
  xid: number;
  /** Its commit LSN, as its Begin announced. */
  finalLsn: Lsn;
}

/**
 * Transaction boundaries, changes, relation/type announcements, resets, and cut-off transactions;
 * streamed chunks are reassembled.
 */
export type ReplicationEvent =
  | Exclude<PgoutputMessage, { tag: 'stream_start' | 'stream_stop' | 'stream_commit' | 'stream_abort' }>
  | ResetEvent
  | IncompleteEvent;
