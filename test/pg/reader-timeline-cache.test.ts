/**
 * Room timelines kept current from the replicated rows (app/caches.ts, getRoomTimeline's update rule): a
 * new event extends a cached timeline in place, so the next read of it, or /sync's window over it, needs no
 * query; an edit or a delete, or a timeline loaded from a snapshot that already saw the transaction, makes
 * it reload instead. Every read is compared with the database's own timeline, content and order.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT_COLUMNS, type EventJson, type EventRecord, toEventJson } from '../../app/event-json.ts';
import { ChatStore, type QueryCount } from '../../app/reader/store.ts';
import { eventsStream } from '../../app/streams.ts';
import type { StreamUpdate } from '../../src/streams/define.ts';
import { stopBeforeDrop } from '../support/cleanup.ts';
import { query } from '../support/pg.ts';
import { prng } from '../support/prng.ts';
import { event, migratedDatabase, startReader, type TestReader, writerFor } from '../support/runtime.ts';

const url = await migratedDatabase('timeline_cache');
const writer = writerFor(url, { poolSize: 8 });

/** The reader's store over its caches, with its queries counted. */
function storeOf(test: TestReader): { store: ChatStore; count: QueryCount } {
  const opened = ChatStore.open(url, test.caches, 4);
  after(stopBeforeDrop(() => opened.close()));
  const count = { queries: 0 };
  return { store: opened.countingIn(count), count };
}

/** The room's latest `limit` events, newest first, straight from the database. */
async function dbTimeline(room: string, limit: number): Promise<EventJson[]> {
  const rows = await query<EventRecord>(
    url,
    `SELECT ${EVENT_COLUMNS.join(', ')} FROM events WHERE room_id = $1 ORDER BY stream_ordering DESC LIMIT $2`,
    [room, limit],
  );
  return rows.map(toEventJson);
}

/** Writes `rows` of the events stream in one writer transaction; returns its position. */
async function commit(...rows: Array<ReturnType<typeof event>>): Promise<bigint> {
  const { position } = await writer.transaction((tx) => {
    for (const row of rows) tx.insert(eventsStream, row);
  });
  return position;
}

/** Writes `rows` in one transaction; resolves once the reader has applied it. */
async function write(test: TestReader, ...rows: Array<ReturnType<typeof event>>): Promise<bigint> {
  const position = await commit(...rows);
  await test.reader.waitForPosition(position, 10_000);
  return position;
}

/** What the timeline cache did since `before`: entries extended in place, invalidated, loads started. */
function since(test: TestReader, before: ReturnType<typeof stats>) {
  const now = stats(test);
  return {
    updates: now.updates - before.updates,
    invalidations: now.invalidations - before.invalidations,
    loads: now.misses - before.misses,
  };
}
const stats = (test: TestReader) => test.caches.getRoomTimeline.stats;

test('new events extend cached timelines in place; an edit or a delete makes them reload; reads equal the database', async () => {
  const reader = await startReader(url, 'tc_extend', { record: false });
  const { store, count } = storeOf(reader);
  const [room, other] = ['!extend:tc', '!other:tc'];
  for (let n = 1; n <= 3; n++) await write(reader, event(room, n));
  await write(reader, event(other, 1));

  /** Reads both rooms' timelines through the store: they must be the database's; returns the queries. */
  const readAll = async () => {
    const before = count.queries;
    assert.deepEqual(await store.roomMessages(room, 50), await dbTimeline(room, 50));
    assert.deepEqual(await store.roomMessages(room, 2), await dbTimeline(room, 2));
    assert.deepEqual(await store.roomMessages(other, 50), await dbTimeline(other, 50));
    return count.queries - before;
  };
  assert.equal(await readAll(), 3, 'the first reads load');

  let before = stats(reader);
  const from = reader.reader.position;
  await write(reader, event(room, 4));
  assert.deepEqual(since(reader, before), { updates: 2, invalidations: 0, loads: 0 }, 'both limits extended');
  assert.equal(await readAll(), 0, 'read from memory');

  // One transaction, several events of each room, in an order of its own.
  before = stats(reader);
  await write(reader, event(room, 5), event(other, 2), event(room, 6), event(other, 3), event(room, 7));
  assert.deepEqual(since(reader, before), { updates: 3, invalidations: 0, loads: 0 });
  assert.equal(await readAll(), 0);
  // /sync's path: the window since `from`, cut from the cached timeline, is the database's window.
  const upto = reader.reader.position;
  const window = await store.eventsInWindows([{ room_id: room, after: from, upto }], 1_000);
  const inDb = (await dbTimeline(room, 50)).filter((e) => BigInt(e.stream_ordering) > from).reverse();
  assert.deepEqual(window, inDb);
  assert.deepEqual(
    window.map((e) => (e.content as { body: string }).body),
    ['message 4', 'message 5', 'message 6', 'message 7'],
  );

  // An edit: the timelines of its room reload, and show it.
  const [edited] = await dbTimeline(room, 1);
  assert.ok(edited !== undefined);
  before = stats(reader);
  const update = await writer.transaction((tx) =>
    tx
      .knex('events')
      .where({ event_id: edited.event_id })
      .update({ content: { body: 'edited' } }),
  );
  await reader.reader.waitForPosition(update.position, 10_000);
  assert.deepEqual(since(reader, before), { updates: 0, invalidations: 2, loads: 0 });
  assert.equal(await readAll(), 2, 'the edited room reloads, the other one does not');
  assert.deepEqual((await store.roomMessages(room, 50))[0]?.content, { body: 'edited' });

  // New events extend the reloaded timelines again.
  before = stats(reader);
  await write(reader, event(room, 8));
  assert.deepEqual(since(reader, before), { updates: 2, invalidations: 0, loads: 0 });
  assert.equal(await readAll(), 0);

  // A delete: reloaded, without the event.
  const [, deleted] = await dbTimeline(room, 2);
  assert.ok(deleted !== undefined);
  before = stats(reader);
  const removal = await writer.transaction((tx) =>
    tx.knex('events').where({ event_id: deleted.event_id }).delete(),
  );
  await reader.reader.waitForPosition(removal.position, 10_000);
  assert.deepEqual(since(reader, before), { updates: 0, invalidations: 2, loads: 0 });
  assert.equal(await readAll(), 2);
  assert.ok(!(await store.roomMessages(room, 50)).some((e) => e.event_id === deleted.event_id));
});

