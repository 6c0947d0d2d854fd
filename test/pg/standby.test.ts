/**
 * LocalCluster.startStandby: a hot standby of the run's cluster made from a low-level base backup (no
 * pg_basebackup in the embedded package), streaming from a physical slot; reused across starts; promoted.
 * Any PostgreSQL the suite runs (15 too: this is physical replication).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { StandbyError } from '../../src/devdb/errors.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import { dropStandbySlot, waitForReplay } from '../../src/devdb/standby.ts';
import { freshDatabase, query, withDatabase } from '../support/pg.ts';
import { testStandbys } from '../support/standby.ts';

const standbys = await testStandbys('standby');
const url = await freshDatabase('standby');
const NOT_LOCAL = 'the run uses DATABASE_URL: no local cluster to copy';

async function slotOnPrimary(slot: string) {
  const [row] = await query<{ slot_type: string; active: boolean }>(
    url,
    'SELECT slot_type, active FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return row;
}

test('a standby replays the primary’s writes, is in recovery, refuses writes, and is reused on its next start', async (t) => {
  if (standbys === undefined) return t.skip(NOT_LOCAL);
  const { primary } = standbys;
  await query(url, 'CREATE TABLE notes (n int PRIMARY KEY)');
  await query(url, 'INSERT INTO notes VALUES (1)');
  const standby = await standbys.start('replays');
  const standbyUrl = withDatabase(standby.url(), new URL(url).pathname.slice(1));
  assert.notEqual(standby.port, primary.port);
  assert.equal(standby.isStandby, true);
  assert.deepEqual(await slotOnPrimary(standbys.slot('replays')), { slot_type: 'physical', active: true });

  await query(url, 'INSERT INTO notes VALUES (2)');
  await waitForReplay(standby, primary);
  assert.deepEqual(
    await query(standbyUrl, 'SELECT n, pg_is_in_recovery() AS recovery FROM notes ORDER BY n'),
    [
      { n: 1, recovery: true },
      { n: 2, recovery: true },
    ],
  );
  await assert.rejects(query(standbyUrl, 'INSERT INTO notes VALUES (3)'), { code: '25006' }); // read-only

  // Stopped, then started again from the same directory: no new base backup, it catches up from its slot.
  await standby.stop();
  await query(url, 'INSERT INTO notes VALUES (3)');
  const again = await standbys.start('replays');
  assert.equal(again.port, standby.port);
  await waitForReplay(again, primary);
  assert.deepEqual(await query(standbyUrl, 'SELECT max(n) AS n FROM notes'), [{ n: 3 }]);
});

test('promote: the standby becomes a primary of its own and takes writes; its directory is no standby after', async (t) => {
  if (standbys === undefined) return t.skip(NOT_LOCAL);
  const { primary } = standbys;
  await query(url, 'CREATE TABLE promoted (n int)');
  const standby = await standbys.start('promotes');
  await waitForReplay(standby, primary);
  const standbyUrl = withDatabase(standby.url(), new URL(url).pathname.slice(1));

  await standby.promote();
  assert.equal(standby.isStandby, false);
  assert.deepEqual(await query(standbyUrl, 'SELECT pg_is_in_recovery() AS recovery'), [{ recovery: false }]);
  await query(standbyUrl, 'INSERT INTO promoted VALUES (1)');
  await assert.rejects(standby.promote(), StandbyError);

  // Its slot on the old primary is let go of; dropping it is the caller's (nothing streams from it now).
  assert.equal(await dropStandbySlot(primary, standbys.slot('promotes')), true);
  assert.equal(await slotOnPrimary(standbys.slot('promotes')), undefined);
  await standby.stop();
  await assert.rejects(standbys.start('promotes'), (error: Error) => {
    assert.ok(error instanceof StandbyError);
    assert.match(error.message, /not a standby any more .* Remove it/);
    return true;
  });
});

test('refused, with nothing left behind: a directory holding something else, a slot another standby streams from', async (t) => {
  if (standbys === undefined) return t.skip(NOT_LOCAL);
  const { primary, binaries } = standbys;
  const occupied = standbys.dataDir('occupied');
  await mkdir(occupied, { recursive: true });
  await writeFile(path.join(occupied, 'notes.txt'), 'mine');
  await assert.rejects(
    LocalCluster.startStandby({ primary, binaries, dataDir: occupied, slot: standbys.slot('occupied') }),
    (error: Error) =>
      error instanceof StandbyError && /is not a PostgreSQL data directory/.test(error.message),
  );
  assert.equal(await slotOnPrimary(standbys.slot('occupied')), undefined);

  await standbys.start('first');
  const second = standbys.dataDir('second');
  await assert.rejects(
    LocalCluster.startStandby({ primary, binaries, dataDir: second, slot: standbys.slot('first') }),
    (error: Error) => error instanceof StandbyError && /is in use \(walsender PID \d+\)/.test(error.message),
  );
  // The first standby's slot is untouched, and no half-made standby is left to be taken for one later.
  assert.deepEqual(await slotOnPrimary(standbys.slot('first')), { slot_type: 'physical', active: true });
  assert.equal(existsSync(second), false);
  assert.equal(existsSync(`${second}.partial`), false);
});
