// slotstream-test: version-sensitive
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import { freshDatabase, query } from '../support/pg.ts';
import {
  insertEvents,
  readTransactions,
  slotState,
  subscribeForTest,
  waitFor,
} from '../support/replication.ts';

const url = await freshDatabase('subscribe');
await migrateChat(url);
/** Where WAL from elsewhere is written: a database no slot of this file decodes. */
const elsewhere = await freshDatabase('subscribe_elsewhere');

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

test('streamed transactions: committed ones arrive whole at commit; aborted ones and rolled-back savepoints never', async () => {
  // A tiny logical_decoding_work_mem makes the server stream every transaction of some size before commit.
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    slot: 'streamed',
    publication: 'slotstream',
    settings: { logical_decoding_work_mem: '64kB' },
  });
  const writer = new pg.Client(url);
  await writer.connect();
  try {
    const reading = readTransactions(sub, (r) => r.length === 2);
    await connected;
    // Aborted as a whole, after the server has streamed part of it.
    await writer.query('BEGIN');
    await insertEvents(writer, 100_000, 5000);
    await writer.query('ROLLBACK');
    // Committed, with a rolled-back savepoint in the middle and an ALTER TABLE after it.
    await writer.query('BEGIN');
    await insertEvents(writer, 200_000, 3000);
    await writer.query('SAVEPOINT s');
    await insertEvents(writer, 300_000, 3000);
    await writer.query('ROLLBACK TO SAVEPOINT s');
    await writer.query('ALTER TABLE events ADD COLUMN note text');
    await insertEvents(writer, 400_000, 3000);
    await writer.query('COMMIT');
    await writer.query("SELECT pg_logical_emit_message(true, 'test', 'after')");
    const [big, after] = await reading;
    const expected = [
      ...Array.from({ length: 3000 }, (_, i) => 200_000 + i),
      ...Array.from({ length: 3000 }, (_, i) => 400_000 + i),
    ];
    assert.deepEqual(big?.orderings, expected);
    assert.equal(after?.messages[0]?.content.toString(), 'after');
  } finally {
    await writer.query('ALTER TABLE events DROP COLUMN IF EXISTS note');
    await sub.close();
    await writer.end();
  }
});

test('an idle database does not pin WAL: confirmed_flush_lsn follows the server while another database writes', async () => {
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    slot: 'idle',
    publication: 'slotstream',
    settings: { wal_sender_timeout: '2s' },
  });
  const reading = readTransactions(sub, () => false);
  try {
    await connected;
    const start = await slotState(url, 'idle');
    const startLsn = parseLsn(start?.confirmed_flush_lsn ?? '0/0');
    // WAL from elsewhere: another database of this file's, not this one.
    await query(elsewhere, 'CREATE TABLE idle_wal (n int)');
    await query(elsewhere, 'INSERT INTO idle_wal SELECT generate_series(1, 50000)');
    const [{ lsn: target = '0/0' } = {}] = await query<{ lsn: string }>(
      elsewhere,
      'SELECT pg_current_wal_lsn()::text AS lsn',
    );
    await waitFor("confirmed_flush_lsn to pass the other database's writes", async () => {
      const s = await slotState(url, 'idle');
      return s?.confirmed_flush_lsn && parseLsn(s.confirmed_flush_lsn) >= parseLsn(target);
    });
    assert.ok(parseLsn(target) > startLsn);
  } finally {
    await sub.close();
    await reading.catch(() => {});
  }
});

test('a new slot exports a snapshot: an initial read through it plus the stream sees every row exactly once', async () => {
  const writer = new pg.Client(url);
  await writer.connect();
  const before = Number(
    (await writer.query<{ n: string }>('SELECT coalesce(max(stream_ordering), 0) AS n FROM events')).rows[0]
      ?.n,
  );
  await insertEvents(writer, before + 1, 5); // committed before the slot exists: only the snapshot has them
  let snapshotRows: number[] = [];
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    slot: 'snapshot',
    publication: 'slotstream',
    onSlotCreated: async (slot) => {
      assert.ok(slot.snapshotName);
      const reader = new pg.Client(url);
      await reader.connect();
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await reader.query(`SET TRANSACTION SNAPSHOT '${slot.snapshotName}'`);
      // Meanwhile the writer commits more; the snapshot must not see them, the stream must.
      await insertEvents(writer, before + 6, 5);
      const { rows } = await reader.query<{ s: string }>(
        'SELECT stream_ordering AS s FROM events WHERE stream_ordering > $1 ORDER BY 1',
        [before],
      );
      snapshotRows = rows.map((r) => Number(r.s));
      await reader.query('COMMIT');
      await reader.end();
    },
  });
  try {
    const reading = readTransactions(sub, (r) => r.length === 1);
    await connected;
    const [streamed] = await reading;
    assert.deepEqual(
      snapshotRows,
      [1, 2, 3, 4, 5].map((i) => before + i),
    );
    assert.deepEqual(
      streamed?.orderings,
      [6, 7, 8, 9, 10].map((i) => before + i),
    );
  } finally {
    await sub.close();
    await writer.end();
  }
});

