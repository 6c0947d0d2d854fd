/**
 * Timelines, for a subscription that reconnects to a promoted standby. WAL positions of two timelines are
 * comparable only up to where the newer one forked off: past that point, the same LSN holds other records.
 * A reader that applied transactions of the old primary past the fork (an asynchronous standby had not
 * received them) must not resume from its own position there, or it skips what the new primary wrote
 * between the fork and that position; nor may it take those new transactions for ones it already applied.
 */
import type pg from 'pg';
import { type Lsn, parseLsn } from './lsn.ts';

/** The server's current timeline (IDENTIFY_SYSTEM; on a standby, the one it replays). */
export async function serverTimeline(replication: pg.Client): Promise<number> {
  const { rows } = await replication.query<{ timeline: string | number }>('IDENTIFY_SYSTEM');
  return Number(rows[0]?.timeline);
}

/**
 * Where timeline `from` ended on the way to the server's timeline `to`: the switch point of `from` in
 * `to`'s history file. Undefined when `to` does not descend from `from` (another cluster altogether).
 */
export async function forkPoint(replication: pg.Client, from: number, to: number): Promise<Lsn | undefined> {
  if (to <= 1) return undefined; // timeline 1 has no history: nothing descends into it
  const { rows } = await replication.query<{ content: Buffer | string }>(`TIMELINE_HISTORY ${to}`);
  const content = rows[0]?.content;
  return switchPoint(String(content ?? ''), from);
}

/**
 * The switch point of timeline `from` in the text of a timeline history file: one line per ancestor,
 * `parentTLI <tab> switchpoint <tab> reason`, where the parent's WAL up to the switch point is shared.
 */
export function switchPoint(history: string, from: number): Lsn | undefined {
  for (const line of history.split('\n')) {
    const [tli, lsn] = line.trim().split(/\s+/);
    if (tli === undefined || lsn === undefined || !/^\d+$/.test(tli)) continue; // comments, blank lines
    if (Number(tli) === from) return parseLsn(lsn);
  }
  return undefined;
}
