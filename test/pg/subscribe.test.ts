import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { migrateLatest } from '../../src/migrations/migrator.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import { freshDatabase } from '../support/pg.ts';
import {
  insertEvents,
  readTransactions,
  slotState,
  subscribeForTest,
  waitFor,
} from '../support/replication.ts';

const url = await freshDatabase('subscribe');
await migrateLatest(url);

test('transactions arrive whole, in commit order, and acknowledgements reach confirmed_flush_lsn', async () => {
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    slot: 'basic',
    publication: 'slotstream',
  });
  const writer = new pg.Client(url);
  await writer.connect();
  try {
    const first = readTransactions(sub, (r) => r.length === 3);
    await connected;
    await insertEvents(writer, 1, 1);
    await insertEvents(writer, 2, 5);
    await writer.query(
      'SELECT pg_logical_emit_message(true, \'caches\', \'{"cache":"getEvent","keys":null}\')',
    );
    const received = await first;
    assert.deepEqual(
      received.map((t) => t.orderings),
      [[1], [2, 3, 4, 5, 6], []],
    );
    assert.equal(received[2]?.messages[0]?.prefix, 'caches');
    assert.equal(received[2]?.messages[0]?.content.toString(), '{"cache":"getEvent","keys":null}');
    for (let i = 1; i < received.length; i++)
      assert.ok((received[i]?.commitLsn ?? 0n) > (received[i - 1]?.commitLsn ?? 0n));

    const lastEnd = received[2]?.endLsn ?? 0n;
    await waitFor('confirmed_flush_lsn to reach the last acknowledged commit', async () => {
      const s = await slotState(url, 'basic');
      return s?.confirmed_flush_lsn && parseLsn(s.confirmed_flush_lsn) >= lastEnd;
    });
    const s = await slotState(url, 'basic');
    assert.equal(s?.active, true);
  } finally {
    await sub.close();
    await writer.end();
  }
  await waitFor('the slot to be released', async () => (await slotState(url, 'basic'))?.active === false);
});
