import type { EventJson } from '../event-json.ts';
import type { RoomWindow } from './store.ts';

/** How many of a room's latest events /sync keeps cached per room (getRoomTimeline([room, '50'])). */
export const SYNC_TIMELINE = 50;

/**
 * The events of `window` (after, upto] from a room's cached timeline (its latest `limit` events when it was
 * loaded, newest first), in stream order; undefined when the timeline does not cover the window.
 *
 * Why a timeline loaded "now" answers "as of upto": it holds every event of the room at or below the
 * reader's position (an event applied after the load began invalidated it), and maybe newer ones, which
 * the window leaves out. It covers the window when it reaches back to `after` (its oldest event is at or
 * below it, so every later event is in it) or holds the whole room (fewer than `limit` events).
 */
export function timelineWindow(
  timeline: readonly EventJson[],
  limit: number,
  window: RoomWindow,
): EventJson[] | undefined {
  const oldest = timeline.at(-1);
  if (timeline.length >= limit && oldest !== undefined && BigInt(oldest.stream_ordering) > window.after)
    return undefined;
  // Newest first: read back to the window's start, then reverse into stream order.
  const events: EventJson[] = [];
  for (const event of timeline) {
    const position = BigInt(event.stream_ordering);
    if (position <= window.after) break;
    if (position <= window.upto) events.push(event);
  }
  return events.reverse();
}

/**
 * Stream order, for events as the API shows them: positions are decimal strings without leading zeros, so
 * the shorter is the lower, and equal lengths compare as text (no parsing).
 */
export function byStreamOrdering(a: EventJson, b: EventJson): number {
  const [x, y] = [a.stream_ordering, b.stream_ordering];
  return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
}
