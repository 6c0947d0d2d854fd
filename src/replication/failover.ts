/**
 * Failover slots (PostgreSQL 17+): a logical slot flagged `failover` is synced to standbys that run with
 * `sync_replication_slots`, so after a promotion its reader finds it on the new primary and continues
 * instead of resetting. Before 17 there is no such flag: a promotion always loses the slot.
 */
import type { RunSql } from './connect.ts';
import { FailoverUnsupportedError, ServerError } from './errors.ts';
import { quoteIdent } from './names.ts';
import { serverVersionNum } from './server-version.ts';

/** The first release with failover slots (CREATE_REPLICATION_SLOT … FAILOVER, ALTER_REPLICATION_SLOT). */
export const FAILOVER_SLOTS_VERSION = 170000;

/** What decides whether a slot can be a failover slot. */
export interface FailoverServer {
  versionNum: number;
  /** pg_is_in_recovery(): a standby, where slots are synced from the primary, never flagged here. */
  inRecovery: boolean;
}

/**
 * The failover flag a slot should have: `requested` when given, else on wherever the server can keep it.
 * Undefined where the flag does not apply — before 17, for a temporary slot, on a standby — so the slot is
 * an ordinary one and an existing slot is left as it is. Throws FailoverUnsupportedError when `requested`
 * is true there, before anything is created.
 */
export function decideFailover(
  slot: string,
  requested: boolean | undefined,
  server: FailoverServer,
  temporary: boolean,
): boolean | undefined {
  const reason =
    server.versionNum < FAILOVER_SLOTS_VERSION
      ? 'version'
      : temporary
        ? 'temporary'
        : server.inRecovery
          ? 'standby'
          : undefined;
  if (reason === undefined) return requested ?? true;
  if (requested === true) throw new FailoverUnsupportedError(slot, reason, server.versionNum);
  return undefined;
}

/**
 * `decideFailover` for the server behind `run`: an ordinary session or a logical replication one (both
 * take SHOW and a parameterless SELECT).
 */
export async function slotFailover(
  run: RunSql,
  slot: string,
  requested: boolean | undefined,
  temporary: boolean,
): Promise<boolean | undefined> {
  const versionNum = await serverVersionNum(run);
  // Only 17+ can use the answer; older servers are spared the question.
  const inRecovery =
    versionNum >= FAILOVER_SLOTS_VERSION &&
    ((await run('SELECT pg_is_in_recovery() AS in_recovery')).rows[0] as { in_recovery: boolean })
      .in_recovery;
  return decideFailover(slot, requested, { versionNum, inRecovery }, temporary);
}

/**
 * Sets an existing slot's failover flag (ALTER_REPLICATION_SLOT, PostgreSQL 17+), on a replication
 * session. The server takes the slot for the moment: while another process streams from it, this fails
 * with 55006 like START_REPLICATION would.
 */
export async function alterSlotFailover(run: RunSql, slot: string, failover: boolean): Promise<void> {
  try {
    await run(`ALTER_REPLICATION_SLOT ${quoteIdent(slot)} (FAILOVER ${failover})`);
  } catch (err) {
    throw new ServerError(`setting failover ${failover} on replication slot "${slot}"`, err as Error);
  }
}
