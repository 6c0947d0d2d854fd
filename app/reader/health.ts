import pg from 'pg';
import { formatLsn, type StreamReader, type SubscriptionStatus } from 'slotstream';

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

export interface HealthOptions {
  connectionString: string;
  /** How long the reader may be without a replication session before /health says so (default 10 s). */
  reconnectGraceMs?: number;
  /** Bound on the server-lag query /health runs (default 2 s): past it, PostgreSQL counts as unreachable. */
  queryTimeoutMs?: number;
}

/** Why /health answers 503; `ok` when it does not. */
export type HealthStatus = 'ok' | 'reconnecting' | 'database-unreachable' | 'spool-error' | 'integrity-fault';

/** File-system failures of the spool directory: retrying does not help until someone frees or fixes it. */
const SPOOL_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'EIO']);

/**
 * What /health knows beyond the reader's own stats: whether a replication session is up (and since when it
 * is not), the last spool failure, and the server's view of the slot's lag, asked on every /health with a
 * short timeout. Fed by the reader's statuses (`follow`).
 */
export class ReaderHealth {
  readonly #reader: () => StreamReader | undefined;
  readonly #options: HealthOptions;
  /** When the last session ended, while no new one has started. */
  #disconnectedSince: number | undefined;
  #spoolError: Error | undefined;

  constructor(reader: () => StreamReader | undefined, options: HealthOptions) {
    this.#reader = reader;
    this.#options = options;
  }

  /** A status of the reader's subscription. Returns the spool error it reports, if it is one. */
  follow(status: SubscriptionStatus): Error | undefined {
    if (status.event === 'connected') {
      this.#disconnectedSince = undefined;
      this.#spoolError = undefined;
    } else if (status.event === 'reconnecting') {
      this.#disconnectedSince ??= Date.now();
      const code = (status.error as NodeJS.ErrnoException).code;
      if ((status.error as NodeJS.ErrnoException).syscall !== undefined && SPOOL_ERRORS.has(code ?? ''))
        this.#spoolError = status.error;
      return this.#spoolError === status.error ? status.error : undefined;
    }
    return undefined;
  }

  /** GET /health: 200 with `status: ok`, or 503 with the status and a reason; the lag, local and the server's. */
  async check(): Promise<{ status: number; body: ReturnType<typeof readerStats> & HealthBody }> {
    const reader = this.#reader();
    if (reader === undefined) throw new Error('the reader has not started');
    const server = await this.#serverLag(reader.slot);
    const problem = this.#problem(reader, server);
    const body = {
      ...readerStats(reader),
      status: problem?.status ?? ('ok' as HealthStatus),
      reason: problem?.reason,
      server_lag_bytes: typeof server === 'number' ? server : null,
    };
    return { status: problem ? 503 : 200, body };
  }

  /** The first reason the reader cannot be trusted to serve fresh data, or undefined. */
  #problem(
    reader: StreamReader,
    server: number | Error,
  ): { status: HealthStatus; reason: string } | undefined {
    const fault = reader.fault;
    if (fault !== undefined) return { status: 'integrity-fault', reason: fault.error.message };
    if (this.#spoolError !== undefined)
      return { status: 'spool-error', reason: `spool directory: ${this.#spoolError.message}` };
    if (server instanceof Error)
      return {
        status: 'database-unreachable',
        reason: `asking PostgreSQL for the slot's lag: ${server.message}`,
      };
    const since = this.#disconnectedSince;
    const grace = this.#options.reconnectGraceMs ?? 10_000;
    if (since !== undefined && Date.now() - since > grace)
      return {
        status: 'reconnecting',
        reason: `no replication session for ${Math.round((Date.now() - since) / 1000)} s`,
      };
    return undefined;
  }

  /**
   * The slot's lag as the server sees it: WAL written (or, on a standby, replayed) past its
   * confirmed_flush_lsn. An Error when the query fails or takes longer than queryTimeoutMs.
   */
  async #serverLag(slot: string): Promise<number | Error> {
    const timeoutMs = this.#options.queryTimeoutMs ?? 2_000;
    const client = new pg.Client({
      connectionString: this.#options.connectionString,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      application_name: 'slotstream reader health',
    });
    client.on('error', () => {}); // a connection lost after the answer: nothing to report
    try {
      await client.connect();
      const { rows } = await client.query<{ lag: string | null }>(
        `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END
                 - confirmed_flush_lsn)::text AS lag
           FROM pg_replication_slots WHERE slot_name = $1`,
        [slot],
      );
      const lag = rows[0]?.lag;
      if (lag === undefined || lag === null) return new Error(`slot ${slot} is not there`);
      return Math.max(0, Number(lag));
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

interface HealthBody {
  status: HealthStatus;
  /** Why the status is not ok. */
  reason: string | undefined;
  /** The slot's lag as the server sees it, in bytes; null when it could not be asked. */
  server_lag_bytes: number | null;
}

/** The slot, the applied position and LSN, the lag as this process sees it, the counters. */
function readerStats(reader: StreamReader) {
  const stats = reader.stats;
  const lag = readerLag(reader);
  return {
    slot: stats.slot,
    position: stats.position.toString(),
    applied_lsn: formatLsn(stats.appliedLsn),
    lag_bytes: lag.bytes,
    lag_ms: lag.ms,
    transactions: stats.transactions,
    updates: Object.values(stats.updates).reduce((a, b) => a + b, 0),
    reconnects: stats.reconnects,
    resets: stats.resets,
    faults: stats.faults,
  };
}
