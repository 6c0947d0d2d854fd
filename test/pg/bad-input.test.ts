// slotstream-test: version-sensitive
/**
 * Bad input (docs/design.md): every bad input gets a clear, typed error saying what to do, and changes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { LocalCluster } from '../../src/devdb/local-cluster.ts';
import {
  InvalidNameError,
  PublicationError,
  ReplicationPermissionError,
  SlotCreationTimeoutError,
  SlotElsewhereError,
  SlotInUseError,
  WalLevelError,
} from '../../src/replication/errors.ts';
import { type SubscribeOptions, subscribe } from '../../src/replication/subscribe.ts';
import { freshDatabase, freshRole, needsOwnCluster, query } from '../support/pg.ts';
import { readTransactions, subscribeForTest, waitFor } from '../support/replication.ts';
import { startReader } from '../support/runtime.ts';

const url = await freshDatabase('bad_input');
await migrateChat(url);
/** Another database on the same server, whose slots this one's readers must not take. */
const otherDatabase = await freshDatabase('bad_input_other');

/** The first event or error of a subscription. */
async function firstOutcome(options: SubscribeOptions): Promise<unknown> {
  const sub = subscribe(options);
  try {
    await sub[Symbol.asyncIterator]().next();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await sub.close();
  }
}

const slotCount = async () =>
  Number((await query<{ n: string }>(url, 'SELECT count(*) AS n FROM pg_replication_slots'))[0]?.n);

test('invalid slot and publication names are refused before any connection', () => {
  // Nothing listens on this address: reaching it would be a connection error, not a name error.
  const nowhere = 'postgres://nobody@127.0.0.1:1/none';
  for (const slot of ['Reader-1', '', 'x'.repeat(64), 'a"b', "x'; DROP TABLE events; --"]) {
    assert.throws(
      () => subscribe({ connectionString: nowhere, slot, publication: 'slotstream' }),
      InvalidNameError,
    );
  }
  assert.throws(
    () => subscribe({ connectionString: nowhere, slot: 'ok', publication: 'bad name' }),
    InvalidNameError,
  );
});

test('a missing publication, and a table it does not cover, are named with the fix', async () => {
  const before = await slotCount();
  const missing = await firstOutcome({ connectionString: url, slot: 'bad_pub', publication: 'nope' });
  assert.ok(missing instanceof PublicationError, String(missing));
  assert.match(missing.message, /publication "nope" does not exist.*slotstream migrate/);

  await query(url, 'CREATE TABLE receipts_unpublished (id int primary key)');
  const uncovered = await firstOutcome({
    connectionString: url,
    slot: 'bad_pub',
    publication: 'slotstream',
    tables: ['events', 'receipts_unpublished'],
  });
  assert.ok(uncovered instanceof PublicationError, String(uncovered));
  assert.match(
    uncovered.message,
    /does not cover public\.receipts_unpublished.*ALTER PUBLICATION "slotstream" ADD TABLE public\.receipts_unpublished/,
  );
  assert.equal(await slotCount(), before, 'no slot was created');
});

test('a role without REPLICATION is told how to grant it', async () => {
  const plain = await freshRole('bad_input_plain', 'NOREPLICATION');
  const err = await firstOutcome({
    connectionString: plain.url(url),
    slot: 'bad_role',
    publication: 'slotstream',
  });
  assert.ok(err instanceof ReplicationPermissionError, String(err));
  assert.match(err.message, new RegExp(`ALTER ROLE "${plain.name}" REPLICATION`));
});

