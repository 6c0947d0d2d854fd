import type pg from 'pg';
import { connectSql } from '../replication/connect.ts';
import { SlotstreamError } from '../replication/errors.ts';
import type { SubscriptionStatus } from '../replication/events.ts';

/** How often the primary is asked for a snapshot while a reader on a standby connects. */
const INTERVAL_MS = 200;

/**
 * Creating a reader's slot on a hot standby is waiting, or would wait, for the primary's next
 * running-transactions record: the primary could not be asked for one (`primaryConnectionString` wrong,
 * or the primary down), or the reader was not told where the primary is.
 *
 * @example
 * ```ts
 * import { StandbySnapshotError, StreamReader } from 'slotstream';
 * const reader = await StreamReader.start({
 *   connectionString: standbyUrl, primaryConnectionString: primaryUrl, slot: 'reader_1', streams,
 *   onWarning: (error) => {
 *     if (error instanceof StandbySnapshotError) console.warn(error.message); // slot creation may be slow
 *   },
 * });
 * ```
 */
export class StandbySnapshotError extends SlotstreamError {}

/**
 * While a reader on a hot standby connects, asks the primary to log a standby snapshot every 200 ms.
 *
 * A logical slot created on a standby starts decoding at a running-transactions record (xl_running_xacts)
 * from the primary, and its creation waits for one. The primary writes one every 15 s, and none at all
 * while it is idle: a reader's first start (or its slot's recreation after a reset) could wait that long,
 * or for ever. `pg_log_standby_snapshot()` (PostgreSQL 16+) writes one at once; calling it a few times
 * while connecting also covers a busy primary, where the slot needs the transactions running at one record
 * to have ended by a later one. Between connections nothing is asked, and no connection to the primary
 * is held.
 *
 * A failure to reach the primary is reported once per connection attempt through `onError`, and
 * otherwise ignored: slot creation still completes at the primary's own next record.
 */
export class StandbySnapshots {
  readonly #connectionString: string;
  readonly #onError: (error: Error) => void;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #active = false;
  #closed = false;
  #reported = false;
  /** The last step queued (a call, or the disconnection), so that none overlap and close() can wait. */
  #queue: Promise<void> = Promise.resolve();
  #logged = 0;

  constructor(primaryConnectionString: string, onError: (error: Error) => void) {
    this.#connectionString = primaryConnectionString;
    this.#onError = onError;
  }

  /** Snapshots logged on the primary so far. */
  get logged(): number {
    return this.#logged;
  }

  /** Starts asking, the first time after `delayMs` plus one interval (a connection takes that long to begin). */
  resume(delayMs = 0): void {
    if (this.#closed) return;
    this.#active = true;
    this.#reported = false;
    this.#schedule(delayMs + INTERVAL_MS);
  }

  /** Stops asking, and lets go of the connection to the primary. */
  pause(): void {
    this.#active = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#enqueue(() => this.#disconnect());
  }

  /**
   * Follows a subscription's statuses: asking from each reconnection attempt (after its back-off delay)
   * until connected or the slot is made.
   */
  follow(status: SubscriptionStatus): void {
    if (status.event === 'reconnecting') this.resume(status.delayMs);
    else if (status.event === 'connected' || status.event === 'slot-created') this.pause();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.pause();
    await this.#queue;
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#enqueue(() => this.#log()), ms);
    this.#timer.unref(); // never what keeps a process alive
  }

  #enqueue(step: () => Promise<void>): void {
    // Steps fail only if onError throws: that must neither stop the later steps nor go unhandled.
    this.#queue = this.#queue.then(step).catch((error: unknown) => process.emitWarning(error as Error));
  }

  async #disconnect(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #log(): Promise<void> {
    if (!this.#active || this.#closed) return;
    try {
      this.#client ??= await connectSql({ connectionString: this.#connectionString });
      await this.#client.query('SELECT pg_log_standby_snapshot()');
      this.#logged++;
    } catch (error) {
      await this.#disconnect();
      if (!this.#reported) {
        this.#reported = true;
        this.#onError(
          new StandbySnapshotError(
            `cannot log a standby snapshot on the primary (${(error as Error).message}): creating this ` +
              "reader's slot on the standby waits for the primary's next running-transactions record " +
              '(every 15 s, none while it is idle). Check primaryConnectionString (--primary-url): the ' +
              'primary, PostgreSQL 16 or later, as a superuser or a role granted pg_log_standby_snapshot().',
            { cause: error },
          ),
        );
      }
    } finally {
      if (this.#active && !this.#closed) this.#schedule(INTERVAL_MS);
    }
  }
}

/**
 * For a reader starting on `client`'s server: the snapshot logger it runs while connecting when that server
 * is a hot standby and the primary is known (not asking yet: `resume()` as the first connection starts).
 * On a standby without a primary, when the reader's slot has yet to be created, warns that the creation
 * may wait; on a primary, returns undefined.
 */
export async function standbySnapshotsFor(
  client: pg.Client,
  options: { slot: string; primaryConnectionString?: string | undefined },
  warn: (error: Error) => void,
): Promise<StandbySnapshots | undefined> {
  const { rows } = await client.query<{ standby: boolean; slot_exists: boolean }>(
    `SELECT pg_is_in_recovery() AS standby,
            EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1) AS slot_exists`,
    [options.slot],
  );
  const { standby = false, slot_exists = false } = rows[0] ?? {};
  if (!standby) return undefined;
  if (options.primaryConnectionString === undefined) {
    if (!slot_exists)
      warn(
        new StandbySnapshotError(
          `creating slot "${options.slot}" on a hot standby waits for the primary's next ` +
            'running-transactions record (every 15 s, none while the primary is idle): give the reader ' +
            'primaryConnectionString (--primary-url) so it can ask the primary for one at once',
        ),
      );
    return undefined;
  }
  return new StandbySnapshots(options.primaryConnectionString, warn);
}
