import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventsStream } from '../../app/streams.ts';
import { NotifierClosedError } from '../../src/notifier/index.ts';
import { PublicationError } from '../../src/replication/errors.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import { query } from '../support/pg.ts';
import { endPolls, poll, stillWaiting } from '../support/polls.ts';
import { slotState, waitFor } from '../support/replication.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';

const url = await migratedDatabase('reader_runtime');
const writer = writerFor(url);

test('an insert through the writer reaches the reader as one batch: cache updated, position, wake, ack', async () => {
  const { reader, caches, updates } = await startReader(url, 'rt_basic');
  const start = reader.position;
  // Cached before the write (the room is empty): the write must reach it.
  await caches.getRoomTimeline.getOrLoad(['!a:test', '10'], () => []);
  assert.equal(caches.getRoomTimeline.size, 1);
  const waitA = reader.wait({ keys: ['!a:test'], since: reader.token, timeoutMs: 10_000 });
  const waitB = poll(reader, 'a waiter on another room', ['!b:test'], reader.token);
  const wakesBefore = reader.notifier.stats.wakes;

  const sent = event('!a:test', 1);
  const { value: ref, position } = await writer.transaction((tx) => tx.insert(eventsStream, sent));
  assert.equal(ref.position, position);
  assert.equal(position, start + 1n);

  assert.equal(await waitA, 'updated');
  assert.equal(reader.position, position);
  // Applied, so every wake it caused is counted (test/support/polls.ts): one, and the other room's waiter
  // is still registered, until its client leaves.
  assert.equal(reader.notifier.stats.wakes - wakesBefore, 1, 'one waiter woken');
  assert.equal(reader.notifier.stats.waiters, 1, 'a waiter on another room is not woken');
  assert.deepEqual(await endPolls([waitB]), stillWaiting([waitB]));
  assert.deepEqual(
    caches.getRoomTimeline.get(['!a:test', '10'])?.map((e) => e.event_id),
    [sent.event_id],
    'the new event appended before waiters were woken',
  );
  const inserted = updates.filter((u) => u.stream === 'events');
  assert.equal(inserted.length, 1);
  assert.equal(inserted[0]?.op, 'insert');
  assert.equal(inserted[0]?.position, position);
  // The server's own view: the slot is confirmed up to the transaction the reader applied.
  const applied = reader.stats.appliedLsn;
  assert.ok(applied > 0n);
  await waitFor('the slot to be acknowledged', async () => {
    const slot = await slotState(url, 'rt_basic');
    return slot?.confirmed_flush_lsn != null && parseLsn(slot.confirmed_flush_lsn) >= applied;
  });
});

test('close() ends pending waits with NotifierClosedError instead of leaving them to their timeouts', async () => {
  const { reader } = await startReader(url, 'rt_close');
  // Handlers attached before close(), which rejects the waits synchronously.
  const byKey = assert.rejects(
    reader.wait({ keys: ['!nobody:test'], since: reader.token, timeoutMs: 600_000 }),
    NotifierClosedError,
  );
  const byPosition = assert.rejects(
    reader.waitForPosition(reader.position + 1_000_000n, 600_000),
    NotifierClosedError,
  );
  await reader.close();
  await byKey;
  await byPosition;
  await assert.rejects(
    reader.wait({ keys: ['!a:test'], since: reader.token, timeoutMs: 1000 }),
    NotifierClosedError,
  );
});

test('a reader on a missing or narrower publication is told which, with the fix, before any slot exists', async () => {
  await assert.rejects(startReader(url, 'rt_nopub', { publication: 'nope' }), (error: unknown) => {
    assert.ok(error instanceof PublicationError, String(error));
    assert.match(error.message, /publication "nope" does not exist.*slotstream migrate/);
    return true;
  });
  await query(url, 'CREATE PUBLICATION rt_narrow FOR TABLE events');
  await assert.rejects(startReader(url, 'rt_narrow', { publication: 'rt_narrow' }), (error: unknown) => {
    assert.ok(error instanceof PublicationError, String(error));
    assert.match(error.message, /does not cover public\.receipts.*ADD TABLE public\.receipts/);
    return true;
  });
  assert.equal(await slotState(url, 'rt_nopub'), undefined);
  assert.equal(await slotState(url, 'rt_narrow'), undefined);
});