test('a timeline loaded from a snapshot that already saw the transaction is reloaded, not extended twice', async () => {
  const room = '!ahead:tc';
  let reached: () => void = () => {};
  const atInsert = new Promise<void>((resolve) => (reached = resolve));
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  // The reader decodes the insert and waits here, before it applies the transaction: a load now reads the
  // database with the new event in it, and nothing has told the cache yet.
  const onUpdate = async (update: StreamUpdate) => {
    if (eventsStream.is(update) && update.op === 'insert' && update.row.room_id === room) {
      reached();
      await held;
    }
  };
  const reader = await startReader(url, 'tc_ahead', { record: false, onUpdate });
  const { store } = storeOf(reader);
  const first = event(room, 1);
  const written = writer.transaction((tx) => tx.insert(eventsStream, first));
  await atInsert;
  const { position } = await written; // committed: a load sees it
  const loaded = await store.roomMessages(room, 50);
  assert.deepEqual(
    loaded.map((e) => e.event_id),
    [first.event_id],
    'the load ran ahead of the stream',
  );
  assert.deepEqual(reader.caches.getRoomTimeline.get([room, '50']), loaded, 'and was stored');

  const before = stats(reader);
  release();
  await reader.reader.waitForPosition(position, 10_000);
  assert.deepEqual(
    since(reader, before),
    { updates: 0, invalidations: 1, loads: 0 },
    'reloaded, not extended',
  );
  assert.deepEqual(await store.roomMessages(room, 50), await dbTimeline(room, 50), 'the event once');
});

test('under concurrent writers and reads racing them, every cached timeline is the database’s', {
  timeout: 180_000,
}, async () => {
  const reader = await startReader(url, 'tc_race', { record: false });
  const { store } = storeOf(reader);
  const random = prng(20261130);
  const rooms = Array.from({ length: 4 }, (_, i) => `!race${i}:tc`);
  const limits = [5, 50];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  let n = 0;
  let last = 0n;
  let running = true;

  /** A writer connection: transactions of 1–3 events over the rooms, now and then an edit or a delete. */
  const writing = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      const dice = random();
      if (dice < 0.1) {
        const [target] = await dbTimeline(pick(rooms), 1);
        if (target === undefined) continue;
        const { position } = await writer.transaction((tx) => {
          const row = tx.knex('events').where({ event_id: target.event_id });
          return dice < 0.05 ? row.update({ content: { body: 'edited' } }) : row.delete();
        });
        if (position > last) last = position;
      } else {
        const rows = Array.from({ length: 1 + Math.floor(random() * 3) }, () => event(pick(rooms), ++n));
        const position = await commit(...rows);
        if (position > last) last = position;
      }
      await sleep(Math.floor(random() * 5));
    }
  };
  /** A client reading timelines, some through a load that lingers after its read. */
  const reading = async () => {
    while (running) {
      await sleep(Math.floor(random() * 3)); // a cache hit resolves at once: let I/O run
      const room = pick(rooms);
      const limit = pick(limits);
      if (random() < 0.5) await store.roomMessages(room, limit);
      else
        await reader.caches.getRoomTimeline.getOrLoad([room, String(limit)], async () => {
          const rows = await dbTimeline(room, limit);
          await sleep(Math.floor(random() * 10));
          return rows;
        });
    }
  };

  const before = stats(reader);
  let checked = 0;
  for (let round = 0; round < 6; round++) {
    running = true;
    const readers = Array.from({ length: 4 }, reading);
    await Promise.all(Array.from({ length: 4 }, () => writing(15)));
    await reader.reader.waitForPosition(last, 20_000);
    running = false;
    await Promise.all(readers);
    // Quiet now: every cached timeline must be exactly the database's.
    for (const room of rooms)
      for (const limit of limits) {
        const cached = reader.caches.getRoomTimeline.get([room, String(limit)]);
        if (cached === undefined) continue;
        assert.deepEqual(cached, await dbTimeline(room, limit), `round ${round}: ${room}, limit ${limit}`);
        checked++;
      }
  }
  const done = since(reader, before);
  assert.ok(checked >= 24, `most timelines stayed cached to be checked (${checked} of 48)`);
  assert.ok(done.updates > done.invalidations, `mostly extended: ${JSON.stringify(done)}`);
  assert.ok(stats(reader).staleLoads > 0, 'loads raced the stream and were disowned');
});
