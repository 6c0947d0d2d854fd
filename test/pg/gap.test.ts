/**
 * No gaps in tokens, the way a client sees it: a client follows next_batch tokens on a
 * reader, reading each window (since, next_batch] from the database, while 8 clients write through 2
 * writers, each batching its clients' transactions, whose batches commit out of order. Every row must be read exactly once,
 * The controls show the failures the design guards against: with positions taken at insert time, rows
 * committed behind a token the client already passed are never read; without the visibility barrier, a
 * window is read before its rows are visible.
 *
 * The barrier's window (a commit decoded before new snapshots see it) is rare under this writer, which
 * commits asynchronously: its commit record is usually visible before it is flushed, and only flushed WAL is
 * decoded. So the barrier is shown on a server that holds the window open: a cluster of this file's own
 * whose synchronous_standby_names names a standby that never comes, so that a synchronous COMMIT is flushed
 * (and decoded) and then stays in progress, invisible, until its wait is canceled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import type { StreamReader } from '../../src/reader/stream-reader.ts';
import { heldCommit, holdCommits } from '../support/held-commit.ts';
import { OwnClusters } from '../support/own-clusters.ts';
import { query } from '../support/pg.ts';
import { prng } from '../support/prng.ts';
import { handPicked, waitFor } from '../support/replication.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';
import { followTokens, unevenReads, writeEvents } from '../support/token-follower.ts';

const url = await migratedDatabase('gap');
const controlUrl = await migratedDatabase('gap_control');
const own = await OwnClusters.create('gap');
const ROOMS = Array.from({ length: 16 }, (_, i) => `!gap${i}:test`);
const WRITERS = 8;

/** Writes `target` events as the first test describes, with a client following the reader's tokens. */
async function followWhileWriting(dbUrl: string, reader: StreamReader, target: number) {
  const random = prng(20261126);
  // Inside the commit step, between allocating positions and committing: the window where a
  // sequence-based design lets a later transaction commit first.
  const lockHeld = async () => {
    if (random() < 0.2) await sleep(1);
  };
  const writers = Array.from({ length: 2 }, () => writerFor(dbUrl, { poolSize: 2, lockHeld }));
  const writing = writeEvents(writers, { connections: WRITERS, target, rooms: ROOMS });
  const seen = await followTokens(
    dbUrl,
    reader,
    ROOMS,
    writing.then((w) => w.finalPosition),
  );
  return { ...(await writing), ...(await unevenReads(dbUrl, ROOMS, seen)) };
}

test('8 clients over 2 batching writers committing out of order, 20,000 rows: a client following tokens reads every row exactly once', async () => {
  const { reader } = await startReader(url, 'gap_commit_order', { record: false });
  const target = 20_000;
  const { transactions, batches, total, missing, repeated } = await followWhileWriting(url, reader, target);
  assert.equal(total, target);
  assert.deepEqual(missing, [], 'rows skipped');
  assert.deepEqual(repeated, [], 'rows read twice');
  assert.ok(
    batches < transactions,
    `the writers batched (${transactions} transactions in ${batches} commits)`,
  );
  const { barrierWaits, barrierErrors } = reader.stats;
  console.log(`# visibility barrier: ${barrierWaits} of ${batches} commits decoded before they were visible`);
  assert.equal(barrierErrors, 0);
});

