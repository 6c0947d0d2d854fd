// slotstream-test: version-sensitive
/**
 * Failover slots (PostgreSQL 17+): readers' slots are failover slots by default, existing slots are made to
 * match what the subscription asks, `failover: false` gives an ordinary slot, and `failover: true` where the
 * server cannot is a named error before anything is created. The same through the command line (`slots
 * create`, `slots list`) and `doctor`. Run on every major (see scripts/test/run.ts); what does not apply to
 * this server's version is skipped, saying why.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { connectReplication } from '../../src/replication/connect.ts';
import { FailoverUnsupportedError } from '../../src/replication/errors.ts';
import { createSlot, getSlot } from '../../src/replication/slots.ts';
import type { SubscribeOptions } from '../../src/replication/subscribe.ts';
import { runCli } from '../support/cli.ts';
import { query } from '../support/pg.ts';
import { subscribeForTest } from '../support/replication.ts';
import { migratedDatabase, startReader } from '../support/runtime.ts';

const url = await migratedDatabase('failover_slots');
const [{ v } = { v: '0' }] = await query<{ v: string }>(
  url,
  "SELECT current_setting('server_version_num') AS v",
);
const major = Math.floor(Number(v) / 10000);
const hasFailoverSlots = major >= 17;
const NO_FAILOVER_SLOTS = `PostgreSQL ${major} has no failover slots (17+)`;
const HAS_FAILOVER_SLOTS = `PostgreSQL ${major} has failover slots: nothing is refused for want of them`;

/** The slot's failover flag as slotstream reads it: null before 17, undefined when there is no slot. */
async function failoverOf(slot: string): Promise<boolean | null | undefined> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const info = await getSlot(client, slot);
    if (info && hasFailoverSlots) {
      // And as the server shows it, column by column.
      const [row] = await query<{ failover: boolean }>(
        url,
        'SELECT failover FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      assert.equal(info.failover, row?.failover);
    }
    return info?.failover;
  } finally {
    await client.end();
  }
}

/** A subscription that has taken (or created) its slot and is streaming; close it when done. */
async function take(options: Partial<SubscribeOptions> & { slot: string }) {
  const taken = subscribeForTest({ connectionString: url, publication: 'slotstream', ...options });
  const first = taken.sub[Symbol.asyncIterator]().next();
  await Promise.race([taken.connected, first]);
  return taken;
}

/** The first error of a subscription's iteration, or undefined when it connected. */
async function refusal(options: Partial<SubscribeOptions> & { slot: string }): Promise<unknown> {
  const { sub, connected } = subscribeForTest({
    connectionString: url,
    publication: 'slotstream',
    ...options,
  });
  try {
    await Promise.race([connected, sub[Symbol.asyncIterator]().next()]);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await sub.close();
  }
}

test('a reader’s slot is a failover slot by default on 17+, an ordinary one before', async () => {
  const { reader } = await startReader(url, 'fo_default');
  assert.equal(await failoverOf('fo_default'), hasFailoverSlots ? true : null);
  await reader.close();
});

test('failover: false (through the reader’s subscription options) gives an ordinary slot', async () => {
  const { reader } = await startReader(url, 'fo_off', { subscription: { failover: false } });
  assert.equal(await failoverOf('fo_off'), hasFailoverSlots ? false : null);
  await reader.close();
});

test('an existing ordinary slot is made a failover slot when taken, and back with failover: false, keeping its place', async (t) => {
  if (!hasFailoverSlots) return t.skip(NO_FAILOVER_SLOTS);
  const replication = await connectReplication({ connectionString: url });
  try {
    await createSlot(replication, 'fo_existing', { exportSnapshot: false, failover: false });
  } finally {
    await replication.end();
  }
  assert.equal(await failoverOf('fo_existing'), false);

  const on = await take({ slot: 'fo_existing' });
  await on.sub.close();
  assert.equal(await failoverOf('fo_existing'), true);
  assert.deepEqual(
    on.statuses.filter((s) => s.event !== 'connected'),
    [{ event: 'slot-failover-changed', slot: 'fo_existing', failover: true }],
    'altered, not recreated: no slot-created, no reset',
  );

  const off = await take({ slot: 'fo_existing', failover: false });
  await off.sub.close();
  assert.equal(await failoverOf('fo_existing'), false);
  assert.ok(off.statuses.some((s) => s.event === 'slot-failover-changed' && !s.failover));

  // Already as asked: left alone.
  const again = await take({ slot: 'fo_existing', failover: false });
  await again.sub.close();
  assert.deepEqual(
    again.statuses.map((s) => s.event),
    ['connected'],
  );
});

