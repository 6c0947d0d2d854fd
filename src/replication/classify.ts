import { sqlState } from './errors.ts';

/**
 * What a failed replication session means for the reconnect loop:
 * - `retry`: the connection or the server went away (network, walsender terminated, restart, overload);
 *   reconnect with backoff.
 * - `in-use`: another walsender holds the slot (55006), or just created it (42710).
 * - `check`: anything else the server said; look at the slot and the preflight conditions to decide
 *   between recreating the slot (lost, missing) and a typed, fatal error.
 */
export type FailureKind = 'retry' | 'in-use' | 'check';

const RETRY_STATES = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, or fast shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '55P03', // lock_not_available: decoding waited too long for a catalog lock
  '57014', // query_canceled
]);

export function classifyFailure(err: unknown): FailureKind {
  const state = sqlState(err);
  // 42710: another process created the slot between our look and our CREATE_REPLICATION_SLOT; it holds it.
  if (state === '55006' || state === '42710') return 'in-use';
  if (state === undefined) return 'retry'; // socket errors: ECONNREFUSED, ECONNRESET, "Connection terminated"
  // Class 53 (insufficient resources: disk full while spilling, out of memory) passes, as may a lock wait.
  if (state.startsWith('08') || state.startsWith('53') || RETRY_STATES.has(state)) return 'retry';
  return 'check';
}

/** The PID in "replication slot "x" is active for PID 1234". */
export function activePidFrom(err: unknown): number | undefined {
  const m = /active for PID (\d+)/.exec(String((err as Error)?.message ?? ''));
  return m ? Number(m[1]) : undefined;
}
