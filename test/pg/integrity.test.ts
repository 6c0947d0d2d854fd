// slotstream-test: version-sensitive
/**
 * A reader never goes silently stale (docs/design.md, guarantee 1): a publication dropped, or narrowed, under
 * a running reader makes the walsender skip rows (18 logs a WARNING; 15 stops at the first change), while the
 * writer's messages still arrive. The writer's counts message shows the transaction incomplete; the reader
 * faults (nothing applied or acknowledged, caches emptied), waits for `slotstream migrate` to repair the
 * publication, and starts over on a new slot (a reset). Counting holds under batching and `tx.knex` writes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accountDataStream, receiptsStream } from '../../app/streams.ts';
import type { ReaderFault } from '../../src/reader/stream-reader.ts';
import { PublicationError } from '../../src/replication/errors.ts';
import type { JsonValue } from '../../src/replication/pgoutput/values.ts';
import { CHANGE_COUNTS } from '../../src/streams/change-counts.ts';
import { runCli } from '../support/cli.ts';
import { query } from '../support/pg.ts';
import { slotState } from '../support/replication.ts';
import { migratedDatabase, startReader, writerFor } from '../support/runtime.ts';
import { waitFor } from '../support/wait-for.ts';

const url = await migratedDatabase('integrity');
const writer = writerFor(url);
const db = ['--database-url', url];
const FAST = { backoff: { initialMs: 50, maxMs: 500 } };

const published = async () =>
  (
    await query<{ t: string }>(
      url,
      "SELECT schemaname || '.' || tablename AS t FROM pg_publication_tables WHERE pubname = 'slotstream' ORDER BY 1",
    )
  ).map((r) => r.t);

/** Sets account data `type` of `user` to `{ n }` through the writer; resolves to the transaction's position. */
async function setCounter(user: string, n: number): Promise<bigint> {
  const { position } = await writer.transaction((tx) => {
    tx.insert(
      accountDataStream,
      { user_id: user, type: 'm.counter', content: { n } },
      { onConflict: ['user_id', 'type'] },
    );
  });
  return position;
}

async function loadCounter(user: string): Promise<JsonValue> {
  const [row] = await query<{ content: JsonValue }>(
    url,
    "SELECT content FROM account_data WHERE user_id = $1 AND type = 'm.counter'",
    [user],
  );
  return row?.content ?? null;
}

test('DROP PUBLICATION under writes: the reader faults without applying, serves nothing stale, and resets once migrate recreates it', {
  timeout: 120_000,
}, async () => {
  const faults: ReaderFault[] = [];
  const { reader, caches } = await startReader(url, 'integrity_drop', {
    record: false,
    onFault: (fault) => void faults.push(fault),
    subscription: FAST,
  });
  const cache = caches.getAccountData;
  const user = '@drop:test';
  const key: [string, string] = [user, 'm.counter'];
  await reader.waitForPosition(await setCounter(user, 1), 10_000);
  assert.deepEqual(await cache.getOrLoad(key, () => loadCounter(user)), { n: 1 });

  await query(url, 'DROP PUBLICATION slotstream');
  const [before] = await query<{ lsn: string }>(url, 'SELECT pg_current_wal_lsn()::text AS lsn');
  const lost = await setCounter(user, 2);
  const fault = await waitFor('the fault', () => reader.fault);

  assert.equal(fault.kind, 'publication');
  assert.ok(fault.error instanceof PublicationError);
  assert.match(fault.error.message, /publication "slotstream" does not exist.*slotstream migrate/s);
  assert.equal(reader.stats.faults, 1);
  assert.match(reader.stats.fault ?? '', /does not exist/);
  assert.ok(reader.position < lost, 'the incomplete transaction is not applied');
  assert.equal(cache.get(key), undefined, 'the caches were emptied: what they held is no longer vouched for');
  assert.deepEqual(await cache.getOrLoad(key, () => loadCounter(user)), { n: 2 });
  assert.deepEqual(await published(), []);
  // The server's view: the slot was not acknowledged past what came before the incomplete transaction.
  const slot = await slotState(url, 'integrity_drop');
  assert.ok(slot?.confirmed_flush_lsn, 'the old slot is kept until the repair');
  assert.ok(
    (
      await query<{ behind: boolean }>(url, 'SELECT $1::pg_lsn <= $2::pg_lsn AS behind', [
        slot.confirmed_flush_lsn,
        before?.lsn,
      ])
    )[0]?.behind,
  );

  const migrated = await runCli(['migrate', ...db]);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stdout, /created publication slotstream: public\.events, public\.receipts/);
  assert.ok((await published()).includes('public.account_data'));

  await waitFor(
    'the reset that ends the fault',
    () => reader.stats.resets === 1 && reader.fault === undefined,
  );
  assert.ok(reader.position >= lost, 'after the reset the reader stands at the head');
  assert.ok(faults.length >= 1 && faults.every((f) => f.kind === 'publication'));
  // The new slot decodes again: a later write invalidates the cached value and wakes read-your-writes.
  assert.deepEqual(await cache.getOrLoad(key, () => loadCounter(user)), { n: 2 });
  await reader.waitForPosition(await setCounter(user, 3), 10_000);
  assert.equal(cache.get(key), undefined);
  assert.deepEqual(await cache.getOrLoad(key, () => loadCounter(user)), { n: 3 });
  assert.equal(reader.stats.faults, 1);
  assert.equal((await slotState(url, 'integrity_drop'))?.active, true);
  await reader.close();
});

