import type pg from 'pg';
import { Backoff, sleep } from '../replication/backoff.ts';
import { connectSql } from '../replication/connect.ts';
import { SlotstreamError } from '../replication/errors.ts';

/** A snapshot's bounds, as full (epoch-extended) transaction ids. */
export interface SnapshotBounds {
  xmax: bigint;
  /** Transactions in progress when the snapshot was taken. */
  xip: ReadonlySet<bigint>;
}

const XID_SPAN = 1n << 32n;

/** Parses `pg_current_snapshot()`'s text form `xmin:xmax:xip,…`. */
export function parseSnapshot(text: string): SnapshotBounds {
  const [, xmax, xip] = text.split(':');
  if (xmax === undefined || xip === undefined)
    throw new SyntaxError(`not a snapshot: ${JSON.stringify(text)}`);
  return { xmax: BigInt(xmax), xip: new Set(xip === '' ? [] : xip.split(',').map((x) => BigInt(x))) };
}

/**
 * Whether a transaction (its 32-bit xid, as pgoutput sends it) had ended when `snapshot` was taken. The
 * xid is placed in the epoch that puts it nearest to xmax: a transaction just decoded is never 2^31
 * transactions away from the present.
 */
export function endedBefore(snapshot: SnapshotBounds, xid: number): boolean {
  const base = snapshot.xmax - (snapshot.xmax % XID_SPAN);
  let full = base + BigInt(xid >>> 0);
  if (full - snapshot.xmax > XID_SPAN / 2n) full -= XID_SPAN;
  else if (snapshot.xmax - full > XID_SPAN / 2n) full += XID_SPAN;
  return full < snapshot.xmax && !snapshot.xip.has(full);
}

/**
 * Waits until a decoded transaction is visible to new snapshots.
 *
 * PostgreSQL flushes a commit record, and only then marks the transaction ended in the process array; a
 * walsender may send the commit in between. A reader that applied it at once would, for a moment, advance
 * its position and drop its cache entries while the database still showed the old rows: a client reading
 * its window, or a cache load, would read the old state and skip or re-cache it for good. The gap test saw
 * this in about 1% of transactions. So each transaction is applied only once a snapshot shows it ended.
 *
 * One snapshot answers for every transaction below its xmax, so catching up costs one query for many
 * transactions; at the head of the WAL it is about one query per transaction, usually answered at once.
 *
 * Its counters show the window happening (`waits`) and the outages it rode out (`errors`, each also
 * reported to `onError`: a barrier that cannot take snapshots holds the reader back, which should be seen).
 */
export class VisibilityBarrier {
  readonly #connectionString: string;
  readonly #signal: AbortSignal | undefined;
  readonly #onError: ((error: Error) => void) | undefined;
  #client: pg.Client | undefined;
  #snapshot: SnapshotBounds = { xmax: 0n, xip: new Set() };
  #queries = 0;
  #waits = 0;
  #errors = 0;

  constructor(connectionString: string, signal?: AbortSignal, onError?: (error: Error) => void) {
    this.#connectionString = connectionString;
    this.#signal = signal;
    this.#onError = onError;
  }

  /** Snapshots taken so far (for stats). */
  get queries(): number {
    return this.#queries;
  }

  /** Transactions a fresh snapshot still showed in progress: decoded before visible, held back. */
  get waits(): number {
    return this.#waits;
  }

  /** Failed attempts to take a snapshot (each retried after a backoff, and reported to `onError`). */
  get errors(): number {
    return this.#errors;
  }

  async waitVisible(xid: number): Promise<void> {
    if (endedBefore(this.#snapshot, xid)) return;
    const backoff = new Backoff(1, 20);
    for (let attempt = 0; ; attempt++) {
      this.#snapshot = await this.#take();
      if (endedBefore(this.#snapshot, xid)) return;
      if (attempt === 0) this.#waits++;
      // Still in the process array: it leaves within moments of its commit record being flushed.
      await sleep(backoff.next(), this.#signal);
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #take(): Promise<SnapshotBounds> {
    const backoff = new Backoff(100, 5_000);
    for (;;) {
      this.#signal?.throwIfAborted();
      try {
        this.#client ??= await this.#connect();
        const result = await this.#client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
        this.#queries++;
        return parseSnapshot(result.rows[0]?.s ?? '');
      } catch (error) {
        if (this.#signal?.aborted) throw error;
        // The connection failed: the replication stream's own reconnect logic faces the same outage, so
        // wait and retry rather than stop the reader.
        this.#errors++;
        const delay = backoff.next();
        const reason = error instanceof Error ? error.message : String(error);
        this.#onError?.(
          new SlotstreamError(
            `visibility barrier: no snapshot (${reason}); transactions wait to be applied, retrying in ${Math.round(delay)} ms`,
            { cause: error },
          ),
        );
        await this.close();
        await sleep(delay, this.#signal);
      }
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = await connectSql({ connectionString: this.#connectionString });
    client.on('error', () => {
      if (this.#client === client) this.#client = undefined;
    });
    return client;
  }
}
