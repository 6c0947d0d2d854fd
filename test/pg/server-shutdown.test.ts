/**
 * At a shutdown, a walsender waits for its client to confirm everything it sent before it exits, and the
 * server waits for its walsenders. A reader whose visibility barrier holds back a decoded commit cannot
 * confirm it, and once the server refuses new connections it cannot take the snapshot that would release
 * it either: unless it lets go of its replication connection, a fast shutdown waits for it (pg_ctl gives
 * up after 60 s). On a server of this file's own, whose commits can be held invisible (held-commit.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrateChat } from '../../app/schema.ts';
import { eventsStream } from '../../app/streams.ts';
import { heldCommit, holdCommits } from '../support/held-commit.ts';
import { OwnClusters } from '../support/own-clusters.ts';
import { query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';
import { event, startReader, writerFor } from '../support/runtime.ts';

const own = await OwnClusters.create('server-shutdown');

test('a fast shutdown goes through while the barrier holds a commit back; the commit is applied after', {
  skip: own.skip,
  timeout: 180_000,
}, async () => {
  const cluster = await own.start('held');
  const url = cluster.url();
  await migrateChat(url);
  const warnings: Error[] = [];
  const { reader, updates } = await startReader(url, 'held', {
    onWarning: (error) => void warnings.push(error),
  });
  await holdCommits(url);
  const commit = await heldCommit(url, '!shutdown:test');
  await waitFor('the barrier to hold the decoded commit back', async () => reader.stats.barrierWaits > 0);

  await cluster.restart('fast'); // pg_ctl fails if the server is still waiting for the reader after 60 s
  assert.ok(
    reader.stats.barrierErrors > 0,
    'the barrier lost its server meanwhile (else this shows nothing)',
  );
  await reader.waitForPosition(commit.position, 60_000);

  // Commits no longer held: the reader streams on from a new session, and the held commit, which the server
  // sends again, is not applied twice.
  await query(url, 'ALTER SYSTEM RESET synchronous_standby_names');
  await query(url, 'SELECT pg_reload_conf()');
  const next = event('!shutdown:test', 2);
  const { position } = await writerFor(url).transaction((tx) => tx.insert(eventsStream, next));
  await reader.waitForPosition(position, 60_000);
  assert.deepEqual(
    updates.filter((u) => u.stream === 'events').map((u) => (u.row as { event_id: string }).event_id),
    [commit.eventId, next.event_id],
    'the held commit applied once, after the restart (committed before it, visible after), then the next',
  );
  assert.ok(reader.stats.reconnects > 0);
});