test('control: positions taken at insert time (a plain sequence) lose rows behind the token', async () => {
  const { reader } = await startReader(controlUrl, 'gap_insert_order', { record: false });
  const clients = await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      const client = new pg.Client(controlUrl);
      await client.connect();
      return client;
    }),
  );
  await clients[0]?.query('CREATE SEQUENCE control_positions');
  await clients[0]?.query(
    "SELECT setval('control_positions', (SELECT position FROM stream_head) + 1, false)",
  );
  const target = 3_000;
  let written = 0;
  let finalPosition = 0n;
  const writers = clients.map(async (client, w) => {
    const rnd = prng(100 + w);
    while (written < target) {
      written++;
      const e = event(ROOMS[Math.floor(rnd() * ROOMS.length)] as string, written);
      await client.query('BEGIN');
      // Positions from a sequence are what the position guard exists to refuse: told any position goes.
      await client.query(`SELECT 1 FROM ${handPicked('1', '9223372036854775807')}`);
      const { rows } = await client.query<{ p: string }>(
        `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
         VALUES (nextval('control_positions'), $1, $2, $3, $4, $5, $6) RETURNING stream_ordering AS p`,
        [e.event_id, e.room_id, e.type, e.sender, JSON.stringify(e.content), e.origin_server_ts],
      );
      // Between allocating and committing: another writer's later position can commit first.
      await sleep(rnd() < 0.3 ? Math.floor(rnd() * 4) : 0);
      await client.query('COMMIT');
      const p = BigInt(rows[0]?.p ?? 0);
      if (p > finalPosition) finalPosition = p;
    }
  });
  const writing = Promise.all(writers).then(() => finalPosition);
  const seen = await followTokens(controlUrl, reader, ROOMS, writing);
  await writing;
  await Promise.all(clients.map((c) => c.end()));

  const { total, missing } = await unevenReads(controlUrl, ROOMS, seen);
  assert.ok(missing.length > 0, 'with insert-time positions, a client following tokens skips rows');
  console.log(`control: ${missing.length} of ${total} rows skipped with insert-time positions`);
});

/**
 * The held-open window, on a cluster of this file's own: two readers, with and without the barrier, and a
 * writer whose commits stay invisible after they are decoded until `release` cancels their wait.
 */
async function setUpHeld() {
  const cluster = await own.start('held');
  const heldUrl = cluster.url();
  await migrateChat(heldUrl);
  const warnings: string[] = [];
  const onWarning = (error: Error) => void warnings.push(error.message);
  const guarded = await startReader(heldUrl, 'gap_held_barrier', { record: false, onWarning });
  const unguarded = await startReader(heldUrl, 'gap_held_no_barrier', {
    record: false,
    visibilityBarrier: false,
    onWarning,
  });
  await holdCommits(heldUrl);
  return { url: heldUrl, guarded: guarded.reader, unguarded: unguarded.reader, warnings };
}
// At the top level, not in the first test that needs it: a reader started inside a test is closed when
// that test ends (startReader's after()), and the second test would wait on a closed reader.
const heldSetUp = own.skip === undefined ? await setUpHeld() : undefined;
const held = () => {
  if (heldSetUp === undefined) throw new Error(own.skip);
  return heldSetUp;
};

/** The events a client reading the window (since, upto] finds now. */
async function windowRows(url: string, since: bigint, upto: bigint): Promise<string[]> {
  const rows = await query<{ event_id: string }>(
    url,
    'SELECT event_id FROM events WHERE stream_ordering > $1 AND stream_ordering <= $2',
    [since.toString(), upto.toString()],
  );
  return rows.map((r) => r.event_id);
}

test('a commit decoded before it is visible is held back by the visibility barrier until it is', {
  skip: own.skip,
}, async () => {
  const { url: heldUrl, guarded } = held();
  const since = guarded.position;
  const waitsBefore = guarded.stats.barrierWaits;
  const commit = await heldCommit(heldUrl, '!held:test');
  try {
    await waitFor(
      'the barrier to hold the decoded commit back',
      async () => guarded.stats.barrierWaits > waitsBefore,
    );
    assert.equal(guarded.position, since, 'not applied while invisible');
  } finally {
    await commit.release(); // else its lock on stream_head holds every later allocation
  }
  await guarded.waitForPosition(commit.position, 10_000);
  assert.deepEqual(await windowRows(heldUrl, since, guarded.position), [commit.eventId]);
  assert.equal(guarded.stats.barrierErrors, 0);
});

test('control: without the barrier, the position passes a row no snapshot shows yet, and the client skips it', {
  skip: own.skip,
}, async () => {
  const { url: heldUrl, unguarded, warnings } = held();
  assert.deepEqual(warnings, []);
  const since = unguarded.position;
  const commit = await heldCommit(heldUrl, '!held:test');
  let read: string[];
  try {
    await unguarded.waitForPosition(commit.position, 10_000);
    read = await windowRows(heldUrl, since, unguarded.position);
  } finally {
    await commit.release();
  }
  assert.deepEqual(read, [], "the client's window, read at the reader's token, lacks the row");
  assert.deepEqual(
    await windowRows(heldUrl, since, unguarded.position),
    [commit.eventId],
    'committed there all along',
  );
});
