/**
 * The reader runtime against real PostgreSQL: caches stay fresh (no stale cache) under racing loads, updates and
 * deletes and explicit invalidations; typing arrives on its own position; a schema that disagrees with a
 * stream's declaration stops the reader with an error that names the column.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { accountDataStream, eventsStream, typingStream } from '../../app/streams.ts';
import { StreamReader } from '../../src/reader/stream-reader.ts';
import { tableStream } from '../../src/streams/define.ts';
import { SchemaChangeError, StreamSchemaError } from '../../src/streams/errors.ts';
import { StreamSet } from '../../src/streams/stream-set.ts';
import { query } from '../support/pg.ts';
import { endPolls, poll, stillWaiting } from '../support/polls.ts';
import { prng } from '../support/prng.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';

const url = await migratedDatabase('reader_caches');
const schemaUrl = await migratedDatabase('reader_schema');
const writer = writerFor(url);

test('a cache load racing an invalidation never leaves a stale value in the cache', async () => {
  const { reader, caches } = await startReader(url, 'rc_race', { record: false });
  const cache = caches.getAccountData;
  const key: [string, string] = ['@race:test', 'm.counter'];
  const random = prng(7);
  const db = new pg.Client(url);
  await db.connect();
  const load = () =>
    cache.getOrLoad(key, async () => {
      const { rows } = await db.query<{ content: { n: number } }>(
        'SELECT content FROM account_data WHERE user_id = $1 AND type = $2',
        key,
      );
      // Hold the value read while the write lands and the reader applies it.
      await sleep(Math.floor(random() * 25));
      return rows[0]?.content ?? null;
    });
  try {
    for (let n = 1; n <= 150; n++) {
      const loads = [load()];
      await sleep(Math.floor(random() * 3));
      const write = writer.transaction((tx) =>
        tx.insert(
          accountDataStream,
          { user_id: key[0], type: key[1], content: { n } },
          { onConflict: ['user_id', 'type'] },
        ),
      );
      loads.push(load());
      const { position } = await write;
      loads.push(load());
      await reader.waitForPosition(position, 10_000);
      await Promise.all(loads);
      const cached = cache.get(key) as { n: number } | null | undefined;
      assert.ok(
        cached === undefined || cached?.n === n,
        `round ${n}: cache holds ${JSON.stringify(cached)} after the write of ${n} was applied`,
      );
    }
  } finally {
    await db.end();
  }
  assert.ok(cache.stats.staleLoads > 0, 'the race happened: some loads were overtaken and not stored');
});

test('updates and deletes of stream rows invalidate caches and wake waiters like inserts', async () => {
  const { reader, caches, updates } = await startReader(url, 'rc_update_delete');
  const e = event('!ud:test', 1);
  const { value: ref } = await writer.transaction((tx) => tx.insert(eventsStream, e));
  await reader.waitForPosition(ref.position, 10_000);
  await caches.getEvent.getOrLoad([e.event_id], () => null);
  await caches.getRoomTimeline.getOrLoad(['!ud:test', '20'], () => []);

  let wait = reader.wait({ keys: ['!ud:test'], since: reader.token, timeoutMs: 10_000 });
  const updated = await writer.transaction((tx) =>
    tx
      .knex('events')
      .where({ event_id: e.event_id })
      .update({ content: JSON.stringify({ body: 'edited' }) }),
  );
  assert.equal(await wait, 'updated');
  assert.equal(
    reader.position,
    updated.position,
    'an update made through the writer has a position of its own',
  );
  assert.equal(caches.getEvent.get([e.event_id]), undefined);
  assert.equal(caches.getRoomTimeline.get(['!ud:test', '20']), undefined);
  const update = updates.find((u) => eventsStream.is(u) && u.op === 'update');
  assert.ok(update !== undefined && eventsStream.is(update) && update.op === 'update');
  assert.deepEqual(update.row.content, { body: 'edited' });
  assert.deepEqual(update.old?.content, { body: 'message 1' }, 'REPLICA IDENTITY FULL: the old row is whole');

  await caches.getEvent.getOrLoad([e.event_id], () => null);
  wait = reader.wait({ keys: ['!ud:test'], since: reader.token, timeoutMs: 10_000 });
  const deleted = await writer.transaction((tx) =>
    tx.knex('events').where({ event_id: e.event_id }).delete(),
  );
  assert.equal(await wait, 'updated');
  assert.equal(reader.position, deleted.position);
  assert.equal(caches.getEvent.get([e.event_id]), undefined);
  const deletion = updates.find((u) => u.stream === 'events' && u.op === 'delete');
  assert.equal(deletion?.old?.event_id, e.event_id);
  assert.equal(deletion?.position, ref.position, "a delete is placed at the deleted row's position");
});

test('explicit invalidations from the writer apply with their transaction, by key prefix or whole', async () => {
  const { reader, caches } = await startReader(url, 'rc_explicit');
  await caches.getRoomsForUser.getOrLoad(['@a:test'], () => ['!1:test']);
  await caches.getRoomsForUser.getOrLoad(['@b:test'], () => ['!2:test']);
  await caches.getEvent.getOrLoad(['$x'], () => null);
  let result = await writer.transaction((tx) => tx.invalidate('getRoomsForUser', ['@a:test']));
  await reader.waitForPosition(result.position, 10_000);
  assert.equal(caches.getRoomsForUser.get(['@a:test']), undefined);
  assert.deepEqual(caches.getRoomsForUser.get(['@b:test']), ['!2:test']);
  result = await writer.transaction((tx) => {
    tx.invalidate('getRoomsForUser', null);
    tx.invalidate('noSuchCache', null); // a cache this reader does not keep: ignored, like Synapse
  });
  await reader.waitForPosition(result.position, 10_000);
  assert.equal(caches.getRoomsForUser.size, 0);
  assert.equal(caches.getEvent.size, 1, 'other caches untouched');
});

test('typing is ephemeral: applied at once at its LSN, waking the room, stored nowhere', async () => {
  const { reader, updates } = await startReader(url, 'rc_typing');
  const since = reader.token;
  const woken = reader.wait({ keys: ['!typing:test'], since, timeoutMs: 10_000 });
  const other = poll(reader, 'a waiter on another room', ['!elsewhere:test'], since);
  const wakesBefore = reader.notifier.stats.wakes;
  const row = {
    room_id: '!typing:test',
    user_id: '@t:test',
    typing: true,
    timeout_ms: 30_000,
    ts: Date.now(),
  };
  const lsn = await writer.emitEphemeral(typingStream, row);
  assert.equal(await woken, 'updated');
  // An ephemeral update wakes in the same call that records it: by now every wake is counted.
  assert.equal(reader.notifier.stats.wakes - wakesBefore, 1, 'only the typing room’s waiter woke');
  assert.equal(reader.notifier.stats.waiters, 1, 'the other room’s waiter still waits');
  assert.deepEqual(await endPolls([other]), stillWaiting([other]));
  assert.ok(reader.ephemeralPosition >= lsn);
  assert.equal(reader.position, since.position, 'the ordered position does not move');
  assert.deepEqual(updates.find((u) => u.stream === 'typing')?.row, row);
});

test('a stream declared with a column the table lacks is refused at start, naming the column', async () => {
  const wrong = tableStream({
    name: 'events',
    position: 'stream_ordering',
    columns: { stream_ordering: 'int8', event_id: 'text', thread_id: 'text' },
  });
  await assert.rejects(
    StreamReader.start({
      connectionString: schemaUrl,
      slot: 'rc_schema_start',
      streams: new StreamSet([wrong]),
    }),
    (error: unknown) => error instanceof StreamSchemaError && error.column === 'thread_id',
  );
  const slots = await query(
    schemaUrl,
    "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'rc_schema_start'",
  );
  assert.equal(slots.length, 0, 'nothing was created');
});

test('a table changed under a running reader stops it with an error naming table and column', async () => {
  const { reader } = await startReader(schemaUrl, 'rc_schema_change', { record: false });
  // text, which the declared int8 cannot hold (numeric it could: its values would be converted).
  await query(schemaUrl, 'ALTER TABLE receipts ALTER COLUMN ts TYPE text');
  await query(
    schemaUrl,
    "INSERT INTO receipts VALUES ('!r:test', '@u:test', 'm.read', '$e', slotstream_allocate(1), 1)",
  );
  await assert.rejects(reader.done, (error: unknown) => {
    assert.ok(error instanceof SchemaChangeError, String(error));
    assert.equal(error.cause.table, 'public.receipts');
    assert.equal(error.cause.column, 'ts');
    assert.equal(error.slot, 'rc_schema_change');
    return true;
  });
});
