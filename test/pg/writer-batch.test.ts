/**
 * The writer's batching, against the server: concurrent StreamWriter transactions share one database
 * transaction, and each caller still gets its own outcome. A first transaction held open by its callback
 * makes the callers behind it queue, so they form the next batch together: no timing decides what is
 * batched with what.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import knexFactory from 'knex';
import { eventsStream } from '../../app/streams.ts';
import { knexConfig } from '../../src/migrations/knex-config.ts';
import { sqlState } from '../../src/replication/errors.ts';
import { UnconfirmedWriteError } from '../../src/writer/errors.ts';
import { StreamWriter, type WriteResult } from '../../src/writer/stream-writer.ts';
import type { WriterTransaction } from '../../src/writer/writer-transaction.ts';
import { EndpointProxy } from '../support/endpoint-proxy.ts';
import { query } from '../support/pg.ts';
import { event, migratedDatabase, writerFor } from '../support/runtime.ts';

const url = await migratedDatabase('writer_batch');
const ROOM = '!batch:test';

/**
 * Runs `works` as one batch: queued behind a transaction whose callback waits until they all are. Resolves
 * with each one's settled outcome, in order.
 */
async function asOneBatch(
  writer: StreamWriter,
  works: ((tx: WriterTransaction) => unknown)[],
): Promise<PromiseSettledResult<WriteResult<unknown>>[]> {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const first = writer.transaction(() => held);
  const outcomes = Promise.allSettled(works.map((work) => writer.transaction(work)));
  release();
  await first;
  return outcomes;
}

test('queued transactions commit as one batch: one position, a row position each, stream_head is the head', async () => {
  const writer = writerFor(url);
  const results = await asOneBatch(
    writer,
    Array.from({ length: 20 }, (_, i) => (tx: WriterTransaction) => tx.insert(eventsStream, event(ROOM, i))),
  );
  const values = results.map((r) => {
    assert.equal(r.status, 'fulfilled');
    return r.value;
  });
  const positions = new Set(values.map((v) => v.position));
  assert.equal(positions.size, 1, 'one database transaction, one position');
  const rowPositions = values.map((v) => (v.value as { position: bigint }).position);
  assert.equal(new Set(rowPositions).size, 20);
  const [position] = positions;
  assert.deepEqual(
    [...rowPositions].sort((a, b) => (a < b ? -1 : 1)),
    Array.from({ length: 20 }, (_, i) => (position as bigint) - 19n + BigInt(i)),
    'the rows take the positions up to the batch position, with no holes',
  );
  const [head] = await query<{ position: string }>(url, 'SELECT position FROM stream_head');
  assert.equal(BigInt(head?.position ?? -1), position);
});

