/**
 * What a reconnect must not break: an acknowledgement the consumer has not given yet, and a transaction
 * that was only partly passed through when the connection dropped.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import type { CommitMessage } from '../../src/replication/pgoutput/types.ts';
import type { ReplicationEvent } from '../../src/replication/subscribe.ts';
import { EndpointProxy } from '../support/endpoint-proxy.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { handPicked, insertEvents, slotState, subscribeForTest, waitFor } from '../support/replication.ts';

const url = await freshDatabase('reconnect');
await migrateChat(url);
/** Where WAL from elsewhere is written: a database no slot of this file decodes. */
const elsewhere = await freshDatabase('reconnect_elsewhere');

async function terminateWalsender(slot: string): Promise<void> {
  const [row] = await query<{ pid: number }>(
    url,
    'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  await query(url, 'SELECT pg_terminate_backend($1)', [row?.pid]);
}

/** The next event that satisfies `match`, dropping the others. */
async function next(
  events: AsyncIterator<ReplicationEvent>,
  match: (e: ReplicationEvent) => boolean,
): Promise<ReplicationEvent> {
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error('the subscription ended');
    if (match(value)) return value;
  }
}

test('a transaction delivered before a reconnect stays unconfirmed until the consumer acknowledges it', async () => {
  const { sub, connected, statuses } = subscribeForTest({
    connectionString: url,
    slot: 'deferred_ack',
    publication: 'slotstream',
    settings: { wal_sender_timeout: '2s' }, // keepalives come often
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const events = sub[Symbol.asyncIterator]();
  const writer = new pg.Client(url);
  await writer.connect();
  try {
    const first = next(events, (e) => e.tag === 'commit');
    await connected;
    await insertEvents(writer, 1, 1);
    const commit = (await first) as CommitMessage; // delivered, and deliberately not acknowledged yet
    const before = parseLsn((await slotState(url, 'deferred_ack'))?.confirmed_flush_lsn ?? '0/0');

    // Reconnect: the server sends the transaction again and we skip it as already delivered. Then WAL
    // from elsewhere brings keepalives. None of that may confirm the transaction the consumer still holds.
    await terminateWalsender('deferred_ack');
    const later = next(events, (e) => e.tag === 'commit');
    later.catch(() => {}); // awaited below; should an assertion fail first, that failure is the one reported
    await waitFor('the reconnect', async () => statuses.filter((s) => s.event === 'connected').length >= 2);
    await query(elsewhere, 'CREATE TABLE reconnect_wal (n int)');
    await query(elsewhere, 'INSERT INTO reconnect_wal SELECT generate_series(1, 20000)');
    // Not a time to wait out but the moment that matters: the server has heard back from us about a
    // keepalive past the held transaction (the received position we report, write_lsn, is beyond its end).
    // A status update carries received and flushed together, so had that keepalive confirmed the
    // transaction, the same update would have told the server so.
    await waitFor('a status update reporting WAL past the held transaction', async () => {
      const [row] = await query<{ write: string | null }>(
        url,
        `SELECT write_lsn::text AS write FROM pg_stat_replication
          WHERE pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'deferred_ack')`,
      );
      return row?.write != null && parseLsn(row.write) > commit.endLsn;
    });
    assert.ok(sub.position.flushed < commit.endLsn, 'the subscription confirms nothing the consumer holds');
    const held = parseLsn((await slotState(url, 'deferred_ack'))?.confirmed_flush_lsn ?? '0/0');
    assert.ok(
      held < commit.endLsn,
      `confirmed ${held} passed the unacknowledged transaction ending at ${commit.endLsn}`,
    );
    assert.ok(held >= before);

    sub.ack(commit); // the late acknowledgement lands
    await waitFor('confirmed_flush_lsn to pass the acknowledged transaction', async () => {
      const s = await slotState(url, 'deferred_ack');
      return s?.confirmed_flush_lsn && parseLsn(s.confirmed_flush_lsn) >= commit.endLsn;
    });
    await insertEvents(writer, 2, 1);
    const second = (await later) as CommitMessage;
    assert.ok(second.commitLsn > commit.commitLsn, 'the redelivered transaction was not delivered twice');
  } finally {
    await sub.close();
    await writer.end();
  }
});

test('a transaction cut off mid-way by a lost connection is announced incomplete, then comes again whole', async () => {
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    slot: 'cut_off',
    publication: 'slotstream',
    maxProtoVersion: 1, // no streaming: the transaction passes through as it arrives
    // Held back by a small read buffer while the consumer waits, the walsender is still sending the
    // transaction when it is terminated; the default (4 MiB) could hold all of it by then.
    readBufferBytes: 64 << 10,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const events = sub[Symbol.asyncIterator]();
  try {
    const started = next(events, (e) => e.tag === 'insert');
    await connected;
    await query(
      url,
      'INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts) ' +
        `SELECT n, '$cut' || n, '!cut:test', 'm.room.message', '@a:test', '{}', n FROM generate_series(1000, 30999) n, ${handPicked('1000', '30999')}`,
    );
    await started; // the consumer is inside the transaction
    await terminateWalsender('cut_off');
    const seen: string[] = [];
    let inserts = 0;
    for (;;) {
      const { value } = await events.next();
      if (!value) break;
      if (value.tag === 'insert') inserts++;
      else seen.push(value.tag);
      if (value.tag === 'incomplete') inserts = 0; // what came before it is to be forgotten
      if (value.tag === 'commit') break;
    }
    assert.deepEqual(
      seen.filter((t) => t !== 'relation'),
      ['incomplete', 'begin', 'commit'],
    );
    assert.equal(inserts, 30_000, 'after the incomplete event, the whole transaction once');
  } finally {
    await sub.close();
  }
});

test('a network path that goes silent (no error, no close) is noticed and the reader reconnects', async () => {
  const proxy = await EndpointProxy.start(url);
  const { sub, connected, statuses } = subscribeForTest({
    connectionString: proxy.url(url),
    slot: 'silent_path',
    publication: 'slotstream',
    settings: { wal_sender_timeout: '2s' }, // both sides give up on the other after 2 s of silence
    backoff: { initialMs: 50, maxMs: 500 },
  });
  const events = sub[Symbol.asyncIterator]();
  try {
    const first = next(events, (e) => e.tag === 'insert');
    await connected;
    await insertEvents(await writerClient(), 50_001, 1);
    await first;
    proxy.freeze();
    const after = next(events, (e) => e.tag === 'insert');
    await waitFor(
      'the silence to be noticed',
      async () =>
        statuses.some(
          (s) => s.event === 'reconnecting' && /no message from the server/.test(s.error.message),
        ),
      20_000,
    );
    await insertEvents(await writerClient(), 50_002, 1);
    const row = await after;
    assert.equal(row.tag === 'insert' && row.new.stream_ordering, 50_002n);
  } finally {
    await sub.close();
    await proxy.close();
  }
});

async function writerClient(): Promise<pg.Client> {
  const client = new pg.Client(url);
  await client.connect();
  after(() => client.end());
  return client;
}
