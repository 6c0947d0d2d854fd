import type { Knex } from 'knex';
import { sqlState } from '../replication/errors.ts';
import { CHANGE_COUNTS } from '../streams/change-counts.ts';
import { COUNTS_PREFIX, cachesStream, POSITION_PREFIX } from '../streams/protocol.ts';
import { ALLOCATE_POSITIONS, StreamHeadMissingError } from '../streams/stream-head.ts';
import { insertRows, type PendingRow } from './pending-rows.ts';
import { WriterTransaction } from './writer-transaction.ts';

/** One caller of `StreamWriter.transaction`, waiting in the queue for a batch. */
export interface BatchMember {
  work: (tx: WriterTransaction) => unknown;
  /** Set by the batch: what `work` returned, or what failed this caller alone. */
  outcome?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

/** What a committed batch tells its members. */
export interface BatchCommit {
  /** The batch's position: every member's. Undefined when no member succeeded (nothing was written). */
  position: bigint | undefined;
  /**
   * Whether COMMIT itself waited for what synchronous_commit asks (so for the synchronous standbys): it does
   * when the server has synchronous standbys, or when nothing was written. Else the commit was asynchronous
   * and the writer waits for the flush separately (StreamWriter).
   */
  durable: boolean;
}

/** The savepoint each member's own database work starts from (renewed after a member that used it). */
const SAVEPOINT = 'slotstream_member';

/**
 * Runs a batch of writer transactions in the database transaction `trx` and leaves it ready to commit.
 *
 * Members run one after the other. One that reaches for `tx.knex` may change the database itself, so it
 * runs from a savepoint and its rows are written at once, inside it: a failure of its work or of its rows
 * rolls back that member alone. Members that did not reach for `knex` only added rows and invalidations;
 * their rows go out together at the end, in one multi-row INSERT per stream. Should that fail (one member's
 * row breaks a constraint), the batch goes back to the savepoint and writes those members one by one, so
 * again only the member at fault fails. Nobody's callback runs twice. A batch of one needs no savepoint:
 * its member's failure is the batch's.
 *
 * Positions: the first allocation takes stream_head's row lock, which is held until COMMIT, so positions grow
 * in commit order across writers (docs/positions.md). The last allocation emits the invalidations of every
 * member that succeeded and chooses how COMMIT waits; the last statement announces the batch's change
 * counts and its position (the head). COMMIT waits: with no
 * synchronous standby, asynchronously, so that the lock is released before the flush and commits serialise
 * without serialising their fsyncs; with one, as synchronous_commit says, so that the batch becomes visible
 * (readable and cacheable by readers) only once the standby has it and a failover cannot take back what a
 * reader served.
 */
export async function runBatch(
  trx: Knex.Transaction,
  members: readonly BatchMember[],
  lockHeld?: () => Promise<void>,
): Promise<BatchCommit> {
  const batch = new Batch(trx, lockHeld);
  const alone = members.length === 1;
  if (!alone) await batch.savepoint();
  const kept: WriterTransaction[] = [];
  const deferred: { member: BatchMember; tx: WriterTransaction }[] = [];
  for (const member of members) {
    const tx = new WriterTransaction(trx);
    try {
      const value = await member.work(tx);
      tx.close();
      member.outcome = { ok: true, value };
      if (tx.touched && !alone) {
        await batch.writeRows(tx.rows);
        await batch.keep();
        kept.push(tx);
      } else deferred.push({ member, tx });
    } catch (error) {
      tx.close();
      if (alone) throw error;
      member.outcome = { ok: false, error };
      if (tx.touched) await batch.undo();
    }
  }
  const rows = deferred.flatMap((d) => d.tx.rows);
  try {
    return await batch.finish([...kept, ...deferred.map((d) => d.tx)], rows);
  } catch (error) {
    if (alone || rows.length === 0) throw error;
  }
  // Which member's row failed is not known: write them one at a time, each from the savepoint.
  await batch.undo();
  for (const { member, tx } of deferred) {
    try {
      await batch.writeRows(tx.rows);
      await batch.keep();
      kept.push(tx);
    } catch (error) {
      member.outcome = { ok: false, error };
      await batch.undo();
    }
  }
  return batch.finish(kept, []);
}

class Batch {
  readonly #trx: Knex.Transaction;
  readonly #lockHeld: (() => Promise<void>) | undefined;
  /** The head after this batch's last allocation; undefined until the first, which takes the lock. */
  #head: bigint | undefined;
  /** The head as of the savepoint: what `undo` goes back to. */
  #savedHead: bigint | undefined;