test('a slot held by another reader: SlotInUseError names its PID (55006), or the reader waits for it', async () => {
  const holder = subscribeForTest({ connectionString: url, slot: 'held', publication: 'slotstream' });
  const holding = readTransactions(holder.sub, () => false).catch(() => []);
  await holder.connected;
  const [row] = await query<{ pid: number }>(
    url,
    "SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = 'held'",
  );
  const err = await firstOutcome({ connectionString: url, slot: 'held', publication: 'slotstream' });
  assert.ok(err instanceof SlotInUseError, String(err));
  assert.equal(err.code, '55006');
  assert.equal(err.pid, row?.pid);
  assert.match(err.message, new RegExp(`in use by the process with PID ${row?.pid}`));

  const waiter = subscribeForTest({
    connectionString: url,
    slot: 'held',
    publication: 'slotstream',
    ifSlotActive: 'wait',
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const waiting = readTransactions(waiter.sub, () => false).catch(() => []);
  const told = await waitFor('the waiter to say it waits for the slot', async () =>
    waiter.statuses.find((s) => s.event === 'waiting-for-slot'),
  );
  assert.deepEqual(told, { event: 'waiting-for-slot', slot: 'held', pid: row?.pid }, 'naming the holder');
  assert.equal(waiter.statuses.filter((s) => s.event === 'connected').length, 0, 'the holder keeps the slot');
  await holder.sub.close();
  await holding;
  await waiter.connected; // took the slot over once it was free
  await waiter.sub.close();
  await waiting;
});

test('a slot name taken in another database, or by a physical slot, is refused with SlotElsewhereError saying what to do', async () => {
  const otherName = new URL(otherDatabase).pathname.slice(1);
  await query(otherDatabase, "SELECT pg_create_logical_replication_slot('taken_elsewhere', 'pgoutput')");
  // A physical slot belongs to no database, so the database's clean-up would not drop it: dropped here.
  const physical = `${new URL(url).pathname.slice(1)}_physical`;
  await query(url, 'SELECT pg_create_physical_replication_slot($1)', [physical]);
  try {
    // Through the reader, as a service would meet it.
    await assert.rejects(startReader(url, 'taken_elsewhere'), (error: unknown) => {
      assert.ok(error instanceof SlotElsewhereError, String(error));
      assert.equal(error.slot.database, otherName);
      assert.match(
        error.message,
        new RegExp(
          `"taken_elsewhere" already exists for database "${otherName}" with plugin pgoutput, so this database cannot use it\\. Slot names are per server: pick another name, or drop that slot if it is abandoned`,
        ),
      );
      return true;
    });
    const err = await firstOutcome({ connectionString: url, slot: physical, publication: 'slotstream' });
    assert.ok(err instanceof SlotElsewhereError, String(err));
    assert.match(
      err.message,
      new RegExp(`"${physical}" already exists as a physical slot, so this database`),
    );
    // Neither slot was touched: still there, of the same kind, and nobody streams from them.
    assert.deepEqual(
      await query(
        url,
        `SELECT slot_name, slot_type, database, active FROM pg_replication_slots
          WHERE slot_name IN ('taken_elsewhere', $1) ORDER BY slot_type`,
        [physical],
      ),
      [
        { slot_name: 'taken_elsewhere', slot_type: 'logical', database: otherName, active: false },
        { slot_name: physical, slot_type: 'physical', database: null, active: false },
      ],
    );
  } finally {
    await query(url, 'SELECT pg_drop_replication_slot($1)', [physical]);
  }
});

test('slot creation blocked by an open transaction times out with the blocking PID', async () => {
  const blocker = new pg.Client(url);
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT txid_current()');
    const [{ pid } = { pid: 0 }] = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))
      .rows;
    const err = await firstOutcome({
      connectionString: url,
      slot: 'blocked',
      publication: 'slotstream',
      slotCreationTimeoutMs: 300,
    });
    assert.ok(err instanceof SlotCreationTimeoutError, String(err));
    assert.equal(err.code, '55P03');
    assert.match(err.message, new RegExp(`PIDs[^)]*\\b${pid}\\b`));
    assert.equal(
      (await query(url, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'blocked'")).length,
      0,
    );
  } finally {
    await blocker.query('ROLLBACK');
    await blocker.end();
  }
});

test('a server without wal_level=logical is named, with the setting to change', {
  skip: needsOwnCluster('starts a wal_level=replica server of its own from the run’s binaries'),
}, async () => {
  const binDir = process.env.SLOTSTREAM_TEST_PGBIN ?? '';
  const dir = mkdtempSync(path.join(tmpdir(), 'slotstream-replica-'));
  const cluster = await LocalCluster.start({
    binaries: { binDir, label: binDir },
    dataDir: path.join(dir, 'data'),
    settings: { wal_level: 'replica' },
  });
  try {
    const err = await firstOutcome({
      connectionString: cluster.url(),
      slot: 'any',
      publication: 'slotstream',
    });
    assert.ok(err instanceof WalLevelError, String(err));
    assert.match(err.message, /wal_level=replica.*ALTER SYSTEM SET wal_level = 'logical'/);
  } finally {
    await cluster.stop('immediate');
    rmSync(dir, { recursive: true, force: true });
  }
});
