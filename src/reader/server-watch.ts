import { connectSql } from '../replication/connect.ts';

/**
 * Notices that the server a reader decodes from is not the one it was: restarted, or another one after a
 * failover (its postmaster's start time differs). Either may have taken back commits readers could already
 * read, so values cached from them may be of writes that no longer exist:
 *
 * - a restart after a crash loses commits that were visible but not yet flushed (the writer's commit step
 *   commits asynchronously when there is no synchronous standby, then waits for the flush);
 * - a failover to a standby that lacked the last commits (asynchronous replication) loses them.
 *
 * No invalidation will ever come for such a value, so the reader empties its caches when the server
 * changed; its position, slot and waiters are left as they are (not a reset).
 */
export class ServerWatch {
  readonly #connectionString: string;
  #started: string | undefined;

  constructor(connectionString: string) {
    this.#connectionString = connectionString;
  }

  /** Reads the server's start time: true when it differs from the one read before (false the first time). */
  async changed(): Promise<boolean> {
    const client = await connectSql({ connectionString: this.#connectionString });
    try {
      const { rows } = await client.query<{ started: string }>(
        'SELECT pg_postmaster_start_time()::text AS started',
      );
      const started = rows[0]?.started;
      const before = this.#started;
      this.#started = started;
      return before !== undefined && started !== before;
    } finally {
      await client.end();
    }
  }
}
