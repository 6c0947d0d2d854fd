/**
 * No gaps in tokens, the way a client sees it: a client follows next_batch tokens on a
 * reader, reading each window (since, next_batch] from the database, while 8 clients write through 2
 * writers, each batching its clients' transactions, whose batches commit out of order. Every row must be read exactly once. The control run shows the failure the design guards
 * against: with positions taken at insert time, rows committed behind a token the client already passed
 * are never read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { prng } from '../support/prng.ts';
import { handPicked } from '../support/replication.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';
import { followTokens, unevenReads, writeEvents } from '../support/token-follower.ts';

const url = await migratedDatabase('gap');
const controlUrl = await migratedDatabase('gap_control');
const ROOMS = Array.from({ length: 16 }, (_, i) => `!gap${i}:test`);
const WRITERS = 8;

test('8 clients over 2 batching writers committing out of order, 20,000 rows: a client following tokens reads every row exactly once', async () => {
  const random = prng(20261126);
  // Inside the commit step, between allocating positions and committing: the window where a
  // sequence-based design lets a later transaction commit first.
  const lockHeld = async () => {
    if (random() < 0.2) await sleep(1);
  };
  const writers = Array.from({ length: 2 }, () => writerFor(url, { poolSize: 2, lockHeld }));
  const { reader } = await startReader(url, 'gap_commit_order', { record: false });
  const target = 20_000;
  const writing = writeEvents(writers, { connections: WRITERS, target, rooms: ROOMS });
  const seen = await followTokens(
    url,
    reader,
    ROOMS,
    writing.then((w) => w.finalPosition),
  );
  const { transactions, batches } = await writing;

  const { total, missing, repeated } = await unevenReads(url, ROOMS, seen);
  assert.equal(total, target);
  assert.deepEqual(missing, [], 'rows skipped');
  assert.deepEqual(repeated, [], 'rows read twice');
  assert.ok(
    batches < transactions,
    `the writers batched (${transactions} transactions in ${batches} commits)`,
  );
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
