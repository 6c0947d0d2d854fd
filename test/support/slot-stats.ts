/** The server's own account of how it decoded a slot, for tests that must show a window was exercised. */
import { query } from './pg.ts';
import { waitFor } from './replication.ts';

export interface DecodingStats {
  /** Transactions the server streamed to the slot before their commit (pgoutput protocol 2+). */
  streamTxns: number;
  /** Transactions it decoded, streamed or not. */
  totalTxns: number;
}

/**
 * `pg_stat_replication_slots` for `slot` (PostgreSQL 14+) once it counts at least `transactions` decoded
 * transactions. The walsender reports these counters when it has decoded something, not when the consumer
 * receives it, so they are waited for; a transaction's streamed parts are reported before it is counted,
 * so once it is, `streamTxns` says for good whether it was streamed.
 */
export function decodingStats(url: string, slot: string, transactions = 1): Promise<DecodingStats> {
  return waitFor(`pg_stat_replication_slots to count ${transactions} transaction(s) of ${slot}`, async () => {
    const [row] = await query<{ stream_txns: string; total_txns: string }>(
      url,
      'SELECT stream_txns::text, total_txns::text FROM pg_stat_replication_slots WHERE slot_name = $1',
      [slot],
    );
    const stats = row && { streamTxns: Number(row.stream_txns), totalTxns: Number(row.total_txns) };
    return stats !== undefined && stats.totalTxns >= transactions ? stats : undefined;
  });
}
