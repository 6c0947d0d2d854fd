import { sqlState } from '../replication/errors.ts';

/**
 * How a failed command is reported on stderr: the message in the server's own words, its SQLSTATE and the
 * server's detail and hint when PostgreSQL raised it, the stack only when SLOTSTREAM_DEBUG=1.
 */
export function formatError(err: unknown, debug = false): string {
  const message = messageOf(err);
  const state = sqlState(err);
  // Our ServerError already names the SQLSTATE in its message.
  const lines = [`error: ${message}${state && !message.includes(state) ? ` (SQLSTATE ${state})` : ''}`];
  const e = err as { detail?: unknown; hint?: unknown };
  if (typeof e?.detail === 'string' && e.detail) lines.push(`detail: ${e.detail}`);
  if (typeof e?.hint === 'string' && e.hint) lines.push(`hint: ${e.hint}`);
  if (debug) {
    for (let cause: unknown = err; cause instanceof Error; cause = cause.cause)
      lines.push(cause === err ? String(cause.stack) : `caused by: ${String(cause.stack)}`);
  }
  return lines.join('\n');
}

/** Node reports a refused connection to every address of a host as an AggregateError with no message. */
export function messageOf(err: unknown): string {
  if (err instanceof AggregateError && !err.message && err.errors.length > 0) return messageOf(err.errors[0]);
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
