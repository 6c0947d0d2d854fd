/** `slotstream doctor`'s verdicts and advice, from server facts (no server needed to be misconfigured). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CheckResult, formatCheck, roleCheck, runChecks } from '../../src/cli/doctor-checks.ts';
import type { ServerFacts, TopologyFacts } from '../../src/cli/doctor-facts.ts';
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
    failover: true,
    synced: false,
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
      notPublished: [],
      tables: ['public.events'],
      tablesWithoutIdentity: [],
      restricted: [],
    },
    slots: [slot('reader_1')],
    topology: primary(),
    ...over,
  };
}

/** A primary on 17+ with no standby yet. */
function primary(over: Partial<TopologyFacts> = {}): TopologyFacts {
  return {
    inRecovery: false,
    hotStandbyFeedback: false,
    primarySlotName: '',
    primaryConninfoHasDbname: null,
    syncReplicationSlots: false,
    synchronizedStandbySlots: [],
    physicalSenders: 0,
    ...over,
  };
}

/** A standby on 17+ set up to decode and to sync the primary's failover slots. */
function standby(over: Partial<TopologyFacts> = {}): TopologyFacts {
  return primary({
    inRecovery: true,
    hotStandbyFeedback: true,
    primarySlotName: 'standby_1',
    primaryConninfoHasDbname: true,
    syncReplicationSlots: true,
    ...over,
  });
}

/** A physical slot, as a standby's on its primary. */
const physicalSlot = (name: string) => slot(name, { plugin: null, database: null, failover: false });

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
      'server',
      'wal_level',
      'max_replication_slots',
      'max_wal_senders',
      'max_slot_wal_keep_size',
      'idle_replication_slot_timeout',
      'synchronized_standby_slots',
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

/** The publication's check lines for a healthy server but for `publication`, with `events` as the stream table. */
function publicationChecks(publication: Partial<ServerFacts['publication']>): CheckResult[] {
  const base = healthy().publication;
  return runChecks(healthy({ publication: { ...base, ...publication } }), {
    tables: ['events'],
    staleLagBytes: 1n,
  }).filter((r) => r.check === 'publication slotstream');
}

