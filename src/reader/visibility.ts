import type pg from 'pg';
import { Backoff, sleep } from '../replication/backoff.ts';
import { connectSql } from '../replication/connect.ts';

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
 */
export class VisibilityBarrier {
  readonly #connectionString: string;
  readonly #signal: AbortSignal | undefined;
  #client: pg.Client | undefined;
  #snapshot: SnapshotBounds = { xmax: 0n, xip: new Set() };
  #queries = 0;

  constructor(connectionString: string, signal?: AbortSignal) {
    this.#connectionString = connectionString;
    this.#signal = signal;
  }

  /** Snapshots taken so far (for stats). */
  get queries(): number {
    return this.#queries;
  }

  async waitVisible(xid: number): Promise<void> {
    if (endedBefore(this.#snapshot, xid)) return;
    const backoff = new Backoff(1, 20);
    for (;;) {
      this.#snapshot = await this.#take();
      if (endedBefore(this.#snapshot, xid)) return;
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
        await this.close();
        await sleep(backoff.next(), this.#signal);
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
