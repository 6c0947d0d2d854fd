// slotstream-test: version-sensitive
/**
 * Slots stay safe (docs/design.md): a slot invalidated by max_slot_wal_keep_size (its WAL removed while the reader lagged)
 * becomes a reset event and a new slot, and the reader carries on: no crash loop, no silent staleness.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import type { ResetEvent } from '../../src/replication/subscribe.ts';
import { burnWal, freshDatabase, needsOwnCluster } from '../support/pg.ts';
import {
  insertEvents,
  readTransactions,
  slotState,
  subscribeForTest,
  waitFor,
} from '../support/replication.ts';
import { withServerSetting } from '../support/server-setting.ts';

const url = await freshDatabase('slot_lost');
await migrateChat(url);

test(
  'a slot lost to max_slot_wal_keep_size yields a reset and a new slot, and streaming goes on',
  {
    timeout: 120_000,
    skip: needsOwnCluster('changes max_slot_wal_keep_size, a server-wide setting'),
  },
  () =>
    withServerSetting('max_slot_wal_keep_size', '1MB', async () => {
      const { sub, connected, statuses } = subscribeForTest({
        connectionString: url,
        slot: 'slot_lost',
        publication: 'slotstream',
        backoff: { initialMs: 50, maxMs: 500 },
      });
      const writer = new pg.Client(url);
      await writer.connect();
      try {
        // The reader takes the first transaction and then stalls without acknowledging it: the slot lags.
        let release = () => {};
        const stalled = new Promise<void>((r) => {
          release = r;
        });
        const first = readTransactions(sub, async (r) => {
          if (r.length === 1) await stalled;
          return r.length === 1;
        });
        await connected;
        await insertEvents(writer, 1, 1);
        await waitFor('the slot to be lost', async () => {
          await burnWal(url);
          return (await slotState(url, 'slot_lost'))?.wal_status === 'lost';
        });
        release();
        assert.deepEqual(
          (await first).map((t) => t.orderings),
          [[1]],
        );

        const resets: ResetEvent[] = [];
        const after = readTransactions(
          sub,
          (r) => r.length === 1,
          (event) => {
            if (event.tag === 'reset') resets.push(event);
          },
        );
        await waitFor(
          'the new slot',
          async () =>
            (await slotState(url, 'slot_lost'))?.wal_status === 'reserved' &&
            statuses.at(-1)?.event === 'connected',
        );
        await insertEvents(writer, 2, 3);
        assert.deepEqual(
          (await after).map((t) => t.orderings),
          [[2, 3, 4]],
        );
        assert.equal(resets.length, 1);
        assert.equal(resets[0]?.reason, 'slot-lost');
        assert.equal(sub.resets, 1);
        assert.equal(statuses.filter((s) => s.event === 'slot-created').length, 2);
      } finally {
        await sub.close();
        await writer.end();
      }
    }),
);
