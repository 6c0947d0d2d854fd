import { type CacheRules, type JsonValue, on, type RowUpdate, updateOn } from 'slotstream';
import type { EventJson } from './event-json.ts';
import { extendTimeline } from './reader/timeline-extend.ts';
import {
  accessTokensStream,
  accountDataStream,
  type EventRow,
  eventsStream,
  MEMBERSHIP_EVENT,
  receiptsStream,
  toDeviceStream,
} from './streams.ts';

/** A user's membership of a room as of some position: its latest m.room.member event there. */
export interface Membership {
  room_id: string;
  membership: string;
  stream_ordering: bigint;
}

export interface CacheSizes {
  events: number;
  timelines: number;
  users: number;
}

const DEFAULT_SIZES: CacheSizes = { events: 50_000, timelines: 5_000, users: 50_000 };

/** A membership event concerns its member (state_key): their rooms changed. */
const byMember = on(eventsStream, (u) => {
  const row = u.row ?? u.old;
  return row.type === MEMBERSHIP_EVENT ? key(row.state_key) : [];
});

/**
 * A change to an event concerns the timelines of its room (every limit), and of the room it was in before
 * an update or delete. Without that room in the old row (no REPLICA IDENTITY FULL) it is unknown: the empty
 * prefix, every timeline.
 */
function byTimelineRoom(u: RowUpdate<EventRow>): string[][] {
  if (u.op === 'insert') return [[u.row.room_id]];
  const before = u.old?.room_id;
  if (before === undefined) return [[]];
  return u.row === null || u.row.room_id === before ? [[before]] : [[before], [u.row.room_id]];
}

/**
 * The reference application's caches, each declared with the stream updates that make it stale (Synapse's
 * `@cached` functions and their invalidation calls, side by side):
 * - getEvent([event_id]): any change to that event row;
 * - getRoomTimeline([room_id, limit]): kept current from the events stream instead: new events of the room
 *   are appended to each of its cached timelines (every limit) where that is exact, and any other change,
 *   or a timeline that cannot be extended exactly, invalidates it (reader/timeline-extend.ts);
 * - getRoomsForUser([user_id]): a membership event whose member (state_key) is that user;
 * - getAccountData([user_id, type]): that row of account_data;
 * - getMemberships([user_id]): as getRoomsForUser (every room's latest membership, for /sync);
 * - getTokenUser([token_hash]): the user a live token is for, null for an unknown or revoked one: any change
 *   to that token's row (a registration makes a cached "unknown" stale, a logout a cached user).
 */
export function defineChatCaches(rules: CacheRules, sizes: Partial<CacheSizes> = {}) {
  const max = { ...DEFAULT_SIZES, ...sizes };
  return {
    getEvent: rules.define<[eventId: string], EventJson | null>(
      'getEvent',
      { max: max.events, keyLength: 1 },
      on(eventsStream, (u) => key((u.row ?? u.old).event_id)),
    ),
    getRoomTimeline: rules.define<[roomId: string, limit: string], EventJson[]>(
      'getRoomTimeline',
      { max: max.timelines, keyLength: 2 },
      updateOn(eventsStream, { keys: byTimelineRoom, apply: extendTimeline }),
    ),
    getRoomsForUser: rules.define<[userId: string], string[]>(
      'getRoomsForUser',
      { max: max.users, keyLength: 1 },
      byMember,
    ),
    getAccountData: rules.define<[userId: string, type: string], JsonValue | null>(
      'getAccountData',
      { max: max.users, keyLength: 2 },
      on(accountDataStream, (u) => {
        const row = u.row ?? u.old;
        return row.user_id !== undefined && row.type !== undefined ? [[row.user_id, row.type]] : [];
      }),
    ),
    getMemberships: rules.define<[userId: string], Membership[]>(
      'getMemberships',
      { max: max.users, keyLength: 1 },
      byMember,
    ),
    getTokenUser: rules.define<[tokenHash: string], string | null>(
      'getTokenUser',
      { max: max.users, keyLength: 1 },
      on(accessTokensStream, (u) => key((u.row ?? u.old).token_hash)),
    ),
  };
}

export type ChatCaches = ReturnType<typeof defineChatCaches>;

/**
 * What /sync asks before it queries anything: per stream, where each room or user last changed (Synapse's
 * stream change caches), so a window reads only the streams and rooms that changed in it.
 * - eventsByRoom: any change to an event of the room (memberships included: they are room events);
 * - receiptsByRoom: a receipt in the room;
 * - accountDataByUser: the user's account data;
 * - toDeviceByUser: a new to-device message for the user. Only inserts: a delete (of delivered messages)
 *   takes rows away, and a window can only lose rows that way, never gain one it would have to read.
 */
export function defineChangeCaches(rules: CacheRules, max = 100_000) {
  return {
    eventsByRoom: rules.changes(
      'eventsByRoom',
      { max },
      on(eventsStream, (u) => entity((u.row ?? u.old).room_id)),
    ),
    receiptsByRoom: rules.changes(
      'receiptsByRoom',
      { max },
      on(receiptsStream, (u) => entity((u.row ?? u.old).room_id)),
    ),
    accountDataByUser: rules.changes(
      'accountDataByUser',
      { max },
      on(accountDataStream, (u) => entity((u.row ?? u.old).user_id)),
    ),
    toDeviceByUser: rules.changes(
      'toDeviceByUser',
      { max },
      on(toDeviceStream, (u) => (u.op === 'insert' ? [u.row.user_id] : [])),
    ),
  };
}

export type ChangeCaches = ReturnType<typeof defineChangeCaches>;

/** One key prefix of one element, or none when the column was not in the old row. */
function key(value: string | null | undefined): string[][] {
  return entity(value).map((v) => [v]);
}

/** One entity, or none when the column was not in the old row. */
function entity(value: string | null | undefined): string[] {
  return typeof value === 'string' ? [value] : [];
}
