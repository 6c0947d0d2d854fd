/** `slotstream doctor`'s verdicts and advice, from server facts (no server needed to be misconfigured). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCheck, runChecks } from '../../src/cli/doctor-checks.ts';
import type { ServerFacts } from '../../src/cli/doctor-facts.ts';
import type { SlotInfo } from '../../src/replication/slots.ts';

function slot(name: string, over: Partial<SlotInfo> = {}): SlotInfo {
  return {
    name,
    plugin: 'pgoutput',
    database: 'app',
    temporary: false,
    active: true,
    activePid: 100,
    restartLsn: 0n,
    confirmedFlushLsn: 0n,
    walStatus: 'reserved',
    safeWalSize: null,
    lagBytes: 0n,
    invalidationReason: null,
    inactiveSince: null,
    ...over,
  };
}

function healthy(over: Partial<ServerFacts> = {}): ServerFacts {
  return {
    versionNum: 180000,
    walLevel: 'logical',
    maxReplicationSlots: 10,
    maxWalSenders: 10,
    walSendersInUse: 1,
    maxSlotWalKeepSizeMb: 10240,
    idleReplicationSlotTimeoutS: 0,
    role: 'app',
    roleCanReplicate: true,
    publication: {
      name: 'slotstream',
      exists: true,
      allTables: false,
      publishesUpdatesOrDeletes: true,
      tables: ['public.events'],
      tablesWithoutIdentity: [],
    },
    slots: [slot('reader_1')],
    ...over,
  };
}

const options = { tables: ['public.events'], staleLagBytes: 1000n };
const verdicts = (facts: ServerFacts) =>
  Object.fromEntries(runChecks(facts, options).map((r) => [r.check, r.verdict]));
const find = (facts: ServerFacts, check: string) => {
  const r = runChecks(facts, options).find((c) => c.check === check);
  assert.ok(r, `no ${check} check`);
  return r;
};

test('a healthy server: every check ok', () => {
  const results = runChecks(healthy(), options);
  assert.deepEqual(
    results.filter((r) => r.verdict !== 'ok'),
    [],
  );
  assert.deepEqual(
    results.map((r) => r.check),
    [
      'wal_level',
      'max_replication_slots',
      'max_wal_senders',
      'max_slot_wal_keep_size',
      'idle_replication_slot_timeout',
      'role',
      'publication slotstream',
      'slots',
    ],
  );
});

test('wal_level other than logical fails with the ALTER SYSTEM fix', () => {
  const r = find(healthy({ walLevel: 'replica' }), 'wal_level');
  assert.equal(r.verdict, 'fail');
  assert.match(r.fix ?? '', /ALTER SYSTEM SET wal_level = 'logical'; then restart/);
});

test('slot and sender headroom: none left fails, little left warns', () => {
  const full = healthy({ maxReplicationSlots: 2, slots: [slot('a'), slot('b')] });
  assert.equal(find(full, 'max_replication_slots').verdict, 'fail');
  assert.match(find(full, 'max_replication_slots').fix ?? '', /max_replication_slots = 12/);
  assert.equal(find(healthy({ maxReplicationSlots: 2 }), 'max_replication_slots').verdict, 'warn');
  assert.equal(find(healthy({ walSendersInUse: 10 }), 'max_wal_senders').verdict, 'fail');
  const manySlots = healthy({
    maxReplicationSlots: 20,
    maxWalSenders: 4,
    slots: ['a', 'b', 'c', 'd'].map((n) => slot(n)),
  });
  assert.equal(find(manySlots, 'max_wal_senders').verdict, 'warn');
});

test('unlimited max_slot_wal_keep_size warns and suggests a value; on 18 the idle timeout warns too', () => {
  const facts = healthy({ maxSlotWalKeepSizeMb: -1 });
  const keep = find(facts, 'max_slot_wal_keep_size');
  assert.equal(keep.verdict, 'warn');
  assert.match(keep.detail, /disk/);
  assert.match(keep.fix ?? '', /max_slot_wal_keep_size = '10GB'; SELECT pg_reload_conf\(\)/);
  assert.equal(find(facts, 'idle_replication_slot_timeout').verdict, 'warn');
  assert.equal(
    find(
      healthy({ maxSlotWalKeepSizeMb: -1, idleReplicationSlotTimeoutS: 86400 }),
      'idle_replication_slot_timeout',
    ).verdict,
    'ok',
  );
  // Before 18 there is no such setting, so no such line.
  assert.equal(
    verdicts(healthy({ idleReplicationSlotTimeoutS: null })).idle_replication_slot_timeout,
    undefined,
  );
});

test('a role without REPLICATION fails with ALTER ROLE', () => {
  const r = find(healthy({ roleCanReplicate: false }), 'role');
  assert.equal(r.verdict, 'fail');
  assert.equal(r.fix, 'ALTER ROLE "app" REPLICATION; (as a superuser)');
});

test('publication missing, not covering events, or covering a table without replica identity: fail', () => {
  const base = healthy().publication;
  const missing = find(
    healthy({ publication: { ...base, exists: false, tables: [] } }),
    'publication slotstream',
  );
  assert.equal(missing.verdict, 'fail');
  assert.match(formatCheck(missing), /^fail {2}publication slotstream: missing .* — fix: slotstream migrate/);
  const partial = find(
    healthy({ publication: { ...base, tables: ['public.other'] } }),
    'publication slotstream',
  );
  assert.equal(partial.verdict, 'fail');
  assert.match(partial.fix ?? '', /ALTER PUBLICATION "slotstream" ADD TABLE public\.events/);
  const all = find(
    healthy({ publication: { ...base, allTables: true, tables: [] } }),
    'publication slotstream',
  );
  assert.equal(all.verdict, 'ok');
  const noIdentity = find(
    healthy({ publication: { ...base, tablesWithoutIdentity: ['public.events'] } }),
    'replica identity',
  );
  assert.equal(noIdentity.verdict, 'fail');
  assert.match(noIdentity.fix ?? '', /REPLICA IDENTITY FULL/);
});

test('stale slots: lost, unreserved, or inactive and far behind, each with the command to drop it', () => {
  const facts = healthy({
    slots: [
      slot('fine'),
      slot('busy_but_behind', { lagBytes: 5000n }), // active: its reader is catching up
      slot('gone', { active: false, activePid: null, walStatus: 'lost' }),
      slot('invalidated', { active: false, activePid: null, invalidationReason: 'idle_timeout' }),
      slot('almost', { walStatus: 'unreserved' }),
      slot('abandoned', { active: false, activePid: null, lagBytes: 5000n }),
      slot('paused', { active: false, activePid: null, lagBytes: 10n }),
    ],
  });
  const stale = runChecks(facts, options).filter((r) => r.check.startsWith('slot '));
  assert.deepEqual(
    stale.map((r) => [r.check, r.verdict]),
    [
      ['slot gone', 'warn'],
      ['slot invalidated', 'warn'],
      ['slot almost', 'warn'],
      ['slot abandoned', 'warn'],
    ],
  );
  assert.match(stale[3]?.fix ?? '', /^slotstream slots drop abandoned /);
  assert.match(stale[1]?.detail ?? '', /idle_timeout/);
});

test('formatCheck: verdict, check, detail, fix on one line', () => {
  assert.equal(
    formatCheck({ check: 'wal_level', verdict: 'ok', detail: 'logical' }),
    'ok    wal_level: logical',
  );
  assert.equal(formatCheck({ check: 'x', verdict: 'warn', detail: 'd', fix: 'f' }), 'warn  x: d — fix: f');
});
