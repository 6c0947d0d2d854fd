/**
 * Backpressure from a consumer that stops pulling: the subscription holds at most its read buffer (bytes)
 * of received messages, then pauses the copyBoth duplex, so TCP fills and the walsender waits. Seen from the
 * server: pg_stat_replication.sent_lsn stops a bounded distance past what the consumer took, far short of
 * the backlog's end, and moves again once the consumer does; nothing is lost on the way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { formatLsn, parseLsn } from '../../src/replication/lsn.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { handPicked, readTransactions, subscribeForTest, waitFor } from '../support/replication.ts';

const url = await freshDatabase('read_buffer');
await migrateChat(url);

const TRANSACTIONS = 40;
const ROWS_PER_TRANSACTION = 1000;
/** Bytes of content per row: under the TOAST threshold, so WAL and pgoutput carry about the same bytes. */
const CONTENT_BYTES = 1500;
/** WAL the walsender may send past the consumer's place: the read buffer plus the kernel's socket buffers. */
const MAX_AHEAD = 32 << 20;

/** The walsender's sent_lsn, how far it is past `consumed` in bytes of WAL, and what it waits for. */
async function sent(
  slot: string,
  consumed: bigint,
): Promise<{ lsn: bigint; ahead: number; waitEvent: string | null } | undefined> {
  const [row] = await query<{ sent: string; ahead: string; wait_event: string | null }>(
    url,
    `SELECT sent_lsn::text AS sent, (sent_lsn - $2::pg_lsn)::bigint::text AS ahead, a.wait_event
       FROM pg_stat_replication r JOIN pg_stat_activity a USING (pid)
      WHERE pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1)`,
    [slot, formatLsn(consumed)],
  );
  return row && { lsn: parseLsn(row.sent), ahead: Number(row.ahead), waitEvent: row.wait_event };
}

test('a paused consumer holds the walsender back by its read buffer in bytes, and loses nothing', async () => {
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    slot: 'paused',
    publication: 'slotstream',
    readBufferBytes: 256 << 10,
  });
  const writer = new pg.Client(url);
  await writer.connect();
  try {
    const firstOne = readTransactions(sub, (r) => r.length === 1);
    await connected;
    // About 64 MB of WAL: several times what the read buffer and the socket buffers can hold.
    for (let t = 0; t < TRANSACTIONS; t++) {
      const first = t * ROWS_PER_TRANSACTION + 1;
      await writer.query(
        `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
         SELECT n, '$e' || n, '!room:test', 'm.room.message', '@alice:test',
                jsonb_build_object('body', left(repeat(md5(n::text), ${Math.ceil(CONTENT_BYTES / 32)}), ${CONTENT_BYTES})),
                1764151200000 + n
           FROM generate_series($1::bigint, $2::bigint) AS n, ${handPicked('$1', '$2')}`,
        [first, first + ROWS_PER_TRANSACTION - 1],
      );
    }
    const [head] = await query<{ lsn: string }>(url, 'SELECT pg_current_wal_lsn()::text AS lsn');
    const backlogEnd = parseLsn(head?.lsn ?? '');

    const [taken] = await firstOne; // then nothing pulls: the consumer is paused
    assert.ok(taken);
    const consumed = sub.eventLsn;
    // The walsender sends until TCP stops it, then sent_lsn stays put. Both ends are seen held, at the same
    // time, rather than sent_lsn watched for a while: the subscription has stopped reading (its buffer is
    // full), and the walsender waits to write to the socket. Neither changes until the consumer pulls.
    const stalled = await waitFor(
      'the subscription paused and the walsender blocked on the socket',
      async () => {
        const now = await sent('paused', consumed);
        return sub.readPaused && now?.waitEvent === 'WalSenderWriteData' && now;
      },
    );
    assert.ok(
      stalled.ahead < MAX_AHEAD,
      `sent_lsn ${formatLsn(stalled.lsn)} is ${stalled.ahead} bytes past the consumer (at most ${MAX_AHEAD})`,
    );
    assert.ok(stalled.lsn < backlogEnd, 'the walsender is held back short of the end of the backlog');

    // Pulling again lets the walsender go on: the whole backlog arrives, in order, once each.
    const rest = await readTransactions(sub, (r) => r.length === TRANSACTIONS - 1);
    const orderings = [taken, ...rest].flatMap((t) => t.orderings);
    assert.equal(orderings.length, TRANSACTIONS * ROWS_PER_TRANSACTION);
    assert.ok(orderings.every((o, i) => o === i + 1));
    const after = await sent('paused', consumed);
    assert.ok(after && after.lsn > stalled.lsn);
  } finally {
    await sub.close();
    await writer.end();
  }
});