  constructor(trx: Knex.Transaction, lockHeld: (() => Promise<void>) | undefined) {
    this.#trx = trx;
    this.#lockHeld = lockHeld;
  }

  async savepoint(): Promise<void> {
    await this.#trx.raw(`SAVEPOINT ${SAVEPOINT}`);
  }

  /** Keeps what the last member did: the next one starts from a fresh savepoint. */
  async keep(): Promise<void> {
    await this.#trx.raw(`RELEASE SAVEPOINT ${SAVEPOINT}; SAVEPOINT ${SAVEPOINT}`);
    this.#savedHead = this.#head;
  }

  /** Takes back what the last member did, its allocation included. */
  async undo(): Promise<void> {
    await this.#trx.raw(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    this.#head = this.#savedHead;
  }

  /** Allocates positions for `rows` now, under the lock, and writes them. */
  async writeRows(rows: readonly PendingRow[]): Promise<void> {
    if (rows.length === 0) return;
    const result = await this.#trx
      .raw<{ rows: { position: string }[] }>(ALLOCATE_POSITIONS, [rows.length])
      .catch(explainMissingSchema);
    this.#head = BigInt(result.rows[0]?.position ?? Number.NaN);
    await this.#lockHeld?.();
    await insertRows(this.#trx, rows, this.#head);
  }

  /**
   * The batch's last statements: one allocates positions for `rows` (a batch with no rows at all still
   * takes one, so its readers move and wake its waiters), emits the invalidations of the members that
   * succeeded, and chooses how COMMIT is to wait; then `rows` go out; then the closing messages, the counts
   * and the position, after every row the transaction holds.
   */
  async finish(succeeded: readonly WriterTransaction[], rows: readonly PendingRow[]): Promise<BatchCommit> {
    if (succeeded.length === 0) return { position: undefined, durable: true };
    const invalidations = succeeded.flatMap((tx) => tx.invalidations);
    const take = rows.length > 0 ? rows.length : this.#head === undefined ? 1 : 0;
    const result = await this.#trx
      .raw<{ rows: { position: string; commit: string }[] }>(
        `WITH head AS (${ALLOCATE_POSITIONS})
       SELECT head.position::text AS position,
              set_config('synchronous_commit',
                CASE WHEN current_setting('synchronous_standby_names') = '' THEN 'off'
                     ELSE current_setting('synchronous_commit') END, true) AS commit,
              (SELECT count(pg_logical_emit_message(true, ?, m.content)) FROM unnest(?::text[]) AS m(content))
         FROM head`,
        [take, cachesStream.prefix, invalidations.map((inv) => cachesStream.encode(inv))],
      )
      .catch(explainMissingSchema);
    const row = result.rows[0];
    const position = BigInt(row?.position ?? Number.NaN);
    if (take > 0) await this.#lockHeld?.();
    if (rows.length > 0) await insertRows(this.#trx, rows, position);
    await this.#trx.raw(CLOSING_MESSAGES, [COUNTS_PREFIX, POSITION_PREFIX, position.toString()]);
    return { position, durable: row?.commit !== 'off' };
  }
}

/**
 * The transaction's changes per stream table as the database counted them (change-counts.ts), when it
 * changed any, then its position: last, so a reader checks the counts against everything it received.
 */
const CLOSING_MESSAGES = `SELECT
  (SELECT count(pg_logical_emit_message(true, ?, c))
     FROM nullif(current_setting('${CHANGE_COUNTS}', true), '') AS c WHERE c IS NOT NULL),
  pg_logical_emit_message(true, ?, ?)`;

/** A database that lacks slotstream's allocation function was not migrated by this version of slotstream. */
function explainMissingSchema(error: unknown): never {
  if (sqlState(error) === '42883' || sqlState(error) === '42P01')
    throw new StreamHeadMissingError(`allocating positions failed (${(error as Error).message})`, error);
  throw error;
}
