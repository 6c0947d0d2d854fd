// slotstream-test: version-sensitive
/**
 * A failover that loses commits: the standby is asynchronous and its link is held (a stalled network path)
 * while the writer goes on, so the primary acknowledges writes the standby never gets; then the primary
 * crashes and the standby is promoted. Those writes are gone (that is what asynchronous replication risks),
 * but their positions must not be handed out again: a client whose token is past them would skip the new
 * rows written at those positions for good.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrateChat } from '../../app/schema.ts';
import { eventsStream } from '../../app/streams.ts';
import { waitForReplay } from '../../src/devdb/standby.ts';
import { formatLsn, parseLsn } from '../../src/replication/lsn.ts';
import { TIMELINE_SHIFT } from '../../src/streams/stream-head.ts';
import type { StreamWriter } from '../../src/writer/stream-writer.ts';
import { OwnClusters } from '../support/own-clusters.ts';
import { query } from '../support/pg.ts';
import { subscribeForTest, waitFor } from '../support/replication.ts';
import { event, writerFor } from '../support/runtime.ts';
import { streamThrough } from '../support/standby.ts';

const DATABASE = 'chat';
const STANDBY_SLOT = 'async_standby';
const ROOM = '!async:test';
const own = await OwnClusters.create('failover-async');

test('a failover to a standby that lacked the last commits hands none of their positions out again', {
  skip: own.skip,
  timeout: 90_000,
}, async () => {
  const primary = await own.start('primary');
  await query(primary.url(), `CREATE DATABASE ${DATABASE}`);
  await migrateChat(primary.url(DATABASE));
  const standby = await own.startStandby('standby', primary, STANDBY_SLOT);
  // The standby streams through a link this test can hold.
  const link = await own.proxy(primary);
  await streamThrough(standby, link, STANDBY_SLOT);

  const writer = writerFor(primary.url(DATABASE), { poolSize: 2 });
  const write = (n: number) =>
    writer.transaction((tx) => tx.insert(eventsStream, event(ROOM, n, { event_id: `$async-${n}` })));
  for (let n = 0; n < 5; n++) await write(n);
  await waitForReplay(standby, primary);

  link.hold();
  const unreplicated: bigint[] = [];
  for (let n = 5; n < 10; n++) unreplicated.push((await write(n)).position);
  await primary.stop('immediate');
  await standby.promote();

  const survivors = await query<{ event_id: string }>(
    standby.url(DATABASE),
    'SELECT event_id FROM events WHERE room_id = $1 ORDER BY stream_ordering',
    [ROOM],
  );
  assert.deepEqual(
    survivors.map((r) => r.event_id),
    ['$async-0', '$async-1', '$async-2', '$async-3', '$async-4'],
    'the writes acknowledged while the link was held are lost (else this test shows nothing)',
  );

  const after = writerFor(standby.url(DATABASE), { poolSize: 2 });
  const { position } = await after.transaction((tx) =>
    tx.insert(eventsStream, event(ROOM, 10, { event_id: '$async-after' })),
  );
  const lost = unreplicated.at(-1) as bigint; // positions grow with each write
  assert.ok(position > lost, `the new write's position ${position} is past the lost ones (up to ${lost})`);
  assert.equal(
    position,
    (1n << BigInt(TIMELINE_SHIFT)) + 1n,
    "the first position of the standby's timeline, 2",
  );
});

test("a reader that applied commits the promoted standby lacked resumes from the fork: none of the new primary's transactions is skipped", {
  skip: own.skip,
  timeout: 120_000,
}, async (t) => {
  const primary = await own.start('fork_primary');
  const [{ v } = { v: '0' }] = await query<{ v: string }>(
    primary.url(),
    "SELECT current_setting('server_version_num') AS v",
  );
  if (Number(v) < 170000)
    return t.skip(
      'PostgreSQL 17+ syncs failover slots to standbys; before, a failover loses the slot (a reset)',
    );
  await query(primary.url(), `CREATE DATABASE ${DATABASE}`);
  await migrateChat(primary.url(DATABASE));
  // No synchronized_standby_slots: the primary sends the reader what the standby has not received yet.
  const standby = await own.startStandby('fork_standby', primary, 'fork_standby', {
    sync_replication_slots: 'on',
  });
  const link = await own.proxy(primary);
  await streamThrough(standby, link, 'fork_standby');
  const endpoint = await own.proxy(primary);

  const { sub, connected, statuses } = subscribeForTest({
    connectionString: endpoint.url(primary.url(DATABASE)),
    slot: 'fork_reader',
    publication: 'slotstream',
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const received: string[] = [];
  const reading = (async () => {
    for await (const e of sub) {
      if (e.tag === 'insert' && e.relation.name === 'events') received.push(String(e.new.event_id));
      if (e.tag === 'commit') sub.ack(e);
    }
  })();
  t.after(() => sub.close());
  await connected;
  const writers = new Map<string, StreamWriter>();
  const writeOn = (url: string, ids: string[]) => {
    if (!writers.has(url)) writers.set(url, writerFor(url, { poolSize: 1 }));
    return writers.get(url)?.transaction((tx) => {
      for (const [i, id] of ids.entries()) tx.insert(eventsStream, event(ROOM, i, { event_id: id }));
    });
  };
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `$${prefix}-${i}`);

  await writeOn(primary.url(DATABASE), ids('shared', 5));
  await waitFor('the reader to apply the shared writes', async () => received.length === 5);
  await waitFor('the standby to sync the reader slot past them', async () => {
    const [slot] = await query<{ ok: boolean }>(
      standby.url(DATABASE),
      `SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'fork_reader' AND synced`,
      [formatLsn(sub.position.flushed)],
    );
    return slot?.ok === true;
  });

  link.hold();
  for (let round = 0; round < 20; round++) await writeOn(primary.url(DATABASE), ids(`lost${round}`, 20));
  await waitFor('the reader to apply the writes the standby lacks', async () => received.length === 5 + 400);
  const [{ lsn: oldEnd } = { lsn: '0/0' }] = await query<{ lsn: string }>(
    primary.url(),
    'SELECT pg_current_wal_lsn()::text AS lsn',
  );
  await waitFor('the reader to confirm them', async () => sub.position.flushed >= parseLsn(oldEnd) - 4096n);
  await primary.stop('immediate');
  await standby.promote();
  endpoint.moveTo(standby.url());

  await writeOn(standby.url(DATABASE), ids('new', 5));
  const [{ lsn: newEnd } = { lsn: '0/0' }] = await query<{ lsn: string }>(
    standby.url(),
    'SELECT pg_current_wal_lsn()::text AS lsn',
  );
  assert.ok(
    parseLsn(newEnd) < sub.position.flushed,
    'the new writes lie below what the reader confirmed (else this shows nothing)',
  );
  // The reader's confirmed position passing the new primary's end means decoding got there, with or without them.
  await waitFor(
    'the reader to reach the new primary',
    async () => {
      const [slot] = await query<{ ok: boolean }>(
        standby.url(DATABASE),
        "SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'fork_reader'",
        [newEnd],
      );
      return slot?.ok === true && received.length >= 405;
    },
    60_000,
  );
  assert.deepEqual(received.slice(405), ids('new', 5), "the new primary's writes, once each, in order");
  const changed = statuses.find((s) => s.event === 'timeline-changed');
  assert.ok(
    changed?.event === 'timeline-changed' && changed.from === 1 && changed.to === 2 && changed.forkLsn > 0n,
    JSON.stringify(changed, (_, v) => (typeof v === 'bigint' ? v.toString() : v)),
  );
  await sub.close();
  await reading;
});
