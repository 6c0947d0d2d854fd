/**
 * The checks of `slotstream doctor`, as pure functions of what the server reported (doctor-facts.ts), so
 * each verdict and its advice can be tested without a server that is actually misconfigured.
 */
import { isLost } from '../replication/slots.ts';
import type { MissingPrivilege, StreamRole } from '../streams/privileges.ts';
import type { ServerFacts } from './doctor-facts.ts';
import { serverCheck, topologyChecks } from './doctor-topology-checks.ts';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  check: string;
  verdict: Verdict;
  detail: string;
  /** What to run or change; absent when there is nothing to fix. */
  fix?: string;
}

export interface CheckOptions {
  /** The tables slotstream's readers need published. */
  tables: readonly string[];
  /** An inactive slot further behind than this many bytes is reported as stale. */
  staleLagBytes: bigint;
}

/** Free slots or senders below this: the next reader (or a reader's restart overlap) may not find one. */
const MIN_HEADROOM = 2;

/** What doctor suggests for max_slot_wal_keep_size; the right value is what the WAL disk can spare. */
export const SUGGESTED_KEEP_SIZE = '10GB';

export function runChecks(facts: ServerFacts, options: CheckOptions): CheckResult[] {
  return [
    serverCheck(facts),
    walLevel(facts),
    replicationSlots(facts),
    walSenders(facts),
    keepSize(facts),
    ...idleTimeout(facts),
    ...topologyChecks(facts),
    role(facts),
    ...publication(facts, options.tables),
    ...staleSlots(facts, options.staleLagBytes),
  ];
}

function walLevel(f: ServerFacts): CheckResult {
  if (f.walLevel === 'logical') return { check: 'wal_level', verdict: 'ok', detail: 'logical' };
  return {
    check: 'wal_level',
    verdict: 'fail',
    detail: `${f.walLevel}: logical decoding needs logical`,
    fix: "ALTER SYSTEM SET wal_level = 'logical'; then restart PostgreSQL",
  };
}

function replicationSlots(f: ServerFacts): CheckResult {
  const used = f.slots.length;
  const free = f.maxReplicationSlots - used;
  const detail = `${used} of ${f.maxReplicationSlots} slots in use`;
  const fix = `ALTER SYSTEM SET max_replication_slots = ${Math.max(used + 10, f.maxReplicationSlots * 2)}; then restart PostgreSQL`;
  if (free <= 0)
    return {
      check: 'max_replication_slots',
      verdict: 'fail',
      detail: `${detail}: no reader can create a new slot`,
      fix,
    };
  if (free < MIN_HEADROOM)
    return { check: 'max_replication_slots', verdict: 'warn', detail: `${detail}: ${free} free`, fix };
  return { check: 'max_replication_slots', verdict: 'ok', detail: `${detail}, ${free} free` };
}

function walSenders(f: ServerFacts): CheckResult {
  const free = f.maxWalSenders - f.walSendersInUse;
  const detail = `${f.walSendersInUse} of ${f.maxWalSenders} walsenders in use`;
  // Every slot streams through a walsender of its own once its reader runs.
  const needed = Math.max(f.walSendersInUse, f.slots.length) + MIN_HEADROOM;
  const fix = `ALTER SYSTEM SET max_wal_senders = ${Math.max(needed + 8, f.maxWalSenders * 2)}; then restart PostgreSQL`;
  if (free <= 0)
    return { check: 'max_wal_senders', verdict: 'fail', detail: `${detail}: no reader can connect`, fix };
  if (f.maxWalSenders < needed)
    return {
      check: 'max_wal_senders',
      verdict: 'warn',
      detail: `${detail}, ${f.slots.length} slots: not every slot's reader can stream at once with room to spare`,
      fix,
    };
  return { check: 'max_wal_senders', verdict: 'ok', detail: `${detail}, ${free} free` };
}

function keepSize(f: ServerFacts): CheckResult {
  if (f.maxSlotWalKeepSizeMb < 0)
    return {
      check: 'max_slot_wal_keep_size',
      verdict: 'warn',
      detail: '-1 (unlimited): a reader that stops for good keeps its slot pinning WAL until the disk fills',
      fix: `ALTER SYSTEM SET max_slot_wal_keep_size = '${SUGGESTED_KEEP_SIZE}'; SELECT pg_reload_conf(); (size it to what the WAL disk can spare; a slot past it is lost and its reader resets)`,
    };
  return {
    check: 'max_slot_wal_keep_size',
    verdict: 'ok',
    detail: `${f.maxSlotWalKeepSizeMb}MB: a slot further behind is invalidated (its reader resets)`,
  };
}

/** PostgreSQL 18 can invalidate slots idle for too long: the other bound on an abandoned slot. */
function idleTimeout(f: ServerFacts): CheckResult[] {
  if (f.idleReplicationSlotTimeoutS === null) return [];
  const check = 'idle_replication_slot_timeout';
  if (f.idleReplicationSlotTimeoutS > 0)
    return [
      {
        check,
        verdict: 'ok',
        detail: `${f.idleReplicationSlotTimeoutS}s: slots idle longer are invalidated (their readers reset)`,
      },
    ];
  if (f.maxSlotWalKeepSizeMb >= 0)
    return [{ check, verdict: 'ok', detail: '0 (off); max_slot_wal_keep_size bounds abandoned slots' }];
  return [
    {
      check,
      verdict: 'warn',
      detail: '0 (off), and max_slot_wal_keep_size is unlimited: nothing ever releases an abandoned slot',
      fix: "ALTER SYSTEM SET idle_replication_slot_timeout = '1d'; SELECT pg_reload_conf(); (or bound max_slot_wal_keep_size)",
    },
  ];
}

