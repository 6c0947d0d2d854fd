/**
 * Relevant, prompt wake-ups at scale, on a real server: 10,000 long-polls, each on a room of its own, and one transaction
 * in one room wakes exactly that room's waiters. The notifier's own counters prove the rest, with no sleep
 * for a wrong wake to show up in (test/support/polls.ts): the wake count rises by exactly the waiters woken,
 * the others stay registered and end 'aborted' when their clients go away, and then nothing stays
 * registered in either position space.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventsStream } from '../../app/streams.ts';
import type { StreamReader } from '../../src/reader/stream-reader.ts';
import { endPolls, type Poll, poll, stillWaiting } from '../support/polls.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';

const url = await migratedDatabase('wake_fanout');
const writer = writerFor(url);

const FANOUT = 10_000;
const room = (i: number) => `!fan${i}:test`;

/** Waiters registered with the reader's notifier (one registration covers both position spaces). */
function registered(reader: StreamReader): number {
  return reader.notifier.stats.waiters;
}

test('10,000 waiters on distinct rooms: one insert wakes exactly its room’s waiters, and aborts leave nothing registered', {
  timeout: 60_000,
}, async () => {
  const { reader } = await startReader(url, 'wake_fanout_main', { record: false });
  const target = '!target:test';

  // An unrelated write first, so that one waiter can hold a token from before it: older, yet still valid.
  const before = reader.token;
  const { position: warm } = await writer.transaction((tx) =>
    tx.insert(eventsStream, event('!warm:test', 0)),
  );
  await reader.waitForPosition(warm, 10_000);
  const now = reader.token;
  assert.ok(now.position > before.position);

  const others: Poll[] = [];
  for (let i = 0; i < FANOUT; i++) others.push(poll(reader, room(i), [room(i)], now));
  const head = await writer.head();
  const woken = [
    poll(reader, 'target alone, current token', [target], now),
    poll(reader, 'target among other keys', ['@bob:test', target, '!quiet:test'], now),
    poll(reader, 'target, token from before an unrelated write', [target], before),
  ];
  // A token that already covers the coming write (a client served by a reader further ahead) must not wake.
  const ahead = poll(reader, 'target, token ahead of the write', [target], { ...now, position: head + 1n });
  const pending = [...others, ahead];

  // Registration is synchronous: every poll is counted, and none was answered at once.
  assert.deepEqual(registered(reader), FANOUT + 4, 'nothing wakes before the write');
  assert.equal(reader.notifier.stats.indexedKeys, FANOUT + 3, 'rooms, the target, @bob and !quiet');
  const wakesBefore = reader.notifier.stats.wakes;

  const { position } = await writer.transaction((tx) => tx.insert(eventsStream, event(target, 1)));
  assert.equal(position, head + 1n);
  assert.deepEqual(await Promise.all(woken.map((p) => p.promise)), ['updated', 'updated', 'updated']);
  // Applied: the wakes that write caused are all counted by now (test/support/polls.ts).
  await reader.waitForPosition(position, 10_000);
  assert.equal(reader.notifier.stats.wakes - wakesBefore, woken.length, 'one wake per waiter woken');
  assert.deepEqual(registered(reader), FANOUT + 1, 'only the target room’s waiters behind the write woke');

  // The clients go away: every remaining wait ends through its signal, still asleep until then, and
  // nothing stays behind.
  const abortsBefore = reader.notifier.stats.aborts;
  assert.deepEqual(await endPolls(pending), stillWaiting(pending));
  assert.equal(reader.notifier.stats.aborts - abortsBefore, pending.length);
  assert.deepEqual(registered(reader), 0);
  assert.equal(reader.notifier.stats.indexedKeys, 0);
  assert.equal(reader.notifier.stats.wakes - wakesBefore, woken.length, 'aborts are not wakes');
});

test('an UPDATE and a DELETE of an event through the writer wake that room’s waiters, and only them', {
  timeout: 60_000,
}, async () => {
  const { reader, updates } = await startReader(url, 'wake_fanout_upd_del');
  const edited = '!edited:test';
  const bystanders = Array.from({ length: 100 }, (_, i) => `!bystander${i}:test`);

  const row = event(edited, 10);
  const { position: inserted } = await writer.transaction((tx) => tx.insert(eventsStream, row));
  await reader.waitForPosition(inserted, 10_000);

  /** Waiters on the edited room (two, one with extra keys) and on each bystander room, at the current token. */
  const register = () => {
    const since = reader.token;
    return {
      edited: [poll(reader, 'edited', [edited], since), poll(reader, 'edited+', ['@x:test', edited], since)],
      bystanders: bystanders.map((r) => poll(reader, r, [r], since)),
    };
  };

  const changes = [
    {
      op: 'update',
      write: () =>
        writer.transaction(async (tx) => {
          const n = await tx
            .knex('events')
            .where({ event_id: row.event_id })
            .update({ content: JSON.stringify({ body: 'edited' }) });
          assert.equal(n, 1);
        }),
    },
    {
      op: 'delete',
      write: () =>
        writer.transaction(async (tx) => {
          const n = await tx.knex('events').where({ event_id: row.event_id }).delete();
          assert.equal(n, 1);
        }),
    },
  ] as const;

  for (const { op, write } of changes) {
    const polls = register();
    const wakesBefore = reader.notifier.stats.wakes;
    assert.equal(registered(reader), 2 + bystanders.length, `${op}: every poll waits`);
    const { position } = await write();
    assert.deepEqual(await Promise.all(polls.edited.map((p) => p.promise)), ['updated', 'updated'], op);
    await reader.waitForPosition(position, 10_000);
    assert.equal(reader.notifier.stats.wakes - wakesBefore, 2, `${op}: two wakes`);
    assert.equal(registered(reader), bystanders.length, `${op}: no bystander woken`);
    const seen = updates.filter((u) => u.stream === 'events' && u.op === op);
    assert.equal(seen.length, 1, `${op} decoded once`);
    assert.deepEqual(await endPolls(polls.bystanders), stillWaiting(polls.bystanders), op);
    assert.deepEqual(registered(reader), 0, `${op}: nothing left registered`);
  }
});
