import { type JsonValue, maxToken, type StreamToken } from 'slotstream';
import type { ChangeCaches, Membership } from '../caches.ts';
import type { EventJson } from '../event-json.ts';
import type { ChatStore, ReceiptJson, RoomWindow } from './store.ts';
import type { TypingState } from './typing-state.ts';

/** Events per /sync response at most; a bigger window is cut, and the rest comes with the next call. */
export const SYNC_EVENT_LIMIT = 1_000;
/** Timeline events per room in an initial sync (no `since`). */
export const INITIAL_TIMELINE = 20;

export interface RoomResult {
  timeline: { events: EventJson[] };
  receipts: ReceiptJson[];
  typing: string[];
}

export interface SyncResult {
  next: StreamToken;
  rooms: { join: Record<string, RoomResult>; leave: Record<string, { timeline: { events: EventJson[] } }> };
  account_data: Array<{ type: string; content: JsonValue }>;
  to_device: Array<{
    device_id: string;
    sender?: string;
    type: string;
    content: JsonValue;
    stream_id: string;
  }>;
  /** The rooms the user is joined to at `next`: what a long-poll waits on. */
  joined: string[];
}

/** What /sync reads from: the store, typing state, and the change caches that say what to read at all. */
export interface SyncSources {
  store: ChatStore;
  typing: TypingState;
  changes: ChangeCaches;
}

export function isEmpty(result: SyncResult): boolean {
  return (
    Object.keys(result.rooms.join).length === 0 &&
    Object.keys(result.rooms.leave).length === 0 &&
    result.account_data.length === 0 &&
    result.to_device.length === 0
  );
}

/**
 * One /sync answer: everything of the user's with a position in (since, next], read with those bounds, so
 * each row appears in exactly one window of a client that follows its tokens, on whichever reader serves
 * it. `next` is this reader's token (every position up to it is applied and visible), cut lower when the
 * window holds more than SYNC_EVENT_LIMIT events. Without `since`: the joined rooms with their recent
 * timeline, and everything else up to `next`.
 *
 * A window reads only what the change caches say may have changed since `since`: they learn of every
 * change before the reader's position passes it, so one that says "unchanged" about a room or a user is
 * right up to `next`, and a window where nothing of the user's changed costs no query at all.
 */
export async function computeSync(
  sources: SyncSources,
  userId: string,
  since: StreamToken | undefined,
  current: StreamToken,
): Promise<SyncResult> {
  let next = since === undefined ? current : maxToken(since, current);
  if (since === undefined) return initialSync(sources, userId, next);
  let result = await windowSync(sources, userId, since, next, SYNC_EVENT_LIMIT + 1);
  if (result.cutAt !== undefined) {
    // Over the limit: end this window at the last event that fits, and compute it again with that bound
    // so that every stream (and membership) is consistent with it.
    next = { position: result.cutAt, ephemeral: next.ephemeral };
    result = await windowSync(sources, userId, since, next, Number.POSITIVE_INFINITY);
  }
  return result.sync;
}

async function initialSync({ store, typing }: SyncSources, userId: string, next: StreamToken) {
  const memberships = await store.membershipsAt(userId, next.position);
  const joined = memberships.filter((m) => m.membership === 'join').map((m) => m.room_id);
  const [events, receipts, accountData, toDevice] = await Promise.all([
    store.recentEvents(joined, next.position, INITIAL_TIMELINE),
    store.receipts(joined, 0n, next.position),
    store.accountDataBetween(userId, 0n, next.position),
    store.toDeviceBetween(userId, 0n, next.position),
  ]);
  const join: Record<string, RoomResult> = {};
  for (const room of joined)
    join[room] = {
      timeline: { events: [] },
      receipts: receipts.get(room) ?? [],
      typing: typing.typing(room),
    };
  for (const event of events) join[event.room_id]?.timeline.events.push(event);
  return {
    next,
    rooms: { join, leave: {} },
    account_data: accountData,
    to_device: toDevice,
    joined,
  } satisfies SyncResult;
}

async function windowSync(
  { store, typing, changes }: SyncSources,
  userId: string,
  since: StreamToken,
  next: StreamToken,
  limit: number,
): Promise<{ sync: SyncResult; cutAt: bigint | undefined }> {
  // The joined rooms are needed even for an empty window: a long-poll waits on them.
  const memberships = await store.membershipsAt(userId, next.position);
  const { windows, joined, left } = roomWindows(memberships, since.position, next.position);
  const empty: SyncResult = { next, rooms: { join: {}, leave: {} }, account_data: [], to_device: [], joined };
  if (next.position <= since.position && next.ephemeral <= since.ephemeral)
    return { sync: empty, cutAt: undefined };
  const changed = windows.filter((w) => changes.eventsByRoom.hasEntityChanged(w.room_id, w.after));
  const events = await store.eventsInWindows(changed, Number.isFinite(limit) ? limit : 2 ** 31 - 1);
  if (events.length >= limit) {
    const last = events[limit - 2] as EventJson;
    return { sync: empty, cutAt: BigInt(last.stream_ordering) };
  }
  const userChanged = (cache: keyof ChangeCaches) => changes[cache].hasEntityChanged(userId, since.position);
  const [receipts, accountData, toDevice] = await Promise.all([
    store.receipts(
      changes.receiptsByRoom.getEntitiesChangedSince(joined, since.position),
      since.position,
      next.position,
    ),
    userChanged('accountDataByUser') ? store.accountDataBetween(userId, since.position, next.position) : [],
    userChanged('toDeviceByUser') ? store.toDeviceBetween(userId, since.position, next.position) : [],
  ]);

  const join: Record<string, RoomResult> = {};
  const leave: SyncResult['rooms']['leave'] = {};
  const joinedRoom = (room: string) => {
    join[room] ??= { timeline: { events: [] }, receipts: [], typing: typing.typing(room) };
    return join[room];
  };
  for (const event of events) {
    if (left.has(event.room_id)) {
      leave[event.room_id] ??= { timeline: { events: [] } };
      leave[event.room_id]?.timeline.events.push(event);
    } else joinedRoom(event.room_id).timeline.events.push(event);
  }
  for (const [room, list] of receipts) joinedRoom(room).receipts = list;
  for (const room of joined) {
    if (typing.changedBetween(room, since.ephemeral, next.ephemeral)) joinedRoom(room);
  }
  return {
    sync: { next, rooms: { join, leave }, account_data: accountData, to_device: toDevice, joined },
    cutAt: undefined,
  };
}

/**
 * Which rooms a window covers, and from where: a room the user is joined to at `next` from `since` (or
 * from its join, if that came later); a room left within the window up to its leave event.
 */
function roomWindows(memberships: readonly Membership[], since: bigint, next: bigint) {
  const windows: RoomWindow[] = [];
  const joined: string[] = [];
  const left = new Set<string>();
  for (const m of memberships) {
    if (m.membership === 'join') {
      joined.push(m.room_id);
      const after = m.stream_ordering > since ? m.stream_ordering - 1n : since;
      windows.push({ room_id: m.room_id, after, upto: next });
    } else if (m.stream_ordering > since) {
      left.add(m.room_id);
      windows.push({ room_id: m.room_id, after: since, upto: m.stream_ordering });
    }
  }
  return { windows, joined, left };
}