test('failover: true before 17 is a FailoverUnsupportedError, and no slot is created', async (t) => {
  if (hasFailoverSlots) return t.skip(HAS_FAILOVER_SLOTS);
  const error = await refusal({ slot: 'fo_refused', failover: true });
  assert.ok(error instanceof FailoverUnsupportedError, String(error));
  assert.equal(error.reason, 'version');
  assert.match(error.message, new RegExp(`need PostgreSQL 17 or later, and this server runs ${major}\\.`));
  assert.equal(await failoverOf('fo_refused'), undefined, 'nothing was created');
});

test('failover: true on a temporary slot is a FailoverUnsupportedError, and no slot is created', async () => {
  const error = await refusal({ slot: 'fo_temporary', failover: true, temporary: true });
  assert.ok(error instanceof FailoverUnsupportedError, String(error));
  assert.equal(error.reason, hasFailoverSlots ? 'temporary' : 'version');
  assert.equal(await failoverOf('fo_temporary'), undefined);
  // Unasked, a temporary slot is simply an ordinary one.
  const temporary = await take({ slot: 'fo_temporary', temporary: true });
  assert.equal(await failoverOf('fo_temporary'), hasFailoverSlots ? false : null);
  await temporary.sub.close();
});

test('slots create: a failover slot on 17+ (--no-failover an ordinary one); slots list shows failover and synced', async () => {
  const db = ['--database-url', url];
  const created = await runCli(['slots', 'create', 'fo_cli', ...db]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(
    created.stdout,
    hasFailoverSlots
      ? /^created slot fo_cli \(pgoutput, failover\) at /
      : /^created slot fo_cli \(pgoutput\) at /,
  );
  const plain = await runCli(['slots', 'create', 'fo_cli_plain', '--no-failover', ...db]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^created slot fo_cli_plain \(pgoutput\) at /);
  assert.equal(
    (await runCli(['slots', 'list', '--no-failover', ...db])).code,
    2,
    '--no-failover goes with create',
  );

  const json = await runCli(['slots', 'list', '--json', ...db]);
  assert.equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as {
    name: string;
    failover: boolean | null;
    synced: boolean | null;
  }[];
  const row = (name: string) => rows.find((r) => r.name === name);
  assert.deepEqual(
    [row('fo_cli'), row('fo_cli_plain')].map((r) => [r?.failover, r?.synced]),
    hasFailoverSlots
      ? [
          [true, false],
          [false, false],
        ]
      : [
          [null, null],
          [null, null],
        ],
  );
  const table = await runCli(['slots', 'list', ...db]);
  assert.match(table.stdout, /^name .* inactive_since +failover +synced$/m);
  assert.match(table.stdout, hasFailoverSlots ? /^fo_cli .* true +false$/m : /^fo_cli .* - +- +-$/m);
  for (const name of ['fo_cli', 'fo_cli_plain'])
    assert.equal((await runCli(['slots', 'drop', name, ...db])).code, 0);
});

test('doctor on 17+: a standby’s physical slot with synchronized_standby_slots empty warns, naming it', async (t) => {
  if (!hasFailoverSlots) return t.skip(`${NO_FAILOVER_SLOTS}, and no synchronized_standby_slots`);
  // The test cluster has no standby: a physical slot stands for one. Not reserved, so it pins no WAL.
  await query(url, "SELECT pg_create_physical_replication_slot('fo_standby')");
  try {
    const { reader } = await startReader(url, 'fo_doctor');
    const r = await runCli(['doctor', '--database-url', url]);
    await reader.close();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^ok {4}server: primary, PostgreSQL ${major}$`, 'm'));
    assert.match(
      r.stdout,
      // Every physical slot is named; another test's standby may have one too.
      /^warn {2}synchronized_standby_slots: empty, with a standby and \d+ failover slot\(s\): .* — fix: ALTER SYSTEM SET synchronized_standby_slots = '([\w, ]*, )?fo_standby(, [\w, ]*)?'; SELECT pg_reload_conf\(\);$/m,
    );
  } finally {
    await query(url, "SELECT pg_drop_replication_slot('fo_standby')");
  }
});
