/**
 * A service's traffic on a StreamReader while a test breaks things under it (reader-faults tests): a writer
 * committing events into rooms at seeded paces, and clients that cache room timelines, wait on rooms and
 * read their caches once the reader has applied what was written. `verify()` then holds everything against
 * the table: each row received, in order, as stored; no cached read older than the database at the
 * reader's position when it was read; every waiter on a room written after its token woken, and no other.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn, setTimeout as pause } from 'node:timers/promises';
import type { EventJson } from '../../app/event-json.ts';
import { eventsStream } from '../../app/streams.ts';
import { query } from './pg.ts';
import { seeded } from './prng.ts';
import { event, type TestReader, writerFor } from './runtime.ts';

const ROOMS = Array.from({ length: 12 }, (_, i) => `!fault${i}:test`);
const TIMELINE = 10;
const CALLERS = 3;

/** An events row, as the table holds it or as a reader was handed it. */
export interface EventRow {
  p: bigint;
  event_id: string;
  room_id: string;
  content: unknown;
}

/** The events table, in position order. */
export async function eventRows(url: string): Promise<EventRow[]> {
  const rows = await query<{ p: string; event_id: string; room_id: string; content: unknown }>(
    url,
    'SELECT stream_ordering::text AS p, event_id, room_id, content FROM events ORDER BY stream_ordering',
  );
  return rows.map((r) => ({ ...r, p: BigInt(r.p) }));
}

/**
 * Asserts that `received` (what a reader, or the readers one after the other, were handed) is every row of
 * `table` once, in position order, as stored, apart from redeliveries: a transaction cut off by a fault
 * comes again, and then its rows must be the same rows at the same positions. Returns how many rows came
 * again.
 */
export function checkReceived(received: Iterable<EventRow>, table: readonly EventRow[]): number {
  const byPosition = new Map<bigint, EventRow>();
  const order: EventRow[] = [];
  let redelivered = 0;
  for (const row of received) {
    const last = order.at(-1);
    if (last !== undefined && row.p <= last.p) {
      assert.deepEqual(
        row,
        byPosition.get(row.p),
        `row at ${row.p} came out of order or changed on redelivery`,
      );
      redelivered++;
      continue;
    }
    byPosition.set(row.p, row);
    order.push(row);
  }
  assert.deepEqual(order, table, 'every row received once, in position order, as the table holds it');
  return redelivered;
}

interface CachedRead {
  room: string;
  /** The reader's position when the cache was read. */
  at: bigint;
  eventIds: string[];
}

interface Waiter {
  room: string;
  /** The token's position it waited after. */
  after: bigint;
  result?: string;
}

export interface WorkloadSummary {
  rows: number;
  redelivered: number;
  cachedReads: number;
  /** Reads that found the entry invalidated (or never stored: a load overtaken by an invalidation). */
  missedReads: number;
  woken: number;
  stillWaiting: number;
  /** Writer transactions that failed (the server away) and were tried again. */
  writeFailures: number;
}

export class FaultWorkload {
  readonly #url: string;
  readonly #test: TestReader | undefined;
  readonly #rows: [number, number];
  readonly #random: () => number;
  readonly #reads: CachedRead[] = [];
  readonly #waiters: Waiter[] = [];
  #missedReads = 0;
  #running = true;
  #lastWritten = 0n;
  #writeFailures = 0;
  readonly #tasks: Promise<void>[] = [];

  /**
   * Starts writing on `url` transactions of `rows` events (at least, at most), and with `test` (a reader
   * from startReader, recording updates) a client reading; without, the writer alone.
   */
  constructor(url: string, label: string, test?: TestReader, rows: [number, number] = [1, 4]) {
    this.#url = url;
    this.#test = test;
    this.#random = seeded(label);
    this.#rows = rows;
    const writer = writerFor(url);
    for (let i = 0; i < CALLERS; i++) this.#tasks.push(this.#write(writer));
    if (test) this.#tasks.push(this.#client(test));
  }

  /** Writes committed so far (the writer's positions): a fault is mid-stream while this rises. */
  get lastWritten(): bigint {
    return this.#lastWritten;
  }