test('ALTER PUBLICATION … DROP TABLE receipts: a receipt makes the reader fault naming the table; doctor fails, migrate adds it back', {
  timeout: 120_000,
}, async () => {
  const { reader } = await startReader(url, 'integrity_narrowed', {
    record: false,
    subscription: FAST,
    onFault: () => {},
  });
  await reader.waitForPosition(await setCounter('@narrow:test', 1), 10_000);

  await query(url, 'ALTER PUBLICATION slotstream DROP TABLE receipts');
  const doctor = await runCli(['doctor', ...db]);
  assert.match(doctor.stdout, /^fail {2}publication slotstream: does not cover public\.receipts/m);

  const { position } = await writer.transaction((tx) => {
    tx.insert(receiptsStream, {
      room_id: '!r:test',
      user_id: '@narrow:test',
      receipt_type: 'm.read',
      event_id: '$e',
      ts: 1,
    });
  });
  const fault = await waitFor('the fault', () => reader.fault);
  assert.equal(fault.kind, 'publication');
  assert.match(fault.error.message, /does not cover public\.receipts/);
  assert.ok(reader.position < position);
  assert.equal(reader.stats.resets, 0);

  const migrated = await runCli(['migrate', ...db]);
  assert.match(migrated.stdout, /publication slotstream: added public\.receipts/);
  assert.ok((await published()).includes('public.receipts'));
  await waitFor('the reset', () => reader.stats.resets === 1 && reader.fault === undefined);
  await reader.waitForPosition(await setCounter('@narrow:test', 2), 10_000);
  await reader.close();
});

test('a row filter on a stream table: a filtered-out change makes the reader fault naming it; migrate publishes it whole', {
  timeout: 120_000,
}, async () => {
  const { reader } = await startReader(url, 'integrity_filtered', {
    record: false,
    subscription: FAST,
    onFault: () => {},
  });
  await reader.waitForPosition(await setCounter('@shown:test', 1), 10_000);

  await query(url, 'ALTER PUBLICATION slotstream DROP TABLE account_data');
  await query(url, "ALTER PUBLICATION slotstream ADD TABLE account_data WHERE (user_id <> '@hidden:test')");
  const doctor = await runCli(['doctor', ...db]);
  assert.equal(doctor.code, 1);
  assert.match(
    doctor.stdout,
    /^fail {2}publication slotstream: publishes only some rows or columns of public\.account_data/m,
  );

  // Rows the filter lets through still arrive whole; the first it holds back leaves its transaction short.
  await reader.waitForPosition(await setCounter('@shown:test', 2), 10_000);
  assert.equal(reader.fault, undefined);
  const hidden = await setCounter('@hidden:test', 1);
  const fault = await waitFor('the fault', () => reader.fault);
  assert.equal(fault.kind, 'publication');
  assert.match(fault.error.message, /publishes only some rows or columns of public\.account_data/);
  assert.ok(reader.position < hidden);

  const migrated = await runCli(['migrate', ...db]);
  assert.match(migrated.stdout, /publication slotstream: publishes public\.account_data whole again/);
  const [rel] = await query<{ filtered: boolean }>(
    url,
    `SELECT r.prqual IS NOT NULL AS filtered FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
      WHERE p.pubname = 'slotstream' AND r.prrelid = 'account_data'::regclass`,
  );
  assert.deepEqual(rel, { filtered: false });
  await waitFor('the reset', () => reader.stats.resets === 1 && reader.fault === undefined);
  await reader.waitForPosition(await setCounter('@hidden:test', 2), 10_000);
  await reader.close();

  // A column list is the same kind of restriction.
  await query(url, 'ALTER PUBLICATION slotstream DROP TABLE account_data');
  await query(url, 'ALTER PUBLICATION slotstream ADD TABLE account_data (user_id, type, stream_id)');
  assert.match(
    (await runCli(['doctor', ...db])).stdout,
    /^fail {2}publication slotstream: publishes only some rows or columns of public\.account_data/m,
  );
  assert.match((await runCli(['migrate', ...db])).stdout, /publishes public\.account_data whole again/);
});

