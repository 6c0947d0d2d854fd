/**
 * How a failed command is reported on stderr: the message in the server's own words, its SQLSTATE and the
 * server's detail and hint when PostgreSQL raised it, the stack only when SLOTSTREAM_DEBUG=1.
 */
export function formatError(err: unknown, debug = false): string {
  const lines = [`error: ${messageOf(err)}${sqlState(err) ? ` (SQLSTATE ${sqlState(err)})` : ''}`];
  const e = err as { detail?: unknown; hint?: unknown };
  if (typeof e?.detail === 'string' && e.detail) lines.push(`detail: ${e.detail}`);
  if (typeof e?.hint === 'string' && e.hint) lines.push(`hint: ${e.hint}`);
  if (debug) {
    for (let cause: unknown = err; cause instanceof Error; cause = cause.cause)
      lines.push(cause === err ? String(cause.stack) : `caused by: ${String(cause.stack)}`);
  }
  return lines.join('\n');
}

/** A server error's SQLSTATE: five characters. Node's own codes (ECONNREFUSED, ERR_…) are not SQLSTATEs. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Node reports a refused connection to every address of a host as an AggregateError with no message. */
export function messageOf(err: unknown): string {
  if (err instanceof AggregateError && !err.message && err.errors.length > 0) return messageOf(err.errors[0]);
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
