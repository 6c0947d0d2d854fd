/**
 * Bounded memory through the reader runtime: a 1,000,000-row writer transaction over 1,000 rooms is
 * applied by a StreamReader with the chat caches, as one coalesced batch, with its process's peak RSS under
 * 200 MB. getEvent's million keys pass its cap and become one "invalidate everything"; the timeline cache
 * and the waiters, a thousand rooms each, stay precise. PostgreSQL 14+ streams a transaction this big before
 * its commit (the subscription spools it to disk) with pgoutput protocol 2+, which the server's slot
 * statistics must show; the runtime sees it whole either way.
 *
 * The reader runs with its old generation capped at OLD_SPACE_MB, so that the figure is what the reader
 * keeps rather than when V8 gets round to collecting. With Node's defaults the peak is bimodal here, about
 * 125 or about 200 MB from run to run on the same code: in some runs V8 starts allocating the rows of the
 * apply phase straight into the old generation (allocation-site pretenuring: with it turned off, four runs
 * of four stayed low) and, on a machine with this much memory, collects it only some 50 MB later, while a
 * full GC then leaves about 19 MB. Under the cap a reader
 * that kept the transaction (or any part of it growing with its size) runs out of heap and fails the test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { parseLsn } from '../../src/replication/lsn.ts';
import { query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';
import { migratedDatabase } from '../support/runtime.ts';
import { ReaderProcess } from '../support/runtime-process.ts';
import { decodingStats } from '../support/slot-stats.ts';

const ROWS = 1_000_000;
const ROOMS = 1_000;
const RSS_LIMIT_MB = 200;
const OLD_SPACE_MB = 64;
const SLOT = 'rt_big_tx';

const url = await migratedDatabase('rt_big_tx');

const room = (i: number) => `!big${i}:test`;
const sizes = (caches: Array<{ name: string; size: number }>) =>
  Object.fromEntries(caches.map((c) => [c.name, c.size]));

test(`a 1,000,000-row transaction through the runtime: applied as one batch, caps hit, under ${RSS_LIMIT_MB} MB RSS`, {
  timeout: 600_000,
}, async () => {
  const started = Date.now();
  const reader = await ReaderProcess.start(url, SLOT, undefined, [`--max-old-space-size=${OLD_SPACE_MB}`]);
  const proto = reader.status?.event === 'connected' ? reader.status.protoVersion : undefined;

  // Cached before the write: event ids the transaction does not contain (gone only if getEvent is dropped
  // whole), timelines of rooms it writes to (each invalidated by its room) and of one it does not, and two
  // caches no events row of type m.room.message concerns.
  const before = await reader.populate({
    events: Array.from({ length: 300 }, (_, i) => `$cached${i}`),
    timelines: [
      ...Array.from({ length: 20 }, (_, i) => [room(i * 37), '10'] as [string, string]),
      ['!quiet:test', '10'],
    ],
    users: Array.from({ length: 20 }, (_, i) => `@user${i}:test`),
    accountData: Array.from({ length: 10 }, (_, i) => [`@user${i}:test`, 'm.push_rules'] as [string, string]),
  });
  assert.deepEqual(sizes(before), {
    getEvent: 300,
    getRoomTimeline: 21,
    getRoomsForUser: 20,
    getAccountData: 10,
    getMemberships: 0,
    getTokenUser: 0,
  });
  const woken = await reader.wait([room(7), '@nobody:test'], 600_000);
  const quiet = await reader.wait(['!quiet:test'], 600_000);
  const idleRssMb = (await reader.stats()).maxRssKb / 1024;

  // The writer protocol by hand: positions allocated under stream_head's row lock, the rows, the position
  // message last, one transaction.
  const client = new pg.Client(url);
  await client.connect();
  let last: bigint;
  let beforeCommit: bigint;
  const writeStarted = Date.now();
  try {
    await client.query('BEGIN');
    const head = await client.query<{ position: string }>('SELECT slotstream_allocate($1) AS position', [
      ROWS,
    ]);
    last = BigInt(head.rows[0]?.position ?? Number.NaN);
    await client.query(
      `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
       SELECT n, '$big' || n, '!big' || (n % $3) || ':test', 'm.room.message', '@bulk:test',
              jsonb_build_object('body', 'message ' || n), 1764151200000 + n
         FROM generate_series($1::bigint, $2::bigint) AS n`,
      [(last - BigInt(ROWS) + 1n).toString(), last.toString(), ROOMS],
    );
    await client.query("SELECT pg_logical_emit_message(true, 'slotstream.position', $1::text)", [
      last.toString(),
    ]);
    // The commit record goes after this point: a slot confirmed past it has the transaction.
    const lsn = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    beforeCommit = parseLsn(lsn.rows[0]?.lsn ?? '0/0');
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
  const written = Date.now();

  const stats = await reader.waitForPosition(last, 540_000);
  const applied = Date.now();
  assert.equal(stats.reader.position, last, "the reader's position is the transaction's");
  assert.equal(stats.reader.streamPositions.events, last);
  assert.equal(stats.reader.updates.events, ROWS, 'every row, applied once');
  assert.equal(stats.reader.transactions, 1, 'one transaction, applied as one batch');
  assert.ok(stats.reader.coalesced >= 1, `a cap was hit (coalesced ${stats.reader.coalesced})`);
  assert.deepEqual(stats.warnings, []);
  assert.deepEqual(
    sizes(stats.caches),
    {
      getEvent: 0,
      getRoomTimeline: 1,
      getRoomsForUser: 20,
      getAccountData: 10,
      getMemberships: 0,
      getTokenUser: 0,
    },
    'getEvent dropped whole (past its cap), timelines by room, the rest untouched',
  );
  const getEvent = stats.caches.find((c) => c.name === 'getEvent');
  assert.equal(getEvent?.invalidations, 300);
  assert.equal(await woken.result, 'updated', 'a waiter on a room of the transaction is woken');
  assert.equal(stats.waiters, 1, 'a waiter on a room the transaction did not touch is still waiting');

  // The server's view: the slot is confirmed past the commit.
  const appliedLsn = stats.reader.appliedLsn;
  assert.ok(appliedLsn > beforeCommit, 'the applied transaction ends after the commit record');
  await waitFor('the slot to be confirmed past the commit', async () => {
    const [slot] = await query<{ lsn: string | null }>(
      url,
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [SLOT],
    );
    return slot?.lsn != null && parseLsn(slot.lsn) >= appliedLsn;
  });

  const final = await reader.close();
  void quiet.result; // a waiter left behind ends with the process
  const peakMb = final.maxRssKb / 1024;
  const { streamTxns } = await decodingStats(url, SLOT);
  console.log(
    `# runtime, 1M rows (pgoutput protocol ${proto}, streamed transactions ${streamTxns}): write ${((written - writeStarted) / 1000).toFixed(1)} s, ` +
      `applied ${((applied - written) / 1000).toFixed(1)} s after commit, total ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `reader peak RSS ${peakMb.toFixed(1)} MB (${idleRssMb.toFixed(1)} MB before the write)`,
  );
  assert.ok(peakMb < RSS_LIMIT_MB, `peak RSS ${peakMb.toFixed(1)} MB`);
  // Protocol 2+ asks the server to stream, and a transaction past logical_decoding_work_mem is streamed.
  if (proto !== undefined && proto >= 2) assert.ok(streamTxns > 0, 'the server streamed it before commit');
  else assert.equal(streamTxns, 0, `protocol ${proto}: sent whole after commit`);
});