test('a publication that stops publishing updates: doctor fails, migrate restores it', async () => {
  await query(url, "ALTER PUBLICATION slotstream SET (publish = 'insert')");
  const doctor = await runCli(['doctor', ...db]);
  assert.equal(doctor.code, 1);
  assert.match(doctor.stdout, /^fail {2}publication slotstream: does not publish update, delete, truncate/m);
  const migrated = await runCli(['migrate', ...db]);
  assert.match(migrated.stdout, /publication slotstream: publishes update, delete, truncate again/);
  const [pub] = await query(
    url,
    "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 'slotstream'",
  );
  assert.deepEqual(pub, { pubinsert: true, pubupdate: true, pubdelete: true, pubtruncate: true });
});

test('batches with tx.knex writes, rolled-back members and upserts: every transaction checked, none a fault', {
  timeout: 120_000,
}, async () => {
  const { reader } = await startReader(url, 'integrity_counts', { record: false });
  const checkedBefore = reader.stats.checkedTransactions;
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) {
    const user = `@w${i % 7}:test`;
    calls.push(
      writer.transaction(async (tx) => {
        if (i % 3 === 0) {
          // Through knex: counted by the database like the writer's own rows.
          await tx
            .knex('account_data')
            .where({ user_id: user })
            .update({ content: { n: i } });
          await tx.knex('receipts').where({ user_id: user }).delete();
        }
        tx.insert(
          accountDataStream,
          { user_id: user, type: 'm.counter', content: { n: i } },
          { onConflict: ['user_id', 'type'] },
        );
        tx.insert(
          receiptsStream,
          { room_id: '!r:test', user_id: user, receipt_type: `t${i % 5}`, event_id: `$${i}`, ts: i },
          { onConflict: ['room_id', 'user_id', 'receipt_type'] },
        );
        if (i % 11 === 0) {
          // Touched knex, then failed: its savepoint and its counts are rolled back.
          await tx.knex('receipts').where({ user_id: user }).delete();
          throw new Error('rolled back on purpose');
        }
      }),
    );
  }
  const results = await Promise.allSettled(calls);
  const positions = results.flatMap((r) =>
    r.status === 'fulfilled' ? [(r.value as { position: bigint }).position] : [],
  );
  assert.equal(results.filter((r) => r.status === 'rejected').length, 19);
  let last = 0n;
  for (const position of positions) if (position > last) last = position;
  await reader.waitForPosition(last, 30_000);
  assert.equal(reader.stats.faults, 0);
  assert.equal(reader.stats.resets, 0);
  assert.ok(reader.stats.checkedTransactions > checkedBefore, 'the counts were checked, not absent');
  await reader.close();
});

test('faults that keep coming wait longer each time before the slot is replaced, and each ends in a reset', {
  timeout: 120_000,
}, async () => {
  const { reader } = await startReader(url, 'integrity_repeated', {
    record: false,
    subscription: FAST,
    onFault: () => {},
    faultRetry: { initialMs: 50, maxMs: 400 },
  });
  await reader.waitForPosition(await setCounter('@repeat:test', 0), 10_000);
  const delays: number[] = [];
  for (let n = 1; n <= 3; n++) {
    const resets = reader.stats.resets;
    // A transaction that claims more changes than it made (what a counting bug, or a cause the publication
    // checks cannot see, would look like): the publication is whole, so the fault is "incomplete".
    const { position } = await writer.transaction(async (tx) => {
      await tx.knex.raw('SELECT set_config(?, ?, true)', [
        CHANGE_COUNTS,
        JSON.stringify({ 'public.account_data': 5 }),
      ]);
      tx.insert(
        accountDataStream,
        { user_id: '@repeat:test', type: 'm.counter', content: { n } },
        { onConflict: ['user_id', 'type'] },
      );
    });
    const fault = await waitFor('the fault', () => reader.fault);
    assert.equal(fault.kind, 'incomplete');
    assert.ok(reader.position < position, 'the incomplete transaction was not applied');
    await waitFor('the reset', () => reader.stats.resets > resets && reader.fault === undefined);
    delays.push(reader.stats.faultDelayMs);
  }
  assert.equal(reader.stats.faults, 3);
  // Jittered doubling: 25–50 ms, then 50–100, then 100–200.
  assert.ok(
    (delays[0] as number) <= (delays[1] as number) && (delays[1] as number) <= (delays[2] as number),
    `delays grow: ${delays}`,
  );
  assert.ok((delays[2] as number) >= 100, `the third fault waited twice the first's ceiling: ${delays}`);
  await reader.waitForPosition(await setCounter('@repeat:test', 4), 10_000);
  await reader.close();
});
