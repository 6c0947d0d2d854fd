/**
 * A reader whose server restarts (or is replaced by a failover) empties its caches: the server may have
 * taken back commits whose values they hold, and no invalidation would ever come for those. A reconnect to
 * the same server (a walsender terminated) keeps them. Neither is a reset: position and waiters stay.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrateChat } from '../../app/schema.ts';
import { OwnClusters } from '../support/own-clusters.ts';
import { query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';
import { startReader } from '../support/runtime.ts';

const own = await OwnClusters.create('server-change');

test('a restarted server empties the caches once; a reconnect to the same server does not', {
  skip: own.skip,
  timeout: 90_000,
}, async () => {
  const cluster = await own.start('primary');
  await query(cluster.url(), 'CREATE DATABASE chat');
  const url = cluster.url('chat');
  await migrateChat(url);
  const warnings: string[] = [];
  const { reader, caches } = await startReader(url, 'server_change', {
    record: false,
    onWarning: (error) => void warnings.push(error.message),
  });
  try {
    const cached = async () => {
      await caches.getEvent.getOrLoad(['$cached'], () => null);
      return caches.getEvent.size;
    };
    assert.equal(await cached(), 1);

    // The same server: the walsender is terminated, the reader reconnects, the cache stays.
    const reconnects = reader.stats.reconnects;
    await query(
      url,
      "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'server_change'",
    );
    await waitFor(
      'the reader to reconnect',
      async () => reader.stats.reconnects > reconnects && (await active(url)),
    );
    assert.equal(reader.stats.serverChanges, 0);
    assert.equal(caches.getEvent.size, 1, 'kept across a reconnect to the same server');

    // Another server process: a crash and recovery.
    const position = reader.position;
    await cluster.restart('immediate');
    await waitFor('the reader to notice the new server', async () => reader.stats.serverChanges === 1);
    assert.equal(caches.getEvent.size, 0, 'emptied');
    assert.deepEqual(warnings, [
      'the database server restarted or failed over: every cache was emptied, since values read before may be of commits it no longer has',
    ]);
    assert.equal(reader.stats.resets, 0, 'not a reset');
    assert.equal(reader.position, position);
  } finally {
    await reader.close();
  }
});

async function active(url: string): Promise<boolean> {
  const rows = await query(
    url,
    "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'server_change' AND active",
  );
  return rows.length > 0;
}