test('a publication that does not publish an action fails, with migrate as the fix', () => {
  const results = publicationChecks({ notPublished: ['update', 'truncate'] });
  assert.deepEqual(
    results.map((r) => r.verdict),
    ['ok', 'fail'],
  );
  assert.match(
    formatCheck(results[1] as CheckResult),
    /does not publish update, truncate: .* fix: slotstream migrate/,
  );
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

test('the server line says primary or standby, and the version', () => {
  assert.equal(find(healthy(), 'server').detail, 'primary, PostgreSQL 18');
  const onStandby = find(healthy({ versionNum: 170004, topology: standby() }), 'server');
  assert.equal(onStandby.verdict, 'ok');
  assert.equal(onStandby.detail, 'standby, PostgreSQL 17: readers decode here');
  assert.deepEqual(
    runChecks(healthy({ versionNum: 170004, topology: standby() }), options).filter(
      (r) => r.verdict !== 'ok',
    ),
    [],
  );
});

test('a PostgreSQL 15 standby: no reader can decode there, so they must use the primary', () => {
  const facts = healthy({
    versionNum: 150013,
    idleReplicationSlotTimeoutS: null,
    topology: standby({
      syncReplicationSlots: null,
      synchronizedStandbySlots: null,
      hotStandbyFeedback: false,
    }),
  });
  const r = find(facts, 'server');
  assert.equal(r.verdict, 'fail');
  assert.match(r.detail, /^standby, PostgreSQL 15: logical decoding on a standby needs PostgreSQL 16\+/);
  assert.match(r.fix ?? '', /point the readers at the primary/);
  // Nothing else about the standby: none of it would help.
  for (const check of ['hot_standby_feedback', 'primary_slot_name', 'sync_replication_slots'])
    assert.equal(verdicts(facts)[check], undefined, check);
});

test('primary 17+: failover slots and a standby with synchronized_standby_slots empty warn, naming its physical slot', () => {
  const withSlot = healthy({ slots: [slot('reader_1'), physicalSlot('standby_1')] });
  const r = find(withSlot, 'synchronized_standby_slots');
  assert.equal(r.verdict, 'warn');
  assert.match(r.detail, /a reader can apply a transaction the standby never received/);
  assert.equal(r.fix, "ALTER SYSTEM SET synchronized_standby_slots = 'standby_1'; SELECT pg_reload_conf();");
  // A standby streaming without a slot of its own: the fix says to make one.
  const attached = find(healthy({ topology: primary({ physicalSenders: 1 }) }), 'synchronized_standby_slots');
  assert.equal(attached.verdict, 'warn');
  assert.match(attached.fix ?? '', /'<the standby's physical slot>'.*pg_create_physical_replication_slot/);
  // No standby at all: nothing could be promoted, so nothing to guard yet.
  const alone = find(healthy(), 'synchronized_standby_slots');
  assert.equal(alone.verdict, 'ok');
  assert.match(alone.detail, /1 failover slot\(s\), no standby yet/);
  // Listed: ok.
  const guarded = healthy({
    slots: [slot('reader_1'), physicalSlot('standby_1')],
    topology: primary({ synchronizedStandbySlots: ['standby_1'] }),
  });
  assert.equal(find(guarded, 'synchronized_standby_slots').verdict, 'ok');
  // Before 17 there are no failover slots, and no such setting.
  assert.equal(
    verdicts(healthy({ versionNum: 160004, topology: primary({ synchronizedStandbySlots: null }) }))
      .synchronized_standby_slots,
    undefined,
  );
});

test('primary 17+: synchronized_standby_slots naming no physical slot fails (readers would stall)', () => {
  const facts = healthy({
    slots: [slot('reader_1'), physicalSlot('standby_1')],
    topology: primary({ synchronizedStandbySlots: ['standby_1', 'standby_9', 'reader_1'] }),
  });
  const r = find(facts, 'synchronized_standby_slots');
  assert.equal(r.verdict, 'fail');
  assert.match(r.detail, /^lists standby_9, reader_1, not a physical slot on this server: .*readers stall/);
  assert.equal(r.fix, "ALTER SYSTEM SET synchronized_standby_slots = 'standby_1'; SELECT pg_reload_conf();");
  const none = find(
    healthy({ topology: primary({ synchronizedStandbySlots: ['gone'] }) }),
    'synchronized_standby_slots',
  );
  assert.match(none.fix ?? '', /^ALTER SYSTEM RESET synchronized_standby_slots; SELECT pg_reload_conf\(\);/);
});

test('standby: hot_standby_feedback off fails, with the setting to change', () => {
  const r = find(healthy({ topology: standby({ hotStandbyFeedback: false }) }), 'hot_standby_feedback');
  assert.equal(r.verdict, 'fail');
  assert.match(r.detail, /invalidates those slots/);
  assert.equal(
    r.fix,
    'ALTER SYSTEM SET hot_standby_feedback = on; SELECT pg_reload_conf(); (on this standby)',
  );
});

test('standby: primary_slot_name empty warns, with the slot to create on the primary', () => {
  const r = find(healthy({ topology: standby({ primarySlotName: '' }) }), 'primary_slot_name');
  assert.equal(r.verdict, 'warn');
  assert.match(r.detail, /failover slots cannot be synced here$/);
  assert.match(
    r.fix ?? '',
    /pg_create_physical_replication_slot\('standby_1'\).*primary_slot_name = 'standby_1'/,
  );
  // 16 has no slot sync to lose.
  const on16 = find(
    healthy({ versionNum: 160004, topology: standby({ primarySlotName: '' }) }),
    'primary_slot_name',
  );
  assert.doesNotMatch(on16.detail, /failover/);
});

test('standby 17+: sync_replication_slots off warns (a promotion would reset the readers)', () => {
  const r = find(healthy({ topology: standby({ syncReplicationSlots: false }) }), 'sync_replication_slots');
  assert.equal(r.verdict, 'warn');
  assert.match(r.detail, /find their slots gone and reset/);
  assert.match(r.fix ?? '', /^ALTER SYSTEM SET sync_replication_slots = on; SELECT pg_reload_conf\(\);/);
  // 16 has no slot sync: no such line.
  const on16 = healthy({ versionNum: 160004, topology: standby({ syncReplicationSlots: null }) });
  assert.equal(verdicts(on16).sync_replication_slots, undefined);
});

test('standby 17+: slot sync on but primary_conninfo without dbname fails', () => {
  const facts = healthy({ topology: standby({ primaryConninfoHasDbname: false }) });
  const r = find(facts, 'primary_conninfo');
  assert.equal(r.verdict, 'fail');
  assert.match(r.detail, /names no database/);
  assert.match(r.fix ?? '', /dbname=postgres/);
  // With sync off the warning about sync says it all.
  const off = healthy({
    topology: standby({ primaryConninfoHasDbname: false, syncReplicationSlots: false }),
  });
  assert.equal(verdicts(off).primary_conninfo, undefined);
});

test('formatCheck: verdict, check, detail, fix on one line', () => {
  assert.equal(
    formatCheck({ check: 'wal_level', verdict: 'ok', detail: 'logical' }),
    'ok    wal_level: logical',
  );
  assert.equal(formatCheck({ check: 'x', verdict: 'warn', detail: 'd', fix: 'f' }), 'warn  x: d — fix: f');
});

test('a role check: ok with nothing missing; else fail, naming what is missing and the GRANTs that fix it', () => {
  assert.equal(roleCheck('reader', 'r1', []).verdict, 'ok');
  const failed = roleCheck('writer', 'w1', [
    { detail: 'no INSERT on "public"."events"', grant: 'GRANT INSERT ON "public"."events" TO "w1"' },
    {
      detail: 'cannot execute slotstream_allocate(bigint)',
      grant: 'GRANT EXECUTE ON FUNCTION slotstream_allocate(bigint) TO "w1"',
    },
  ]);
  assert.equal(failed.verdict, 'fail');
  assert.equal(failed.check, 'writer role w1');
  assert.match(failed.detail, /no INSERT on "public"."events"; cannot execute slotstream_allocate/);
  assert.match(failed.fix ?? '', /^GRANT INSERT ON "public"."events" TO "w1"; GRANT EXECUTE ON FUNCTION/);
});

test('a stream table published with a row filter or column list fails, with migrate as the fix; another table does not', () => {
  const results = publicationChecks({ restricted: ['public.events', 'public.audit'] });
  assert.deepEqual(
    results.map((r) => r.verdict),
    ['ok', 'fail'],
  );
  assert.match(
    formatCheck(results[1] as CheckResult),
    /only some rows or columns of public\.events \(.*\): .* fix: slotstream migrate/,
  );
});
