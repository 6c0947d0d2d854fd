/**
 * Positions only from the allocator: the database refuses stream rows at positions their transaction did not
 * allocate (a backfill script choosing its own, above or below the head), and takes them when the
 * transaction allocated them with slotstream_allocate, the documented way to backfill. A reader then applies
 * the backfill like any write.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { sqlState } from '../../src/replication/errors.ts';
import { query } from '../support/pg.ts';
import { migratedDatabase, startReader } from '../support/runtime.ts';

const url = await migratedDatabase('position_guard');
const ROOM = '!guard:test';

async function head(): Promise<bigint> {
  const [row] = await query<{ position: string }>(url, 'SELECT position FROM stream_head');
  return BigInt(row?.position ?? -1);
}

const insertAt = (position: string, id: string) =>
  query(
    url,
    `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
     VALUES (${position}, $1, $2, 'm.room.message', '@a:test', '{}', 1)`,
    [id, ROOM],
  );

async function refused(what: Promise<unknown>): Promise<pg.DatabaseError> {
  const error = await what.then(
    () => assert.fail('the database took it'),
    (e: unknown) => e,
  );
  assert.equal(sqlState(error), '23514', String(error));
  return error as pg.DatabaseError;
}

test('a row at a position of its own choosing is refused, above the head or below it, saying how to backfill', async () => {
  await query(url, 'SELECT slotstream_allocate(5)'); // positions handed out and left unused: free, and old
  const h = await head();
  const above = await refused(insertAt(String(h + 10n), '$above'));
  assert.match(above.message, /events: stream_ordering \d+ to \d+ was not allocated in this transaction/);
  assert.match(above.hint ?? '', /slotstream_allocate\(n\)/);
  assert.equal(above.detail, 'this transaction allocated no positions');
  await refused(insertAt(String(h - 2n), '$below'));
  assert.equal(await head(), h, 'nothing moved the head');
});

test('a backfill that allocates its positions goes in, in one statement for many rows, and a reader applies it', async () => {
  const { reader } = await startReader(url, 'guard_reader', { record: false });
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ h: string }>('SELECT slotstream_allocate(500) AS h');
    const last = BigInt(rows[0]?.h ?? -1);
    await client.query(
      `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
       SELECT n, '$backfill' || n, $2, 'm.room.message', '@a:test', '{}', 1
         FROM generate_series($1::bigint - 499, $1::bigint) AS n`,
      [last.toString(), ROOM],
    );
    // One row past the allocation, in the same transaction: the statement is refused as a whole.
    await refused(
      client.query(
        `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
         VALUES ($1, '$past-it', $2, 'm.room.message', '@a:test', '{}', 1)`,
        [(last + 1n).toString(), ROOM],
      ),
    );
    await client.query('ROLLBACK');

    await client.query('BEGIN');
    const again = await client.query<{ h: string }>('SELECT slotstream_allocate(500) AS h');
    const end = BigInt(again.rows[0]?.h ?? -1);
    await client.query(
      `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
       SELECT n, '$backfill' || n, $2, 'm.room.message', '@a:test', '{}', 1
         FROM generate_series($1::bigint - 499, $1::bigint) AS n`,
      [end.toString(), ROOM],
    );
    await client.query('COMMIT');
    await reader.waitForPosition(end, 20_000);
    assert.equal(reader.position, end);
  } finally {
    await client.end();
    await reader.close();
  }
});

test('an update that moves a row to a position it did not allocate is refused; one that keeps it is not', async () => {
  await insertAt('slotstream_allocate(1)', '$moved');
  const h = await head();
  await refused(query(url, `UPDATE events SET stream_ordering = ${h + 5n} WHERE event_id = '$moved'`));
  await query(url, `UPDATE events SET content = '{"edited":true}' WHERE event_id = '$moved'`);
  await query(url, `UPDATE events SET stream_ordering = slotstream_allocate(1) WHERE event_id = '$moved'`);
  const [row] = await query<{ stream_ordering: string }>(
    url,
    "SELECT stream_ordering FROM events WHERE event_id = '$moved'",
  );
  assert.equal(BigInt(row?.stream_ordering ?? -1), h + 1n);
});

test('migrate puts a dropped guard back', async () => {
  await query(url, 'DROP TRIGGER slotstream_positions_inserted ON events');
  await insertAt('999999', '$unguarded'); // taken: the guard is gone
  await query(url, "DELETE FROM events WHERE event_id = '$unguarded'");
  await migrateChat(url);
  await refused(insertAt('999999', '$guarded-again'));
});