/**
 * Keeps a handler busy until the server, which would end a silent client after wal_sender_timeout (1 s
 * here), has heard from this one more than three timeouts after the handler began. Time passing is what is
 * tested, but its measure is the server's: its clock at the start, and the time of the last status update
 * it received (pg_stat_replication.reply_time). A walsender that went away (timed us out) fails at once.
 */
async function busyForTimeouts(walsender: number | null | undefined): Promise<void> {
  const [start] = await query<{ now: string }>(url, 'SELECT now()::text AS now');
  await waitFor('the server to hear from the busy consumer three timeouts later', async () => {
    const [row] = await query<{ heard: boolean }>(
      url,
      "SELECT reply_time > $2::timestamptz + interval '3 s' AS heard FROM pg_stat_replication WHERE pid = $1",
      [walsender, start?.now],
    );
    if (row === undefined)
      throw new Error(`walsender ${walsender} is gone: the server timed the consumer out`);
    return row.heard;
  });
}

test('status updates keep flowing while the consumer is busy: a slow handler outlives wal_sender_timeout', async () => {
  const { sub, connected, statuses } = subscribeForTest({
    connectionString: url,
    slot: 'busy',
    publication: 'slotstream',
    settings: { wal_sender_timeout: '1s' }, // our timer reports every third of it
  });
  const writer = new pg.Client(url);
  await writer.connect();
  try {
    let walsender: number | null | undefined;
    const reading = readTransactions(sub, async (r) => {
      if (r.length === 1) await busyForTimeouts(walsender);
      return r.length === 2;
    });
    await connected;
    walsender = (await slotState(url, 'busy'))?.active_pid;
    const base = 1_000_000;
    await insertEvents(writer, base, 1);
    await insertEvents(writer, base + 1, 1);
    const received = await reading;
    assert.deepEqual(
      received.map((t) => t.orderings),
      [[base], [base + 1]],
    );
    // Had the server timed us out, the walsender that served us would be gone.
    const after = await slotState(url, 'busy');
    assert.ok(
      walsender && after?.active_pid === walsender,
      `walsender ${walsender} still serving (now ${after?.active_pid})`,
    );
    assert.equal(statuses.filter((s) => s.event === 'reconnecting').length, 0);
  } finally {
    await sub.close();
    await writer.end();
  }
});

test("values decode the same whatever the database's output settings (DateStyle, bytea_output, float digits)", async () => {
  const database = new URL(url).pathname.slice(1);
  await query(
    url,
    'CREATE TABLE dated (id int PRIMARY KEY, at timestamptz, day date, bytes bytea, ratio float8)',
  );
  await query(url, 'ALTER PUBLICATION slotstream ADD TABLE dated');
  await query(url, `ALTER DATABASE "${database}" SET DateStyle = 'SQL, DMY'`);
  await query(url, `ALTER DATABASE "${database}" SET bytea_output = 'escape'`);
  await query(url, `ALTER DATABASE "${database}" SET extra_float_digits = -3`);
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    slot: 'styles',
    publication: 'slotstream',
  });
  const rows: Record<string, unknown>[] = [];
  const iterator = sub[Symbol.asyncIterator]();
  try {
    const reading = (async () => {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        if (next.value.tag === 'insert') rows.push(next.value.new);
        if (next.value.tag === 'commit') return;
      }
    })();
    await connected;
    await query(
      url,
      "INSERT INTO dated VALUES (1, '2026-11-26 10:00:00.123+00', '2026-03-04', '\\x00ff10', 0.1)",
    );
    await reading;
    assert.deepEqual(rows, [
      {
        id: 1,
        at: new Date('2026-11-26T10:00:00.123Z'),
        day: '2026-03-04',
        bytes: Buffer.from([0, 255, 16]),
        ratio: 0.1,
      },
    ]);
  } finally {
    await sub.close();
    await query(url, `ALTER DATABASE "${database}" RESET ALL`);
    await query(url, 'ALTER PUBLICATION slotstream DROP TABLE dated');
  }
});
