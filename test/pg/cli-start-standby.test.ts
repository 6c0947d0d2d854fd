/**
 * `slotstream start --standby` and `slotstream db promote` as a user runs them, in a directory of their own
 * (so the embedded primary and standby are this test's, under its .slotstream/): the writer on the
 * primary, the readers and their slots on a standby made from a base backup on first start and reused on
 * the next; Ctrl-C stops both clusters; a promoted standby is refused as one. The embedded PostgreSQL (18)
 * whichever server the run tests.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { embeddedBinaries } from '../../src/devdb/binaries.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { RunningCli, runCli } from '../support/cli.ts';
import { query } from '../support/pg.ts';
import { quitPostmaster } from '../support/postmaster.ts';
import { waitFor } from '../support/replication.ts';

const cwd = await mkdtemp(path.join(tmpdir(), 'slotstream-start-standby-'));
// The standby first, as `slotstream db stop` does.
const dataDirs = ['standby', 'pg'].map((name) => path.join(cwd, '.slotstream', name));
/** The `start` running now, if any. */
let running: RunningCli | undefined;
// Should the test process end before `after` runs: nothing it started may outlive it.
const quitAll = () => {
  running?.child.kill('SIGTERM'); // it stops its writer and readers itself
  for (const dataDir of dataDirs) quitPostmaster(dataDir);
};
process.once('exit', quitAll);
after(async () => {
  process.off('exit', quitAll);
  // Whatever happened: neither cluster outlives the test.
  for (const dataDir of dataDirs)
    if (existsSync(path.join(dataDir, 'postmaster.pid')))
      await LocalCluster.start({ binaries: embeddedBinaries(), dataDir }).then((c) => c.stop('immediate'));
  await rm(cwd, { recursive: true, force: true });
});

/** Runs `start --standby` until both readers report an update; returns its output; stops it with SIGTERM. */
async function startAndWrite(
  label: string,
  during?: (urls: { primary: string; standby: string }) => Promise<void>,
) {
  const start = new RunningCli(['start', '--standby'], { cwd });
  running = start;
  try {
    await waitFor(
      `both readers to report (${label}; stdout: ${start.stdout}; stderr: ${start.stderr})`,
      async () => {
        if (start.child.exitCode !== null) throw new Error(`start exited: ${start.stderr}`);
        return (
          /reader_1 {2}http:\/\/\S+ {2}position/.test(start.stdout) &&
          /reader_2 {2}http:\/\/\S+ {2}position/.test(start.stdout)
        );
      },
      90_000,
    );
    const primary = /^PostgreSQL {2}(\S+) {2}\(embedded, data in \.slotstream\/pg\)$/m.exec(
      start.stdout,
    )?.[1];
    const standby = /^standby {5}(\S+) {2}\(hot standby of it, data in \.slotstream\/standby\)$/m.exec(
      start.stdout,
    )?.[1];
    assert.ok(primary && standby, start.stdout);
    assert.match(start.stdout, /^writer {6}http:\/\/127\.0\.0\.1:8008 {2}\(on the primary\)$/m);
    assert.match(
      start.stdout,
      /^reader {6}http:\/\/127\.0\.0\.1:8081 {2}\(slot reader_1, on the standby\)$/m,
    );
    // The readers' slots are the standby's; the primary has the standby's own.
    const slots = async (url: string) =>
      (await query<{ slot_name: string }>(url, 'SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map(
        (r) => r.slot_name,
      );
    assert.deepEqual(await slots(standby), ['reader_1', 'reader_2']);
    assert.deepEqual(await slots(primary), ['slotstream_standby']);
    await query(
      primary,
      `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
       VALUES (slotstream_allocate(1), $1, '!r:test', 'm.room.message', '@a:test', '{}', 1)`,
      [`$${label}`],
    );
    await waitFor(
      `an update to be reported (${label}; stdout: ${start.stdout})`,
      async () =>
        /reader_1 .* [1-9]\d* updates\/s/.test(start.stdout) &&
        /reader_2 .* [1-9]\d* updates\/s/.test(start.stdout),
    );
    await during?.({ primary, standby });
  } finally {
    assert.equal(await start.stop('SIGTERM'), 0, start.stderr);
  }
  // Ctrl-C stopped both clusters.
  for (const dataDir of dataDirs)
    assert.equal(existsSync(path.join(dataDir, 'postmaster.pid')), false, dataDir);
  return start;
}

test('start --standby: the writer on the primary, the readers on a standby made on first start and reused after; promote', {
  timeout: 300_000,
}, async () => {
  const first = await startAndWrite('first');
  assert.match(first.stderr, /creating the embedded standby in .*\.slotstream\/standby from a base backup/);

  const second = await startAndWrite('second', async ({ primary, standby }) => {
    const promote = await runCli(['db', 'promote'], { cwd });
    assert.equal(promote.code, 0, promote.stderr);
    assert.match(promote.stdout, /promoted the embedded standby in .*: postgres:\/\/\S+ takes writes now/);
    assert.match(promote.stdout, /dropped its slot slotstream_standby on \.slotstream\/pg\./);
    assert.deepEqual(await query(standby, 'SELECT pg_is_in_recovery() AS recovery'), [{ recovery: false }]);
    assert.deepEqual(await query(primary, 'SELECT slot_name FROM pg_replication_slots'), []);
  });
  assert.doesNotMatch(second.stderr, /creating the embedded standby/);

  // Promoted, it is no standby: the next start says what to do, and leaves nothing running.
  const refused = await runCli(['start', '--standby'], { cwd });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /is not a standby any more .* Remove it/);
  const stop = await runCli(['db', 'stop'], { cwd });
  assert.equal(stop.code, 0, stop.stderr);
  for (const dataDir of dataDirs)
    assert.equal(existsSync(path.join(dataDir, 'postmaster.pid')), false, dataDir);
});
