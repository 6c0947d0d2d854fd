/** Streamed (in-progress) transactions: what we keep of one until its Stream Commit, and its replay. */
import { PgoutputParser } from './pgoutput/parser.ts';
import type { TransactionSpool } from './spool.ts';

export const TAG_STREAM_STOP = 0x45; // 'E'
const TAG_RELATION = 0x52; // 'R'
const TAG_TYPE = 0x59; // 'Y'

export interface StreamedTransaction {
  spool: TransactionSpool;
  /** Its first Stream Start message, which puts a parser inside a stream block (messages carry an xid). */
  streamStart: Buffer;
}

/**
 * A parser for replaying a streamed transaction: it knows the relations known before the transaction (for
 * any whose Relation message went with a rolled-back subtransaction), and the transaction's own Relation
 * messages replay in order.
 */
export function replayParser(txn: StreamedTransaction, main: PgoutputParser): PgoutputParser {
  const replay = new PgoutputParser();
  replay.adoptRelations(main);
  replay.parse(txn.streamStart);
  return replay;
}

/** Replays only a streamed transaction's Relation and Type messages, for their effect on the parser. */
export function replayRelations(txn: StreamedTransaction, main: PgoutputParser): PgoutputParser {
  const replay = replayParser(txn, main);
  for (const { payload } of txn.spool.messages()) {
    if (payload[0] === TAG_RELATION || payload[0] === TAG_TYPE) replay.parse(payload);
  }
  return replay;
}
