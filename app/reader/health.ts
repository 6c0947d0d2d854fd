import { formatLsn, type StreamReader } from 'slotstream';

/** Bytes of WAL received but not yet applied, and how old the last applied commit is while some wait. */
export function readerLag(reader: StreamReader): { bytes: number; ms: number } {
  const stats = reader.stats;
  let done = stats.appliedLsn;
  if (stats.confirmedLsn > done) done = stats.confirmedLsn;
  const behind = stats.receivedLsn > done ? Number(stats.receivedLsn - done) : 0;
  const ms =
    behind > 0 && stats.lastCommitTime !== undefined
      ? Math.max(0, Date.now() - stats.lastCommitTime.getTime())
      : 0;
  return { bytes: behind, ms };
}

/** GET /health: the slot, the applied position and LSN, the lag. */
export function readerHealth(reader: StreamReader) {
  const stats = reader.stats;
  const lag = readerLag(reader);
  return {
    status: 'ok',
    slot: stats.slot,
    position: stats.position.toString(),
    applied_lsn: formatLsn(stats.appliedLsn),
    lag_bytes: lag.bytes,
    lag_ms: lag.ms,
    transactions: stats.transactions,
    updates: Object.values(stats.updates).reduce((a, b) => a + b, 0),
    reconnects: stats.reconnects,
    resets: stats.resets,
  };
}