test('a callback that throws after changing the database fails alone: its change is rolled back, its batch-mates commit', async () => {
  const writer = writerFor(url);
  await query(url, 'CREATE TABLE IF NOT EXISTS batch_side (k text PRIMARY KEY)');
  const results = await asOneBatch(writer, [
    (tx) => tx.insert(eventsStream, event(ROOM, 100, { event_id: '$before-throw' })),
    async (tx) => {
      await tx.knex('batch_side').insert({ k: 'from-the-failing-callback' });
      tx.insert(eventsStream, event(ROOM, 101, { event_id: '$of-the-failing-callback' }));
      throw new Error('refused by the caller');
    },
    async (tx) => {
      await tx.knex('batch_side').insert({ k: 'from-a-batch-mate' });
      tx.insert(eventsStream, event(ROOM, 102, { event_id: '$after-throw' }));
    },
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal((results[1] as PromiseRejectedResult).reason.message, 'refused by the caller');
  const side = await query<{ k: string }>(url, 'SELECT k FROM batch_side ORDER BY k');
  assert.deepEqual(side, [{ k: 'from-a-batch-mate' }]);
  const events = await query<{ event_id: string }>(
    url,
    "SELECT event_id FROM events WHERE event_id IN ('$before-throw', '$of-the-failing-callback', '$after-throw') ORDER BY event_id",
  );
  assert.deepEqual(
    events.map((e) => e.event_id),
    ['$after-throw', '$before-throw'],
  );
});

test("a row that breaks a constraint fails its own transaction only, with the server's SQLSTATE; no position is left unannounced", async () => {
  const writer = writerFor(url);
  await writer.transaction((tx) => tx.insert(eventsStream, event(ROOM, 200, { event_id: '$taken' })));
  const results = await asOneBatch(writer, [
    (tx) => tx.insert(eventsStream, event(ROOM, 201, { event_id: '$fine-1' })),
    (tx) => tx.insert(eventsStream, event(ROOM, 202, { event_id: '$taken' })), // unique event_id
    (tx) => tx.insert(eventsStream, event(ROOM, 203, { event_id: '$fine-2' })),
    async (tx) => {
      await tx.knex.raw('SELECT 1');
      tx.insert(eventsStream, event(ROOM, 204, { event_id: '$taken' })); // again, from a savepoint
    },
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled', 'rejected'],
  );
  for (const i of [1, 3]) assert.equal(sqlState((results[i] as PromiseRejectedResult).reason), '23505');
  const fine = await query<{ n: string }>(
    url,
    "SELECT count(*) AS n FROM events WHERE event_id IN ('$fine-1', '$fine-2')",
  );
  assert.equal(fine[0]?.n, '2');
  const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.position);
  const [head] = await query<{ position: string }>(url, 'SELECT position FROM stream_head');
  assert.equal(BigInt(head?.position ?? -1), ok[0], 'the head is the batch position its survivors got');
});

test('a callback whose query fails (aborting the transaction) fails alone', async () => {
  const writer = writerFor(url);
  const results = await asOneBatch(writer, [
    (tx) => tx.insert(eventsStream, event(ROOM, 300, { event_id: '$survivor-1' })),
    async (tx) => {
      await tx.knex.raw('SELECT * FROM no_such_table');
    },
    async (tx) => {
      await tx.knex.raw('SELECT 1');
      tx.insert(eventsStream, event(ROOM, 301, { event_id: '$survivor-2' }));
    },
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal(sqlState((results[1] as PromiseRejectedResult).reason), '42P01');
  const rows = await query(url, "SELECT 1 FROM events WHERE event_id IN ('$survivor-1', '$survivor-2')");
  assert.equal(rows.length, 2);
});

test('a batch whose every callback fails writes nothing and takes no position', async () => {
  const writer = writerFor(url);
  const [before] = await query<{ position: string }>(url, 'SELECT position FROM stream_head');
  const results = await asOneBatch(writer, [
    () => {
      throw new Error('one');
    },
    async (tx) => {
      await tx.knex.raw('SELECT 1/0');
    },
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  const [after] = await query<{ position: string }>(url, 'SELECT position FROM stream_head');
  // The held first transaction took one position (it wrote nothing, but still announces one).
  assert.equal(BigInt(after?.position ?? -1), BigInt(before?.position ?? -1) + 1n);
});

test('a batch that committed but whose flush failed rejects with UnconfirmedWriteError, which has its position', async () => {
  const proxy = await EndpointProxy.start(url);
  after(() => proxy.close());
  // One connection, through the proxy: the flush after COMMIT is cut as it is sent.
  const knex = knexFactory({ ...knexConfig(proxy.url(url)), pool: { min: 0, max: 1 } });
  after(() => knex.destroy());
  let committed = false;
  knex.on('query', (q: { sql?: string }) => {
    if (q.sql === 'COMMIT;') committed = true;
    else if (committed) proxy.cutAll();
  });
  const writer = new StreamWriter(knex);
  const outcome = await writer
    .transaction((tx) => tx.insert(eventsStream, event(ROOM, 400, { event_id: '$unconfirmed' })))
    .then(
      () => assert.fail('the write was confirmed'),
      (error: unknown) => error,
    );
  assert.ok(outcome instanceof UnconfirmedWriteError, String(outcome));
  const [row] = await query<{ stream_ordering: string }>(
    url,
    "SELECT stream_ordering FROM events WHERE event_id = '$unconfirmed'",
  );
  assert.ok(row, 'the write committed');
  assert.ok(BigInt(row.stream_ordering) <= outcome.position, "the error's position covers the row");
});
