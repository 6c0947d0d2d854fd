/**
 * Slots stay safe, through the reader runtime: the reader's slot is invalidated by
 * max_slot_wal_keep_size while the reader is held mid-transaction; the subscription recreates the slot and
 * the runtime turns its reset into "every cache flushed, every waiter told to resync", then carries on
 * with the new slot: no crash, no stale entry, no waiter left hanging.
 *
 * The server setting is changed for this test only and put back after it (test/support/server-setting.ts),
 * on the run's own cluster only; the suite runs PostgreSQL test files one at a time (--test-concurrency=1 in
 * scripts/test/run.ts), so no other file runs under it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventsStream } from '../../app/streams.ts';
import type { ResetEvent, SubscriptionStatus } from '../../src/replication/events.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import type { StreamUpdate } from '../../src/streams/define.ts';
import { burnWal, needsOwnCluster, query } from '../support/pg.ts';
import { endPolls, poll, stillWaiting } from '../support/polls.ts';
import { waitFor } from '../support/replication.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';
import { withServerSetting } from '../support/server-setting.ts';

const SLOT = 'rt_reset';
const url = await migratedDatabase('rt_reset');
const writer = writerFor(url);

async function slotRow() {
  const [row] = await query<{
    wal_status: string;
    active: boolean;
    restart_lsn: string | null;
    confirmed_flush_lsn: string | null;
  }>(
    url,
    `SELECT wal_status, active, restart_lsn::text, confirmed_flush_lsn::text
       FROM pg_replication_slots WHERE slot_name = $1`,
    [SLOT],
  );
  return row;
}

/** A promise and what settles it, for hand-driven steps. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

test('a slot lost to max_slot_wal_keep_size flushes every cache and wakes every waiter with resync; the reader goes on', {
  timeout: 180_000,
  skip: needsOwnCluster('changes max_slot_wal_keep_size, a server-wide setting'),
}, async () => {
  await withServerSetting('max_slot_wal_keep_size', '1MB', async () => {
    const stalled = gate();
    const release = gate();
    const resetSeen = gate<ResetEvent>();
    const resets: ResetEvent[] = [];
    const statuses: SubscriptionStatus[] = [];
    const updates: StreamUpdate[] = [];
    // What the reader held when its new slot was created, just before the reset reached the runtime.
    let atRecreation: { sizes: number[]; waiters: number } | undefined;

    const { reader, caches } = await startReader(url, SLOT, {
      // Holds the reader on the first row of the stalling transaction: nothing is acknowledged, the slot lags.
      onUpdate: async (update) => {
        updates.push(update);
        const row = update.row as { room_id?: string } | null;
        if (update.stream === 'events' && row?.room_id === '!stall:test') {
          stalled.open();
          await release.promise;
        }
      },
      onReset: (reset) => {
        resets.push(reset);
        resetSeen.open(reset);
      },
      onStatus: (status) => {
        statuses.push(status);
        if (
          status.event === 'slot-created' &&
          statuses.filter((s) => s.event === 'slot-created').length === 2
        ) {
          atRecreation = {
            sizes: reader.caches?.stats.map((c) => c.size) ?? [],
            waiters: reader.notifier.stats.waiters,
          };
        }
      },
      subscription: { backoff: { initialMs: 50, maxMs: 500 } },
    });
    let stopped = false;
    const stop = () => {
      stopped = true;
    };
    reader.done.then(stop, stop);
    const registry = reader.caches;
    assert.ok(registry);

    // Several caches, several entries each.
    for (let i = 0; i < 30; i++) await caches.getEvent.getOrLoad([`$ev${i}`], () => null);
    for (let i = 0; i < 10; i++) {
      await caches.getRoomTimeline.getOrLoad([`!r${i}:test`, '10'], () => []);
      await caches.getRoomTimeline.getOrLoad([`!r${i}:test`, '50'], () => []);
    }
    for (let i = 0; i < 15; i++) await caches.getRoomsForUser.getOrLoad([`@u${i}:test`], () => []);
    for (let i = 0; i < 5; i++)
      await caches.getAccountData.getOrLoad([`@u${i}:test`, 'm.push_rules'], () => ({}));
    const populated = registry.stats.map((c) => c.size);
    const filled: Record<string, number> = {
      getEvent: 30,
      getRoomTimeline: 20,
      getRoomsForUser: 15,
      getAccountData: 5,
    };
    assert.deepEqual(
      populated,
      registry.stats.map((c) => filled[c.name] ?? 0),
      'those filled, and the app’s other caches empty',
    );
    // A load in flight across the reset: its result, read before the reset, must not be stored.
    const loadRelease = gate<null>();
    const inFlight = caches.getEvent.getOrLoad(['$inflight'], () => loadRelease.promise);

    // Many waiters on different keys (rooms, users, both), none of them touched by the stalling transaction.
    const waiters = [
      ...Array.from({ length: 20 }, (_, i) => [`!r${i}:test`]),
      ...Array.from({ length: 20 }, (_, i) => [`@u${i}:test`]),
      ...Array.from({ length: 10 }, (_, i) => [`@u${i}:test`, `!r${i}:test`, `!elsewhere${i}:test`]),
      [],
    ];
    const waits = waiters.map((keys) => reader.wait({ keys, since: reader.token, timeoutMs: 150_000 }));
    assert.equal(reader.notifier.stats.waiters, waiters.length);

    const { position: stallPosition } = await writer.transaction((tx) =>
      tx.insert(eventsStream, event('!stall:test', 1)),
    );
    await stalled.promise;
    await waitFor(
      'the slot to be lost',
      async () => {
        await burnWal(url);
        return (await slotRow())?.wal_status === 'lost';
      },
      60_000,
    );
    const [lost] = await query<{ lsn: string }>(url, 'SELECT pg_current_wal_lsn()::text AS lsn');
    const lostAt = parseLsn(lost?.lsn ?? '0/0');
    assert.equal(
      reader.notifier.stats.waiters,
      waiters.length,
      'no waiter was answered while the reader was held',
    );
    assert.equal(reader.stats.resets, 0);

    release.open();
    const reset = await resetSeen.promise;
    assert.equal(reset.reason, 'slot-lost');
    assert.equal(reset.slot, SLOT);
    assert.deepEqual(
      atRecreation,
      { sizes: populated, waiters: waiters.length },
      'all still there until the reset',
    );

    const kinds = await Promise.all(waits);
    assert.deepEqual(
      kinds,
      waiters.map(() => 'resync'),
      'every waiter is told to resync',
    );
    assert.equal(reader.notifier.stats.waiters, 0);
    assert.equal(reader.notifier.stats.resyncs, waiters.length);
    for (const cache of registry.stats) {
      assert.equal(cache.size, 0, `${cache.name} is empty`);
      assert.equal(cache.indexNodes, 0, `${cache.name}'s index is empty`);
    }
    loadRelease.open(null);
    assert.equal(await inFlight, null);
    assert.equal(caches.getEvent.size, 0, 'a load begun before the reset is not stored');
    assert.equal(registry.stats.find((c) => c.name === 'getEvent')?.staleLoads, 1);
    assert.equal(reader.stats.resets, 1);
    assert.equal(resets.length, 1);
    assert.ok(reader.position >= stallPosition, 'the position after a reset is the head, read anew');
    assert.equal(statuses.filter((s) => s.event === 'slot-created').length, 2, 'the slot was recreated');

    // The reader goes on from the new slot.
    await waitFor('the new slot', async () => {
      const slot = await slotRow();
      return slot?.wal_status === 'reserved' && slot.active && statuses.at(-1)?.event === 'connected';
    });
    await caches.getRoomTimeline.getOrLoad(['!after:test', '10'], () => []);
    await caches.getRoomTimeline.getOrLoad(['!keep:test', '10'], () => []);
    await caches.getEvent.getOrLoad(['$ev0'], () => null);
    const woken = reader.wait({ keys: ['!after:test'], since: reader.token, timeoutMs: 30_000 });
    const notWoken = poll(reader, 'a waiter on another room', ['!keep:test'], reader.token);
    const wakesBefore = reader.notifier.stats.wakes;
    const sent = event('!after:test', 2);
    const { position } = await writer.transaction((tx) => tx.insert(eventsStream, sent));
    assert.equal(await woken, 'updated', 'a new write wakes a new waiter');
    assert.equal(reader.position, position);
    // Applied, so every wake it caused is counted (test/support/polls.ts).
    assert.equal(reader.notifier.stats.wakes - wakesBefore, 1, 'one waiter woken');
    assert.equal(reader.notifier.stats.waiters, 1, 'and only the waiters it concerns');
    assert.deepEqual(await endPolls([notWoken]), stillWaiting([notWoken]));
    assert.deepEqual(
      caches.getRoomTimeline.get(['!after:test', '10'])?.map((e) => e.event_id),
      [sent.event_id],
      'the write reached its room’s timeline',
    );
    assert.deepEqual(caches.getRoomTimeline.get(['!keep:test', '10']), [], 'and nothing else');
    assert.equal(caches.getEvent.size, 1);
    assert.ok(
      updates.some((u) => u.stream === 'events' && (u.row as { room_id?: string }).room_id === '!after:test'),
    );
    assert.equal(reader.stats.resets, 1, 'one reset, no loop');
    assert.equal(stopped, false, 'the reader is still running');

    // The server's view: a new slot, started after the old one was lost, confirmed up to the new write.
    const applied = reader.stats.appliedLsn;
    await waitFor('the new slot to be acknowledged', async () => {
      const slot = await slotRow();
      return slot?.confirmed_flush_lsn != null && parseLsn(slot.confirmed_flush_lsn) >= applied;
    });
    const slot = await slotRow();
    assert.equal(slot?.wal_status, 'reserved');
    assert.equal(slot?.active, true);
    assert.ok(slot?.restart_lsn != null && parseLsn(slot.restart_lsn) >= lostAt, 'the slot is a new one');
  });
});
