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
import { TIMELINE_SHIFT } from '../../src/streams/stream-head.ts';
import { OwnClusters } from '../support/own-clusters.ts';
import { query } from '../support/pg.ts';
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
