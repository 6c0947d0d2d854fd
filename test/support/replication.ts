/** Helpers for tests that consume a slot: writes of Synapse-like events, and reading a subscription. */
import type pg from 'pg';
import type { LogicalMessage } from '../../src/replication/pgoutput/types.ts';
import {
  type ReplicationEvent,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionStatus,
  subscribe,
} from '../../src/replication/subscribe.ts';
import { ALLOCATED_FROM, ALLOCATED_TO } from '../../src/streams/stream-head.ts';
import { stopBeforeDrop } from './cleanup.ts';
import { query } from './pg.ts';

export { waitFor } from './wait-for.ts';

/**
 * A FROM item that lets its statement write stream rows at hand-picked positions, `first` to `last` (SQL
 * expressions): it declares that range allocated to the transaction, which the position guard on stream
 * tables (src/streams/position-guard.ts) otherwise demands of slotstream_allocate. For tests of the decoding
 * layers, which choose positions to recognise rows and read no tokens.
 */
export function handPicked(first: string, last: string): string {
  return `(SELECT set_config('${ALLOCATED_FROM}', (${first})::text, true), set_config('${ALLOCATED_TO}', (${last})::text, true)) AS hand_picked`;
}

/** Inserts `count` events in one transaction with stream orderings from `first` (hand-picked: see above). */
export async function insertEvents(
  client: pg.Client,
  first: number,
  count: number,
  room = '!room:test',
): Promise<void> {
  await client.query(
    `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
     SELECT n, '$e' || n, $3, 'm.room.message', '@alice:test', jsonb_build_object('body', 'message ' || n), 1764151200000 + n
       FROM generate_series($1::bigint, $2::bigint) AS n, ${handPicked('$1', '$2')}`,
    [first, first + count - 1, room],
  );
}

/**
 * A subscription plus a promise for its first 'connected' status: the slot exists from then on, so writes
 * made after it are certain to be streamed. (Iteration is what connects, so start reading first.) Tests
 * close it themselves; one a failed test left open is closed before its database is dropped.
 */
export function subscribeForTest(options: SubscribeOptions): {
  sub: Subscription;
  connected: Promise<void>;
  statuses: SubscriptionStatus[];
} {
  const statuses: SubscriptionStatus[] = [];
  let resolve = () => {};
  const connected = new Promise<void>((r) => {
    resolve = r;
  });
  const sub = subscribe({
    ...options,
    onStatus: (status) => {
      statuses.push(status);
      options.onStatus?.(status);
      if (status.event === 'connected') resolve();
    },
  });
  stopBeforeDrop(() => sub.close());
  return { sub, connected, statuses };
}

export interface Received {
  xid: number;
  commitLsn: bigint;
  endLsn: bigint;
  orderings: number[];
  messages: LogicalMessage[];
}

/** The one iterator of a subscription, so that several reads continue the same stream without closing it. */
const iterators = new WeakMap<Subscription, AsyncIterator<ReplicationEvent>>();

/**
 * Reads whole transactions until `done` says stop, acknowledging each after it is recorded; the
 * subscription stays open. Events other than transactions (resets, non-transactional messages) go to `onOther`.
 */
export async function readTransactions(
  sub: Subscription,
  done: (received: Received[]) => boolean | Promise<boolean>,
  onOther: (event: ReplicationEvent) => void = () => {},
): Promise<Received[]> {
  const received: Received[] = [];
  let current: Received | undefined;
  if (await done(received)) return received;
  let iterator = iterators.get(sub);
  if (!iterator) {
    iterator = sub[Symbol.asyncIterator]();
    iterators.set(sub, iterator);
  }
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    const event = next.value;
    switch (event.tag) {
      case 'begin':
        current = { xid: event.xid, commitLsn: event.finalLsn, endLsn: 0n, orderings: [], messages: [] };
        break;
      case 'insert':
        current?.orderings.push(Number(event.new.stream_ordering));
        break;
      case 'message':
        if (current && event.transactional)
          current.messages.push({ ...event, content: Buffer.from(event.content) });
        else onOther(event);
        break;
      case 'commit':
        if (!current) throw new Error('commit without begin');
        current.endLsn = event.endLsn;
        received.push(current);
        current = undefined;
        sub.ack(event);
        if (await done(received)) return received;
        break;
      case 'reset':
        onOther(event);
        break;
      default:
        break;
    }
  }
  return received;
}

export async function slotState(url: string, slot: string) {
  const [row] = await query<{
    confirmed_flush_lsn: string | null;
    active: boolean;
    active_pid: number | null;
    wal_status: string;
  }>(
    url,
    'SELECT confirmed_flush_lsn::text, active, active_pid, wal_status FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return row;
}