function role(f: ServerFacts): CheckResult {
  if (f.roleCanReplicate) return { check: 'role', verdict: 'ok', detail: `${f.role} may use replication` };
  return {
    check: 'role',
    verdict: 'fail',
    detail: `${f.role} has neither REPLICATION nor superuser`,
    fix: `ALTER ROLE "${f.role.replaceAll('"', '""')}" REPLICATION; (as a superuser)`,
  };
}

function publication(f: ServerFacts, tables: readonly string[]): CheckResult[] {
  const p = f.publication;
  const check = `publication ${p.name}`;
  if (!p.exists)
    return [
      {
        check,
        verdict: 'fail',
        detail: 'missing in this database: readers cannot start',
        fix: 'slotstream migrate (it creates the publication)',
      },
    ];
  const wanted = tables.map((t) => (t.includes('.') ? t : `public.${t}`));
  const missing = p.allTables ? [] : wanted.filter((t) => !p.tables.includes(t));
  const results: CheckResult[] = [
    missing.length > 0
      ? {
          check,
          verdict: 'fail',
          detail: `does not cover ${missing.join(', ')}: their changes never reach readers`,
          fix: `ALTER PUBLICATION "${p.name}" ADD TABLE ${missing.join(', ')}; (or slotstream migrate)`,
        }
      : {
          check,
          verdict: 'ok',
          detail: p.allTables ? 'FOR ALL TABLES' : `covers ${p.tables.join(', ')}`,
        },
  ];
  if (p.notPublished.length > 0) {
    results.push({
      check,
      verdict: 'fail',
      detail: `does not publish ${p.notPublished.join(', ')}: those changes never reach readers, which stop on them`,
      fix: `slotstream migrate (it restores them; or ALTER PUBLICATION "${p.name}" SET (publish = 'insert, update, delete, truncate');)`,
    });
  }
  const partial = p.restricted.filter((t) => wanted.includes(t));
  if (partial.length > 0) {
    results.push({
      check,
      verdict: 'fail',
      detail: `publishes only some rows or columns of ${partial.join(', ')} (a row filter or a column list): readers stop on the changes it leaves out`,
      fix: 'slotstream migrate (it publishes them whole again)',
    });
  }
  if (p.publishesUpdatesOrDeletes && p.tablesWithoutIdentity.length > 0) {
    results.push({
      check: 'replica identity',
      verdict: 'fail',
      detail: `${p.tablesWithoutIdentity.join(', ')} has no primary key or replica identity: UPDATE and DELETE on it fail while it is published`,
      fix: `add a primary key, or ALTER TABLE ${p.tablesWithoutIdentity[0]} REPLICA IDENTITY FULL;`,
    });
  }
  return results;
}

function staleSlots(f: ServerFacts, staleLagBytes: bigint): CheckResult[] {
  const stale: CheckResult[] = [];
  for (const slot of f.slots) {
    let why: string | undefined;
    if (isLost(slot))
      why = `lost (${slot.invalidationReason ?? 'wal_status lost'}): it can never stream again`;
    else if (slot.walStatus === 'unreserved')
      why = 'wal_status unreserved: its WAL is about to be removed, and the slot lost';
    else if (!slot.active && slot.lagBytes !== null && slot.lagBytes > staleLagBytes)
      why = `inactive and ${slot.lagBytes} bytes behind${slot.inactiveSince ? ` since ${new Date(slot.inactiveSince).toISOString()}` : ''}: it pins that WAL`;
    if (why)
      stale.push({
        check: `slot ${slot.name}`,
        verdict: 'warn',
        detail: why,
        fix: `slotstream slots drop ${slot.name}  (if its reader is gone; psql: SELECT pg_drop_replication_slot('${slot.name}'))`,
      });
  }
  if (stale.length > 0) return stale;
  return [{ check: 'slots', verdict: 'ok', detail: `${f.slots.length} slot(s), none stale` }];
}

/** One line per result: `ok    wal_level: logical`, with ` — fix: …` when there is one. */
export function formatCheck(result: CheckResult): string {
  return `${result.verdict.padEnd(4)}  ${result.check}: ${result.detail}${result.fix ? ` — fix: ${result.fix}` : ''}`;
}

/** `doctor --reader-role/--writer-role`: what the role lacks for its part, with the GRANTs that fix it. */
export function roleCheck(kind: StreamRole, role: string, missing: readonly MissingPrivilege[]): CheckResult {
  const check = `${kind} role ${role}`;
  if (missing.length === 0) return { check, verdict: 'ok', detail: `has what a ${kind} needs` };
  return {
    check,
    verdict: 'fail',
    detail: missing.map((m) => m.detail).join('; '),
    fix: `${missing.map((m) => m.grant).join('; ')}; (as the tables' owner; scripts/sql/roles.sql grants both roles)`,
  };
}
