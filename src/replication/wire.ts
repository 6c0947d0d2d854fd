/**
 * The replication sub-protocol inside CopyData (PostgreSQL "Streaming Replication Protocol"):
 * the server's XLogData ('w') and Primary keepalive ('k') frames, and our Standby status update ('r').
 */
import { MalformedMessageError } from './errors.ts';
import type { Lsn } from './lsn.ts';
import { readUInt64 } from './pgoutput/binary-reader.ts';
import { PG_EPOCH_OFFSET_MICROS } from './pgoutput/types.ts';

export const XLOG_DATA = 0x77; // 'w'
export const PRIMARY_KEEPALIVE = 0x6b; // 'k'
const STANDBY_STATUS_UPDATE = 0x72; // 'r'

/** 'w' + walStart(8) + walEnd(8) + sendTime(8): the pgoutput message follows. */
export const XLOG_DATA_HEADER_LENGTH = 25;
/** 'k' + walEnd(8) + sendTime(8) + replyRequested(1). */
const KEEPALIVE_LENGTH = 18;

export function nowPgMicros(nowMs: number = Date.now()): bigint {
  return BigInt(nowMs) * 1000n - PG_EPOCH_OFFSET_MICROS;
}

export interface Keepalive {
  walEnd: Lsn;
  replyRequested: boolean;
}

/**
 * Short frames are MalformedMessageError, not RangeError: bytes the server sent wrong would come back the
 * same after a reconnect, so they must stop the subscription rather than pass for a dropped connection.
 */
export function readKeepalive(frame: Buffer): Keepalive {
  if (frame.length < KEEPALIVE_LENGTH)
    throw new MalformedMessageError(
      'k',
      0,
      `keepalive frame of ${frame.length} bytes, expected ${KEEPALIVE_LENGTH}`,
    );
  return { walEnd: readUInt64(frame, 1), replyRequested: frame[17] === 1 };
}

/** The WAL start of an XLogData frame: the LSN of the record its message was decoded from. */
export function xlogDataStart(frame: Buffer): Lsn {
  if (frame.length < XLOG_DATA_HEADER_LENGTH)
    throw new MalformedMessageError(
      'w',
      0,
      `XLogData frame of ${frame.length} bytes, shorter than its header`,
    );
  return readUInt64(frame, 1);
}

/**
 * Standby status update. For a logical slot, `flush` becomes confirmed_flush_lsn: the server will not send
 * transactions that committed before it again, and may recycle the WAL behind it.
 */
export function standbyStatusUpdate(
  write: Lsn,
  flush: Lsn,
  apply: Lsn,
  replyRequested = false,
  nowMs = Date.now(),
): Buffer {
  const buf = Buffer.allocUnsafe(34);
  buf[0] = STANDBY_STATUS_UPDATE;
  buf.writeBigUInt64BE(write, 1);
  buf.writeBigUInt64BE(flush, 9);
  buf.writeBigUInt64BE(apply, 17);
  buf.writeBigInt64BE(nowPgMicros(nowMs), 25);
  buf[33] = replyRequested ? 1 : 0;
  return buf;
}