  /** Stops writing and the client, once the reader (if any) has applied everything written. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#tasks);
    await this.#test?.reader.waitForPosition(this.#lastWritten, 120_000);
    await nextTurn(); // the waiters woken with that position have their outcome recorded
  }

  /** The checks of the class comment, for a workload with a reader. */
  async verify(): Promise<WorkloadSummary> {
    const test = this.#test ?? assert.fail('a workload without a reader has nothing to verify');
    const rows = await eventRows(this.#url);
    const received = test.updates.flatMap((u) =>
      eventsStream.is(u) && u.op === 'insert'
        ? [{ p: u.position, event_id: u.row.event_id, room_id: u.row.room_id, content: u.row.content }]
        : [],
    );
    const redelivered = checkReceived(received, rows);
    this.#checkReads(rows);
    const woken = this.#checkWaiters(rows);
    assert.ok(this.#reads.length > 0, 'cached values were read');
    return {
      rows: rows.length,
      redelivered,
      cachedReads: this.#reads.length,
      missedReads: this.#missedReads,
      woken,
      stillWaiting: this.#waiters.length - woken,
      writeFailures: this.#writeFailures,
    };
  }

  /** A cached timeline is the table's at or after the position the reader had reached when it was read. */
  #checkReads(rows: readonly EventRow[]): void {
    const stale: string[] = [];
    for (const read of this.#reads) {
      const room = rows.filter((r) => r.room_id === read.room);
      const timelineAt = (p: bigint) =>
        room
          .filter((r) => r.p <= p)
          .slice(-TIMELINE)
          .reverse()
          .map((r) => r.event_id);
      const expected = timelineAt(read.at);
      const newest = room.find((r) => r.event_id === read.eventIds[0])?.p ?? 0n;
      const newestAt = room.filter((r) => r.p <= read.at).at(-1)?.p ?? 0n;
      // Newer than the reader's position is fine (a load may see a commit the reader has yet to apply).
      if (newest < newestAt)
        stale.push(`${read.room} at ${read.at}: cached ${read.eventIds[0]}, database ${expected[0]}`);
      else assert.deepEqual(read.eventIds, timelineAt(newest), `${read.room}: a timeline the table had`);
    }
    assert.deepEqual(stale, [], `${stale.length} stale cached reads`);
  }

  /** Waiters on a room written after their token woke ('updated'); the others are still waiting. */
  #checkWaiters(rows: readonly EventRow[]): number {
    const lastWrite = new Map<string, bigint>();
    for (const r of rows) lastWrite.set(r.room_id, r.p);
    let woken = 0;
    const wrong: string[] = [];
    for (const w of this.#waiters) {
      const relevant = (lastWrite.get(w.room) ?? 0n) > w.after;
      if (relevant && w.result === 'updated') woken++;
      else if (relevant || w.result !== undefined)
        wrong.push(`${w.room} after ${w.after}: ${w.result ?? 'still waiting'}`);
    }
    assert.deepEqual(wrong, [], 'waiters woken exactly when their room was written');
    assert.ok(woken > 0, 'some waiters were woken');
    return woken;
  }

  async #write(writer: ReturnType<typeof writerFor>): Promise<void> {
    let n = 0;
    while (this.#running) {
      const [least, most] = this.#rows;
      const count = least + Math.floor(this.#random() * (most - least + 1));
      const rooms = Array.from({ length: count }, () => this.#room());
      try {
        const { position } = await writer.transaction((tx) => {
          for (const room of rooms) tx.insert(eventsStream, event(room, ++n));
        });
        if (position > this.#lastWritten) this.#lastWritten = position;
      } catch {
        // The server is going away or coming back: a service retries. The table says what committed.
        this.#writeFailures++;
        await pause(50);
      }
      await pause(Math.floor(this.#random() * 8));
    }
  }

  /** A client: a waiter on a room, a cache fill, then the cached timelines read at the reader's position. */
  async #client(test: TestReader): Promise<void> {
    const { reader, caches } = test;
    while (this.#running) {
      const room = this.#room();
      const since = reader.token;
      const waiter: Waiter = { room, after: since.position };
      this.#waiters.push(waiter);
      reader.wait({ keys: [room], since, timeoutMs: 600_000 }).then(
        (result) => {
          waiter.result = result;
        },
        () => {}, // still waiting when the reader closed
      );
      try {
        await caches.getRoomTimeline.getOrLoad([room, String(TIMELINE)], () => this.#timeline(room));
      } catch {
        await pause(50); // the server is away: this request fails, the next one tries again
        continue;
      }
      await reader.waitForPosition(this.#lastWritten, 120_000);
      const at = reader.position;
      for (const r of ROOMS) {
        const cached = caches.getRoomTimeline.get([r, String(TIMELINE)]);
        if (cached === undefined) this.#missedReads++;
        else this.#reads.push({ room: r, at, eventIds: cached.map((e) => e.event_id) });
      }
      await pause(Math.floor(this.#random() * 20));
    }
  }

  async #timeline(room: string): Promise<EventJson[]> {
    return query<EventJson>(
      this.#url,
      `SELECT event_id, room_id, sender, type, content, origin_server_ts::float8 AS origin_server_ts,
              stream_ordering::text AS stream_ordering
         FROM events WHERE room_id = $1 ORDER BY events.stream_ordering DESC LIMIT ${TIMELINE}`,
      [room],
    );
  }

  #room(): string {
    return ROOMS[Math.floor(this.#random() * ROOMS.length)] as string;
  }
}
