/**
 * Nothing is lost across the server's faults: the walsender terminated mid-stream, and PostgreSQL restarted
 * (clean and crash) while a slow reader still has a backlog. The reader reconnects by itself, with
 * backoff, and delivers every row once, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { freshDatabase, localCluster, needsOwnCluster, query } from '../support/pg.ts';
import { insertEvents, readTransactions, subscribeForTest, waitFor } from '../support/replication.ts';

const url = await freshDatabase('server_faults');
await migrateChat(url);

async function write(first: number, transactions: number, perTransaction: number): Promise<number> {
  const writer = new pg.Client(url);
  await writer.connect();
  try {
    for (let t = 0; t < transactions; t++)
      await insertEvents(writer, first + t * perTransaction, perTransaction);
  } finally {
    await writer.end();
  }
  return first + transactions * perTransaction;
}

/**
 * A subscription read by a slow consumer, recording every row, which are to come from `first` on; `all(last)`
 * resolves once every row up to `last` has, and checks that each came once, in order.
 */
function slowReader(slot: string, first: number) {
  const { sub, connected, statuses } = subscribeForTest({
    connectionString: url,
    slot,
    publication: 'slotstream',
    ifSlotActive: 'wait', // after a crash the old walsender may hold the slot for a moment
    backoff: { initialMs: 50, maxMs: 1000 },
  });
  const rows: number[] = [];
  let expected = Number.POSITIVE_INFINITY; // rows to come
  // A slow consumer: a backlog stays in flight while the faults happen. The pause only paces it; no
  // condition waits on it.
  const reading = readTransactions(sub, async (received) => {
    const last = received.at(-1);
    if (last) rows.push(...last.orderings);
    await new Promise((r) => setTimeout(r, 2));
    return rows.length >= expected;
  });
  return {
    connected,
    rows,
    /** The rows up to `last` have all been written: ends the reading once they have all come. */
    async all(last: number): Promise<void> {
      expected = last - first + 1;
      // One more transaction, so the reader checks `expected` even if it already had every row.
      await query(url, "SELECT pg_logical_emit_message(true, 'test', 'wake')");
      await reading;
      await sub.close();
      assert.deepEqual(
        rows.slice(0, expected),
        Array.from({ length: expected }, (_, i) => first + i),
        'every row once, in order',
      );
      assert.equal(rows.length, expected);
      assert.equal(
        statuses.filter((s) => s.event === 'slot-created').length,
        1,
        'the slot survived every fault',
      );
    },
    reconnects: () => statuses.filter((s) => s.event === 'reconnecting').length,
  };
}

async function terminateWalsender(slot: string): Promise<void> {
  const [walsender] = await query<{ pid: number }>(
    url,
    'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  await query(url, 'SELECT pg_terminate_backend($1)', [walsender?.pid]);
}

test('walsender terminated mid-stream: the reader resumes and loses nothing', {
  timeout: 300_000,
}, async () => {
  const reader = slowReader('walsender_fault', 1);
  await reader.connected;
  let next = await write(1, 300, 10);
  await waitFor('some rows to arrive', async () => reader.rows.length > 100);
  await terminateWalsender('walsender_fault');
  next = await write(next, 300, 10);
  await reader.all(next - 1);
  assert.ok(reader.reconnects() >= 1, `reconnected ${reader.reconnects()} times`);
});

test('PostgreSQL restarted (clean, then a crash) mid-stream: the reader resumes and loses nothing', {
  timeout: 300_000,
  skip: needsOwnCluster('restarts the server'),
}, async () => {
  const cluster = await localCluster();
  assert.ok(cluster);
  const first = 100_001; // after the rows of the test above
  const reader = slowReader('restart_fault', first);
  await reader.connected;
  let next = await write(first, 300, 10);
  await waitFor('some rows to arrive', async () => reader.rows.length > 100);
  await cluster.restart('fast');
  next = await write(next, 300, 10);
  await waitFor('rows after the restart', async () => reader.rows.length > 3000);
  await cluster.restart('immediate'); // a crash: recovery replays the WAL
  next = await write(next, 300, 10);
  await reader.all(next - 1);
  assert.ok(reader.reconnects() >= 2, `reconnected ${reader.reconnects()} times`);
});
