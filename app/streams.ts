import {
  type AnyStream,
  messageStream,
  type RowOf,
  StreamMessageError,
  type TableUpdate,
  tableStream,
} from 'slotstream';

/**
 * The reference application's streams (tables from migrations/). Notifier keys are room and user ids; the
 * Matrix sigils (`!room`, `@user`) keep them apart, so a client waits on its user id plus its rooms.
 */

export const MEMBERSHIP_EVENT = 'm.room.member';

const eventColumns = {
  stream_ordering: 'int8',
  event_id: 'text',
  room_id: 'text',
  type: 'text',
  state_key: 'text?',
  sender: 'text',
  content: 'jsonb',
  origin_server_ts: 'int8',
} as const;

export type EventRow = RowOf<typeof eventColumns>;

export const eventsStream = tableStream({
  name: 'events',
  position: 'stream_ordering',
  columns: eventColumns,
  // A membership event also concerns its member: their room list changed, even before they wait on the room.
  keys: (update) => roomAndMember(update.row ?? update.old),
});

function roomAndMember(row: Partial<EventRow> | null): string[] {
  const keys: string[] = [];
  if (row === null) return keys;
  if (row.room_id) keys.push(row.room_id);
  if (row.type === MEMBERSHIP_EVENT && row.state_key) keys.push(row.state_key);
  return keys;
}

export const receiptsStream = tableStream({
  name: 'receipts',
  position: 'stream_id',
  columns: {
    room_id: 'text',
    user_id: 'text',
    receipt_type: 'text',
    event_id: 'text',
    stream_id: 'int8',
    ts: 'int8',
  },
  keys: (update) => one(update, 'room_id'),
});

export type ReceiptRow = RowOf<typeof receiptsStream.columns>;

export const accountDataStream = tableStream({
  name: 'account_data',
  position: 'stream_id',
  columns: { user_id: 'text', type: 'text', content: 'jsonb', stream_id: 'int8' },
  keys: (update) => one(update, 'user_id'),
});

export type AccountDataRow = RowOf<typeof accountDataStream.columns>;

export const toDeviceStream = tableStream({
  name: 'to_device',
  table: 'device_inbox',
  position: 'stream_id',
  columns: {
    stream_id: 'int8',
    user_id: 'text',
    device_id: 'text',
    sender: 'text?',
    type: 'text',
    content: 'jsonb',
  },
  // Only a new message concerns its recipient; the writer's deletes of delivered ones wake nobody.
  keys: (update) => (update.op === 'insert' ? one(update, 'user_id') : []),
});

export type ToDeviceRow = RowOf<typeof toDeviceStream.columns>;

/**
 * Access tokens (one row per registered user), for the readers' token cache. A token concerns no waiter: a
 * logout wakes nobody, it only makes the readers' cached token stale.
 */
export const accessTokensStream = tableStream({
  name: 'access_tokens',
  position: 'stream_id',
  columns: { user_id: 'text', token_hash: 'text', revoked: 'bool', stream_id: 'int8' },
  keys: () => [],
});

export type AccessTokenRow = RowOf<typeof accessTokensStream.columns>;

/** The value of `column` in the new row, else the old one (a delete, or a key-only old row). */
function one<R extends Record<string, unknown>>(update: TableUpdate<R>, column: keyof R & string): string[] {
  const value = update.row?.[column] ?? update.old?.[column];
  return typeof value === 'string' ? [value] : [];
}

/** A typing notification: `typing` with a timeout, or stopped. `ts` is the writer's clock (epoch ms). */
export interface TypingRow {
  room_id: string;
  user_id: string;
  typing: boolean;
  timeout_ms: number;
  ts: number;
}

/** Ephemeral: non-transactional messages, decoded at once, never stored in a table. */
export const typingStream = messageStream<TypingRow>({
  name: 'typing',
  prefix: 'slotstream.typing',
  transactional: false,
  parse(content) {
    let value: unknown;
    try {
      value = JSON.parse(content.toString('utf8'));
    } catch {
      throw new StreamMessageError('typing', 'slotstream.typing', 'content is not JSON');
    }
    const row = value as Partial<TypingRow> | null;
    if (
      typeof row !== 'object' ||
      row === null ||
      typeof row.room_id !== 'string' ||
      typeof row.user_id !== 'string' ||
      typeof row.typing !== 'boolean' ||
      !Number.isSafeInteger(row.timeout_ms) ||
      !Number.isSafeInteger(row.ts)
    ) {
      throw new StreamMessageError(
        'typing',
        'slotstream.typing',
        'expected {room_id, user_id, typing, timeout_ms, ts}',
      );
    }
    return row as TypingRow;
  },
  encode: (row) =>
    JSON.stringify({
      room_id: row.room_id,
      user_id: row.user_id,
      typing: row.typing,
      timeout_ms: row.timeout_ms,
      ts: row.ts,
    }),
  keys: (row) => [row.room_id],
});

/** The reference application's streams (the runtime adds its own `caches`). */
export const CHAT_STREAMS: readonly AnyStream[] = [
  eventsStream,
  receiptsStream,
  accountDataStream,
  toDeviceStream,
  typingStream,
  accessTokensStream,
];
