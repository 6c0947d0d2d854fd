/**
 * Nothing is lost across the server's faults: the walsender terminated mid-stream, and PostgreSQL restarted
 * (clean and crash) while a slow reader still has a backlog. The reader reconnects by itself, with
 * backoff, and delivers every row once, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { freshDatabase, localCluster, query } from '../support/pg.ts';
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

test('walsender terminated and PostgreSQL restarted mid-stream: the reader resumes and loses nothing', {
  timeout: 300_000,
}, async (t) => {
  const cluster = await localCluster();
  const { sub, connected, statuses } = subscribeForTest({
    connectionString: url,
    slot: 'server_faults',
    publication: 'slotstream',
    ifSlotActive: 'wait', // after a crash the old walsender may hold the slot for a moment
    backoff: { initialMs: 50, maxMs: 1000 },
  });
  const rows: number[] = [];
  let expected = Number.POSITIVE_INFINITY;
  // A slow consumer: a backlog stays in flight while the faults happen.
  const reading = readTransactions(sub, async (received) => {
    const last = received.at(-1);
    if (last) rows.push(...last.orderings);
    await new Promise((r) => setTimeout(r, 2));
    return rows.length >= expected;
  });
  await connected;

  let next = await write(1, 300, 10);
  await waitFor('some rows to arrive', async () => rows.length > 100);
  const [walsender] = await query<{ pid: number }>(
    url,
    "SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = 'server_faults'",
  );
  await query(url, 'SELECT pg_terminate_backend($1)', [walsender?.pid]);
  next = await write(next, 300, 10);

  if (cluster) {
    await waitFor('rows after the walsender was terminated', async () => rows.length > 3000);
    await cluster.restart('fast');
    next = await write(next, 300, 10);
    await waitFor('rows after the restart', async () => rows.length > 6000);
    await cluster.restart('immediate'); // a crash: recovery replays the WAL
    next = await write(next, 300, 10);
  } else {
    t.diagnostic('DATABASE_URL: the server is not ours to restart; only the walsender was terminated');
  }
  expected = next - 1;
  // One more transaction, so the reader checks `expected` even if it already had every row.
  await query(url, "SELECT pg_logical_emit_message(true, 'test', 'wake')");
  await reading;
  await sub.close();

  assert.deepEqual(
    rows.slice(0, expected),
    Array.from({ length: expected }, (_, i) => i + 1),
    'every row once, in order',
  );
  assert.equal(rows.length, expected);
  const reconnects = statuses.filter((s) => s.event === 'reconnecting').length;
  assert.ok(reconnects >= (cluster ? 3 : 1), `reconnected ${reconnects} times`);
  assert.equal(statuses.filter((s) => s.event === 'slot-created').length, 1, 'the slot survived every fault');
});
