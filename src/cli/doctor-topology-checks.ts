/**
 * The checks of `slotstream doctor` about where the server stands: a primary, whose failover slots must not
 * run ahead of its standbys, or a standby, where readers can decode (PostgreSQL 16+) only with the settings
 * that keep their slots from being invalidated, and whose synced failover slots (17+) survive a promotion.
 */
import { FAILOVER_SLOTS_VERSION } from '../replication/failover.ts';
import type { CheckResult } from './doctor-checks.ts';
import type { ServerFacts } from './doctor-facts.ts';

/** The first release that decodes on a standby. */
const STANDBY_DECODING_VERSION = 160000;

const RELOAD = 'SELECT pg_reload_conf();';

/** The `server` line: primary or standby, and the version. */
export function serverCheck(f: ServerFacts): CheckResult {
  const version = `PostgreSQL ${Math.floor(f.versionNum / 10000)}`;
  if (!f.topology.inRecovery) return { check: 'server', verdict: 'ok', detail: `primary, ${version}` };
  if (f.versionNum < STANDBY_DECODING_VERSION)
    return {
      check: 'server',
      verdict: 'fail',
      detail: `standby, ${version}: logical decoding on a standby needs PostgreSQL 16+, so no reader can run here`,
      fix: 'point the readers at the primary (its DATABASE_URL), or upgrade to 16+',
    };
  return { check: 'server', verdict: 'ok', detail: `standby, ${version}: readers decode here` };
}

/** The settings that matter where this server stands (none on a primary before 17). */
export function topologyChecks(f: ServerFacts): CheckResult[] {
  if (!f.topology.inRecovery) return f.versionNum >= FAILOVER_SLOTS_VERSION ? [standbySlotsGuard(f)] : [];
  if (f.versionNum < STANDBY_DECODING_VERSION) return []; // serverCheck has said all there is
  const results = [hotStandbyFeedback(f), primarySlotName(f)];
  if (f.versionNum >= FAILOVER_SLOTS_VERSION) results.push(...slotSync(f));
  return results;
}

/**
 * On a primary: a logical walsender sends a transaction only once the physical slots listed in
 * synchronized_standby_slots have received it. Without that, a reader can apply (and serve) a transaction
 * that a standby promoted a moment later never had: data that no longer exists after the failover.
 */
function standbySlotsGuard(f: ServerFacts): CheckResult {
  const check = 'synchronized_standby_slots';
  const listed = f.topology.synchronizedStandbySlots ?? [];
  // Physical slots carry no output plugin.
  const physical = f.slots.filter((s) => s.plugin === null).map((s) => s.name);
  const unknown = listed.filter((name) => !physical.includes(name));
  const setTo = (names: string[]) =>
    `ALTER SYSTEM SET synchronized_standby_slots = '${names.join(', ')}'; ${RELOAD}`;
  if (unknown.length > 0)
    return {
      check,
      verdict: 'fail',
      detail: `lists ${unknown.join(', ')}, not a physical slot on this server: logical walsenders wait for it, so readers stall`,
      fix:
        physical.length > 0
          ? setTo(physical)
          : `ALTER SYSTEM RESET synchronized_standby_slots; ${RELOAD} (or create the standby's physical slot)`,
    };
  if (listed.length > 0)
    return {
      check,
      verdict: 'ok',
      detail: `readers get a transaction only once ${listed.join(', ')} has it`,
    };
  const failoverSlots = f.slots.filter((s) => s.failover === true).length;
  const standby = physical.length > 0 || f.topology.physicalSenders > 0;
  if (!standby)
    return {
      check,
      verdict: 'ok',
      detail: `empty; ${failoverSlots} failover slot(s), no standby yet (no physical slot, none streaming): list the standby's physical slot here when you add one`,
    };
  return {
    check,
    verdict: 'warn',
    detail:
      `empty, with a standby and ${failoverSlots} failover slot(s): a reader can apply a transaction the ` +
      'standby never received, and after a promotion serve data that no longer exists',
    fix:
      physical.length > 0
        ? setTo(physical)
        : `ALTER SYSTEM SET synchronized_standby_slots = '<the standby's physical slot>'; ${RELOAD} (create it with pg_create_physical_replication_slot, and name it in the standby's primary_slot_name)`,
  };
}

/** Decoding on a standby: without feedback the primary vacuums catalog rows its slots need, which invalidates them. */
function hotStandbyFeedback(f: ServerFacts): CheckResult {
  const check = 'hot_standby_feedback';
  if (f.topology.hotStandbyFeedback) return { check, verdict: 'ok', detail: 'on' };
  return {
    check,
    verdict: 'fail',
    detail:
      'off: the primary removes catalog rows the logical slots here still need, and the standby then ' +
      'invalidates those slots (every reader on it resets, again and again)',
    fix: `ALTER SYSTEM SET hot_standby_feedback = on; ${RELOAD} (on this standby)`,
  };
}

/** Without a physical slot on the primary, its feedback and WAL are not kept for this standby while it is away. */
function primarySlotName(f: ServerFacts): CheckResult {
  const check = 'primary_slot_name';
  if (f.topology.primarySlotName !== '') return { check, verdict: 'ok', detail: f.topology.primarySlotName };
  const sync = f.versionNum >= FAILOVER_SLOTS_VERSION ? ', and failover slots cannot be synced here' : '';
  return {
    check,
    verdict: 'warn',
    detail:
      'empty: while this standby is disconnected the primary forgets its feedback and may remove WAL it ' +
      `needs, invalidating the logical slots here${sync}`,
    fix:
      "SELECT pg_create_physical_replication_slot('standby_1'); on the primary, then here: " +
      `ALTER SYSTEM SET primary_slot_name = 'standby_1'; ${RELOAD}`,
  };
}

/** PostgreSQL 17+: a standby keeps the primary's failover slots only while it syncs them. */
function slotSync(f: ServerFacts): CheckResult[] {
  const check = 'sync_replication_slots';
  if (!f.topology.syncReplicationSlots)
    return [
      {
        check,
        verdict: 'warn',
        detail:
          "off: the primary's failover slots are not synced here, so if this standby is promoted their " +
          'readers find their slots gone and reset',
        fix: `ALTER SYSTEM SET sync_replication_slots = on; ${RELOAD} (it also needs primary_slot_name, hot_standby_feedback and dbname in primary_conninfo)`,
      },
    ];
  if (f.topology.primaryConninfoHasDbname === false)
    return [
      {
        check: 'primary_conninfo',
        verdict: 'fail',
        detail: 'names no database, and slot sync connects to one: failover slots are not synced here',
        fix: `add dbname=postgres (any database) to primary_conninfo: ALTER SYSTEM SET primary_conninfo = '… dbname=postgres'; ${RELOAD}`,
      },
    ];
  return [{ check, verdict: 'ok', detail: "on: the primary's failover slots are synced here" }];
}
