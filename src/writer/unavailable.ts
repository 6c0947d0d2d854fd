import { sqlState } from '../replication/errors.ts';

/** SQLSTATEs that say the server cannot take the request now, though it may in a moment. */
const UNAVAILABLE_STATES = new Set([
  '57P01', // admin_shutdown: a fast shutdown, or the session terminated
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, shutting down, or in recovery
  '53300', // too_many_connections
  '25006', // read_only_sql_transaction: connected to a standby, as during a failover
]);

/** Errors of the socket under the connection rather than of the server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

/**
 * Whether `err` says the database is unavailable (down, restarting, failing over, out of connections, or
 * unreachable) rather than that the request was wrong: worth answering "try again shortly" (HTTP 503 with
 * Retry-After), never with the driver's text.
 *
 * @example
 * ```ts
 * import { isDatabaseUnavailable } from 'slotstream';
 * try { await writer.transaction(work); } catch (e) {
 *   if (isDatabaseUnavailable(e)) return reply(503, { 'Retry-After': '1' });
 *   throw e;
 * }
 * ```
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return state.startsWith('08') || UNAVAILABLE_STATES.has(state);
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  // knex, when its pool cannot get a connection in time; node-postgres, when the server closed the socket.
  if (e?.name === 'KnexTimeoutError') return true;
  return typeof e?.message === 'string' && /Connection terminated/.test(e.message);
}
