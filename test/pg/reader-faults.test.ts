/**
 * The reader runtime as a service runs it (caches, waiters, a writer writing) under the server's faults:
 * its walsender terminated again and again mid-stream, and PostgreSQL restarted (fast, then immediate: a
 * crash) mid-stream. Every row must arrive as stored and in order, no cached read may be older than the
 * database at the reader's position, and every waiter on a room written after its token must wake
 * (fault-workload.ts). Each fault is shown to have happened, on a reader that was streaming.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { FaultWorkload } from '../support/fault-workload.ts';
import { localCluster, query } from '../support/pg.ts';
import { postmasterPid } from '../support/postmaster.ts';
import { seeded } from '../support/prng.ts';
import { waitFor } from '../support/replication.ts';
import { migratedDatabase, startReader, type TestReader } from '../support/runtime.ts';

const KILLS = 6;

const killUrl = await migratedDatabase('faults_walsender');
const restartUrl = await migratedDatabase('faults_restart');

/** A reader that reconnects quickly, keeping its warnings (a restart empties its caches with one). */
async function faultyReader(url: string, slot: string): Promise<{ test: TestReader; warnings: string[] }> {
  const warnings: string[] = [];
  const test = await startReader(url, slot, {
    onWarning: (error) => void warnings.push(error.message),
    subscription: { ifSlotActive: 'wait', backoff: { initialMs: 50, maxMs: 1000 } },
  });
  return { test, warnings };
}

/**
 * Resolves once the reader streams what is being written: it applied transactions on its current session
 * and the writer wrote after them. A fault then falls mid-stream.
 */
async function midStream(test: TestReader, workload: FaultWorkload): Promise<void> {
  const { reader } = test;
  const applied = reader.stats.transactions;
  await waitFor('the reader to apply new transactions', async () => reader.stats.transactions > applied + 5);
  const written = workload.lastWritten;
  await waitFor('the writer to write on', async () => workload.lastWritten > written);
}

test('walsender terminated again and again mid-stream: rows, caches and waiters stay right', {
  timeout: 300_000,
}, async () => {
  const slot = 'faults_walsender';
  const { test, warnings } = await faultyReader(killUrl, slot);
  const workload = new FaultWorkload(killUrl, 'reader-faults-walsender', test);
  const random = seeded('reader-faults-walsender-kills');
  let kills = 0;
  while (kills < KILLS) {
    await midStream(test, workload);
    await pause(Math.floor(random() * 300)); // a random moment of the stream
    const [row] = await query<{ killed: boolean | null }>(
      killUrl,
      'SELECT pg_terminate_backend(active_pid) AS killed FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    if (row?.killed) kills++;
  }
  await workload.stop();
  const summary = await workload.verify();
  const { stats } = test.reader;
  console.log(`# ${kills} walsender kills: ${JSON.stringify({ ...summary, reconnects: stats.reconnects })}`);
  assert.ok(stats.reconnects >= KILLS, `reconnected ${stats.reconnects} times after ${kills} kills`);
  assert.equal(stats.resets, 0);
  assert.deepEqual(warnings, []);
});

test('PostgreSQL restarted mid-stream, fast then immediate: rows, caches and waiters stay right', {
  timeout: 300_000,
}, async (t) => {
  const cluster = await localCluster();
  if (cluster === undefined) {
    t.skip('DATABASE_URL: the server is not ours to restart');
    return;
  }
  const { test, warnings } = await faultyReader(restartUrl, 'faults_restart');
  const workload = new FaultWorkload(restartUrl, 'reader-faults-restart', test);
  const pids = [postmasterPid(cluster.dataDir)];
  for (const mode of ['fast', 'immediate'] as const) {
    await midStream(test, workload);
    const { reconnects } = test.reader.stats;
    await cluster.restart(mode);
    pids.push(postmasterPid(cluster.dataDir));
    await waitFor(`the reader to reconnect after the ${mode} restart`, async () => {
      return test.reader.stats.reconnects > reconnects;
    });
  }
  await midStream(test, workload);
  await workload.stop();
  const summary = await workload.verify();
  const { stats } = test.reader;
  console.log(
    `# fast and immediate restarts: ${JSON.stringify({ ...summary, reconnects: stats.reconnects, serverChanges: stats.serverChanges, barrierErrors: stats.barrierErrors })}`,
  );
  assert.equal(new Set(pids).size, 3, `a new postmaster each time (${pids.join(', ')})`);
  assert.ok(stats.reconnects >= 2, `reconnected ${stats.reconnects} times`);
  assert.equal(stats.serverChanges, 2, 'each restart noticed: the caches were emptied');
  assert.equal(stats.resets, 0);
  assert.ok(
    warnings.every((w) => /restarted or failed over|visibility barrier/.test(w)),
    `only the restarts' warnings: ${warnings.join('; ')}`,
  );
});
