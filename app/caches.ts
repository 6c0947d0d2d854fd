import { type CacheRules, type JsonValue, on } from 'slotstream';
import type { EventJson } from './event-json.ts';
import { accountDataStream, eventsStream, MEMBERSHIP_EVENT } from './streams.ts';

export interface CacheSizes {
  events: number;
  timelines: number;
  users: number;
}

const DEFAULT_SIZES: CacheSizes = { events: 50_000, timelines: 5_000, users: 50_000 };

/**
 * The reference application's caches, each declared with the stream updates that make it stale (Synapse's
 * `@cached` functions and their invalidation calls, side by side):
 * - getEvent([event_id]): any change to that event row;
 * - getRoomTimeline([room_id, limit]): any change to an event of the room, as a prefix (every limit);
 * - getRoomsForUser([user_id]): a membership event whose member (state_key) is that user;
 * - getAccountData([user_id, type]): that row of account_data.
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
      on(eventsStream, (u) => key((u.row ?? u.old).room_id)),
    ),
    getRoomsForUser: rules.define<[userId: string], string[]>(
      'getRoomsForUser',
      { max: max.users, keyLength: 1 },
      on(eventsStream, (u) => {
        const row = u.row ?? u.old;
        return row.type === MEMBERSHIP_EVENT ? key(row.state_key) : [];
      }),
    ),
    getAccountData: rules.define<[userId: string, type: string], JsonValue | null>(
      'getAccountData',
      { max: max.users, keyLength: 2 },
      on(accountDataStream, (u) => {
        const row = u.row ?? u.old;
        return row.user_id !== undefined && row.type !== undefined ? [[row.user_id, row.type]] : [];
      }),
    ),
  };
}

export type ChatCaches = ReturnType<typeof defineChatCaches>;

/** One key prefix of one element, or none when the column was not in the old row. */
function key(value: string | null | undefined): string[][] {
  return typeof value === 'string' ? [[value]] : [];
}
