import type { RowUpdate } from 'slotstream';
import { type EventJson, toEventJson } from '../event-json.ts';
import type { EventRow } from '../streams.ts';

/**
 * A room's cached timeline (getRoomTimeline([room, limit]): its latest `limit` events, newest first) after
 * one transaction's changes to the room's events, or undefined when only a reload can tell: the update
 * rule of that cache (app/caches.ts).
 *
 * Only new events are appended; an edited, deleted or moved event (an update or delete: redactions would be
 * updates) invalidates. They are appended only when the timeline is known to end just before them: its
 * newest event is below the lowest position inserted. Positions are allocated in commit order, so every
 * event of the room below that position was committed earlier, and the cached timeline holds all of them:
 * any such event applied after the load began reached the timeline through this rule or removed it, and
 * those applied before were visible to the load. A timeline whose newest event is at or above an inserted
 * position was loaded from a snapshot that already saw this transaction (a load racing the stream):
 * appending would repeat events, so it is reloaded instead.
 */
export function extendTimeline(
  timeline: readonly EventJson[],
  updates: ReadonlyArray<RowUpdate<EventRow>>,
  [roomId, limit]: readonly [roomId: string, limit: string],
): EventJson[] | undefined {
  const max = Number(limit);
  if (!Number.isSafeInteger(max) || max < 1) return undefined;
  const inserted: EventRow[] = [];
  for (const update of updates) {
    if (update.op !== 'insert' || update.row.room_id !== roomId) return undefined;
    inserted.push(update.row);
  }
  // Newest first, as the timeline: within a transaction rows need not arrive in position order.
  inserted.sort((a, b) =>
    a.stream_ordering > b.stream_ordering ? -1 : a.stream_ordering < b.stream_ordering ? 1 : 0,
  );
  const lowest = inserted.at(-1);
  const newest = timeline[0];
  if (lowest === undefined) return undefined;
  if (newest !== undefined && BigInt(newest.stream_ordering) >= lowest.stream_ordering) return undefined;
  return [...inserted.map(toEventJson), ...timeline].slice(0, max);
}
