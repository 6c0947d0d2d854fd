import type { JsonValue } from 'slotstream';
import type { EventRow } from './streams.ts';

/** An event as the HTTP API shows it, wherever it appears (docs/http-api.md). */
export interface EventJson {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  content: JsonValue;
  /** Membership events only: the member's user id. */
  state_key?: string;
  origin_server_ts: number;
  /** The event's position, as an opaque decimal string. */
  stream_ordering: string;
}

/** An events row as node-postgres returns it (int8 as text) or as the decoder does (int8 as bigint). */
export interface EventRecord {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  content: unknown;
  state_key: string | null;
  origin_server_ts: string | number | bigint;
  stream_ordering: string | number | bigint;
}

export const EVENT_COLUMNS = [
  'event_id',
  'room_id',
  'sender',
  'type',
  'content',
  'state_key',
  'origin_server_ts',
  'stream_ordering',
] as const;

export function toEventJson(row: EventRecord | EventRow): EventJson {
  const event: EventJson = {
    event_id: row.event_id,
    room_id: row.room_id,
    sender: row.sender,
    type: row.type,
    content: row.content as JsonValue,
    origin_server_ts: Number(row.origin_server_ts),
    stream_ordering: String(row.stream_ordering),
  };
  if (row.state_key !== null) event.state_key = row.state_key;
  return event;
}
