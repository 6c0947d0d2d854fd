/**
 * pgoutput messages (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html) as a
 * union discriminated on `tag`.
 *
 * Conventions:
 * - LSNs are `Lsn` (unsigned 64-bit bigint).
 * - OIDs and xids are unsigned 32-bit numbers.
 * - Timestamps come twice: `…Time` is a `Date` (millisecond precision) and `…TimeMicros` is the raw value
 *   the server sent, a bigint count of microseconds since 2000-01-01 00:00:00 UTC (the PostgreSQL epoch),
 *   exact to the microsecond. `pgEpochMicrosToDate` converts one into the other.
 * - `xid` on DML, Relation, Type, Message and Truncate is set when the message is inside a Stream Start …
 *   Stream Stop block (protocol ≥ 2 with streaming), and `undefined` otherwise (then the transaction is the
 *   one opened by the last Begin). Inside a stream it is the xid of the (sub)transaction that made the
 *   change — a SUBtransaction's xid for changes made after a SAVEPOINT, not necessarily the Stream Start's
 *   xid — which is what a Stream Abort's `subxid` refers to.
 */
import type { Lsn } from '../lsn.ts';
import type { PgValue } from './values.ts';

/** A decoded row: column name → value. Only published columns appear. */
export type Row = Record<string, PgValue>;

/** pg_class.relreplident: default (primary key), nothing, full, index. */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

export interface RelationColumn {
  name: string;
  /** Unsigned type OID. */
  typeOid: number;
  /** atttypmod (-1 when none). */
  typeMod: number;
  /** Part of the replica identity key (flag bit 1). */
  isKey: boolean;
}

/** A published table as the last Relation message for its OID described it. */
export interface Relation {
  /** Unsigned pg_class OID. */
  oid: number;
  schema: string;
  name: string;
  replicaIdentity: ReplicaIdentity;
  columns: RelationColumn[];
}

export interface BeginMessage {
  tag: 'begin';
  /** The transaction's final LSN: the LSN of its commit record (the Commit message's `commitLsn`). */
  finalLsn: Lsn;
  commitTime: Date;
  commitTimeMicros: bigint;
  xid: number;
}

export interface CommitMessage {
  tag: 'commit';
  /** Unused by PostgreSQL so far (always 0). */
  flags: number;
  /** The LSN of the commit record; equals the Begin's commitLsn. */
  commitLsn: Lsn;
  /** The end of the commit record: the position to confirm once the transaction is applied. */
  endLsn: Lsn;
  commitTime: Date;
  commitTimeMicros: bigint;
}

/** Sent after Begin when the transaction was replayed under a replication origin. */
export interface OriginMessage {
  tag: 'origin';
  /** The commit LSN on the origin server. */
  originLsn: Lsn;
  originName: string;
}

export interface RelationMessage {
  tag: 'relation';
  xid: number | undefined;
  /** The same object DML messages for this OID carry until the next Relation message replaces it. */
  relation: Relation;
}

/** Describes a non-built-in type (enum, domain, …) used by a column of a following Relation message. */
export interface TypeMessage {
  tag: 'type';
  xid: number | undefined;
  typeOid: number;
  schema: string;
  name: string;
}

export interface InsertMessage {
  tag: 'insert';
  xid: number | undefined;
  relation: Relation;
  new: Row;
}

/**
 * Update. Without an old tuple (`key` and `old` both null) the replica identity did not change; `key` (the
 * K form) holds only the identity columns of the old row when they changed; `old` (the O form) is the whole
 * old row under REPLICA IDENTITY FULL.
 */
export interface UpdateMessage {
  tag: 'update';
  xid: number | undefined;
  relation: Relation;
  key: Row | null;
  old: Row | null;
  new: Row;
}

/** Delete: exactly one of `key` (identity columns only) or `old` (REPLICA IDENTITY FULL) is set. */
export interface DeleteMessage {
  tag: 'delete';
  xid: number | undefined;
  relation: Relation;
  key: Row | null;
  old: Row | null;
}

export interface TruncateMessage {
  tag: 'truncate';
  xid: number | undefined;
  relations: Relation[];
  cascade: boolean;
  restartIdentity: boolean;
}

/** A pg_logical_emit_message message (sent with the `messages` option). */
export interface LogicalMessage {
  tag: 'message';
  xid: number | undefined;
  /** Transactional messages arrive inside their transaction; others arrive alone, outside any Begin/Commit. */
  transactional: boolean;
  flags: number;
  lsn: Lsn;
  prefix: string;
  /** A view into the message buffer: copy it if you keep it beyond the buffer's life. */
  content: Buffer;
}

/** Opens a block of changes of an in-progress transaction `xid` (protocol ≥ 2, streaming on). */
export interface StreamStartMessage {
  tag: 'stream_start';
  xid: number;
  /** The first block of this transaction. */
  firstSegment: boolean;
}

export interface StreamStopMessage {
  tag: 'stream_stop';
}

export interface StreamCommitMessage {
  tag: 'stream_commit';
  xid: number;
  flags: number;
  commitLsn: Lsn;
  endLsn: Lsn;
  commitTime: Date;
  commitTimeMicros: bigint;
}

/**
 * A streamed (sub)transaction aborted: discard the changes of `subxid` (when `subxid === xid`, the whole
 * transaction). `abortLsn` and `abortTime` are sent only with protocol 4 and `streaming = parallel`;
 * otherwise they are null.
 */
export interface StreamAbortMessage {
  tag: 'stream_abort';
  xid: number;
  subxid: number;
  abortLsn: Lsn | null;
  abortTime: Date | null;
  abortTimeMicros: bigint | null;
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | StreamStartMessage
  | StreamStopMessage
  | StreamCommitMessage
  | StreamAbortMessage;

export type PgoutputTag = PgoutputMessage['tag'];

/** Microseconds between 1970-01-01 and 2000-01-01. */
export const PG_EPOCH_OFFSET_MICROS = 946_684_800_000_000n;

/**
 * A PostgreSQL TimestampTz (µs since 2000-01-01 UTC) as a Date, truncated to the millisecond. For the
 * `…TimeMicros` fields, e.g. a Begin message's `commitTimeMicros`.
 *
 * @example
 * ```ts
 * import { pgEpochMicrosToDate } from 'slotstream/pgoutput';
 * pgEpochMicrosToDate(1_500n); // 2000-01-01T00:00:00.001Z
 * ```
 */
export function pgEpochMicrosToDate(micros: bigint): Date {
  const unixMicros = micros + PG_EPOCH_OFFSET_MICROS;
  // Floor division so that negative values round towards the past, like positive ones.
  let ms = unixMicros / 1000n;
  if (unixMicros < 0n && ms * 1000n !== unixMicros) ms -= 1n;
  return new Date(Number(ms));
}
