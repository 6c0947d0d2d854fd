import pg from 'pg';
import type { JsonValue, TupleCache } from 'slotstream';
import type { ChatCaches, Membership } from '../caches.ts';
import { EVENT_COLUMNS, type EventJson, type EventRecord, toEventJson } from '../event-json.ts';
import { MEMBERSHIP_EVENT } from '../streams.ts';
import { byStreamOrdering, SYNC_TIMELINE, timelineWindow } from './timeline-window.ts';

const EVENT_SELECT = EVENT_COLUMNS.map((c) => `e.${c}`).join(', ');

export interface ReceiptJson {
  user_id: string;
  event_id: string;
  receipt_type: string;
  ts: number;
}

/** A room and the window of positions to read from it: (after, upto]. */
export interface RoomWindow {
  room_id: string;
  after: bigint;
  upto: bigint;
}

/** Where a store counts the queries it issues: one per route, so /metrics tells queries per request. */
export interface QueryCount {
  queries: number;
}

/**
 * The reader's read-only view of the database. Point reads go through the caches (and are kept fresh by
 * the stream rules declared with them); /sync's window reads answer "as of next_batch", not "now": from a
 * cached value only where it provably is that state (a user's memberships, a room's timeline), else from
 * the database with explicit position bounds.
 *
 * Without caches (`caches` undefined) every read queries the database: the baseline that benchmarks
 * compare the caches with.
 */
export class ChatStore {
  readonly #pool: pg.Pool;
  readonly #caches: ChatCaches | undefined;
  readonly #count: QueryCount;

  private constructor(pool: pg.Pool, caches: ChatCaches | undefined, count: QueryCount) {
    this.#pool = pool;
    this.#caches = caches;
    this.#count = count;
  }

  static open(connectionString: string, caches: ChatCaches | undefined, poolSize = 10): ChatStore {
    const pool = new pg.Pool({ connectionString, max: poolSize });
    // An idle client's error (the server restarting) must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    return new ChatStore(pool, caches, { queries: 0 });
  }

  /** This store (its pool, its caches) with its queries counted in `count`. */
  countingIn(count: QueryCount): ChatStore {
    return new ChatStore(this.#pool, this.#caches, count);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  getEvent(eventId: string): Promise<EventJson | null> {
    return this.#cached(this.#caches?.getEvent, [eventId], async () => {
      const { rows } = await this.#query<EventRecord>(
        `SELECT ${EVENT_SELECT} FROM events e WHERE e.event_id = $1`,
        [eventId],
      );
      return rows[0] === undefined ? null : toEventJson(rows[0]);
    });
  }

  /** The room's latest `limit` events, newest first. */
  roomMessages(roomId: string, limit: number): Promise<EventJson[]> {
    return this.#cached(this.#caches?.getRoomTimeline, [roomId, String(limit)], async () => {
      const { rows } = await this.#query<EventRecord>(
        `SELECT ${EVENT_SELECT} FROM events e WHERE e.room_id = $1 ORDER BY e.stream_ordering DESC LIMIT $2`,
        [roomId, limit],
      );
      return rows.map(toEventJson);
    });
  }

  /** The rooms the user is joined to now. */
  roomsForUser(userId: string): Promise<string[]> {
    return this.#cached(this.#caches?.getRoomsForUser, [userId], async () => {
      const memberships = await this.#memberships(userId, undefined);
      return memberships.filter((m) => m.membership === 'join').map((m) => m.room_id);
    });
  }

  accountData(userId: string, type: string): Promise<JsonValue | null> {
    return this.#cached(this.#caches?.getAccountData, [userId, type], async () => {
      const { rows } = await this.#query<{ content: JsonValue }>(
        'SELECT content FROM account_data WHERE user_id = $1 AND type = $2',
        [userId, type],
      );
      return rows[0]?.content ?? null;
    });
  }

  /**
   * The user of a live access token (by its hash), null for an unknown or revoked one: from the cache the
   * access_tokens stream keeps fresh, so once this reader has applied a logout's position the token is gone.
   */
  userForToken(tokenHash: string): Promise<string | null> {
    return this.#cached(this.#caches?.getTokenUser, [tokenHash], async () => {
      const { rows } = await this.#query<{ user_id: string }>(
        'SELECT user_id FROM access_tokens WHERE token_hash = $1 AND NOT revoked',
        [tokenHash],
      );
      return rows[0]?.user_id ?? null;
    });
  }

  /**
   * The user's latest membership of every room, as of `upto`. The cached memberships (now) are exactly
   * that when none of them is newer than `upto`: a membership change at or below the reader's position
   * has invalidated them, and one above `upto` would show. Otherwise, the database with that bound.
   */
  async membershipsAt(userId: string, upto: bigint): Promise<Membership[]> {
    if (this.#caches === undefined) return this.#memberships(userId, upto);
    const now = await this.#caches.getMemberships.getOrLoad([userId], () =>
      this.#memberships(userId, undefined),
    );
    return now.every((m) => m.stream_ordering <= upto) ? now : this.#memberships(userId, upto);
  }

  /** The user's latest membership of every room, as of `upto` (or now), from the database. */
  async #memberships(userId: string, upto: bigint | undefined): Promise<Membership[]> {
    const { rows } = await this.#query<{ room_id: string; membership: string; stream_ordering: string }>(
      `SELECT DISTINCT ON (room_id) room_id, content->>'membership' AS membership, stream_ordering
         FROM events
        WHERE type = $1 AND state_key = $2 AND ($3::bigint IS NULL OR stream_ordering <= $3)
        ORDER BY room_id, stream_ordering DESC`,
      [MEMBERSHIP_EVENT, userId, upto?.toString() ?? null],
    );
    return rows.map((r) => ({ ...r, stream_ordering: BigInt(r.stream_ordering) }));
  }

  /**
   * Events of each room in its window, in stream order, at most `limit` of them: from the room's cached
   * timeline where it covers the window (timeline-window.ts), the other rooms in one query.
   */
  async eventsInWindows(windows: readonly RoomWindow[], limit: number): Promise<EventJson[]> {
    const cached: EventJson[] = [];
    const uncovered: RoomWindow[] = [];
    await Promise.all(
      windows.map(async (window) => {
        const events = await this.#cachedWindow(window);
        if (events === undefined) uncovered.push(window);
        else cached.push(...events);
      }),
    );
    if (cached.length === 0) return this.#eventsInWindows(uncovered, limit);
    const events = [...cached, ...(await this.#eventsInWindows(uncovered, limit))];
    return events.sort(byStreamOrdering).slice(0, limit);
  }

  /**
   * A room's window from its cached timeline, if that covers it; loaded if need be, since one load serves
   * every client of the room until the room's next event.
   */
  async #cachedWindow(window: RoomWindow): Promise<EventJson[] | undefined> {
    if (this.#caches === undefined) return undefined;
    const timeline = await this.roomMessages(window.room_id, SYNC_TIMELINE);
    return timelineWindow(timeline, SYNC_TIMELINE, window);
  }

  async #eventsInWindows(windows: readonly RoomWindow[], limit: number): Promise<EventJson[]> {
    if (windows.length === 0) return [];
    const { rows } = await this.#query<EventRecord>(
      `SELECT ${EVENT_SELECT}
         FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS w(room_id, after, upto)
         JOIN events e ON e.room_id = w.room_id AND e.stream_ordering > w.after AND e.stream_ordering <= w.upto
        ORDER BY e.stream_ordering
        LIMIT $4`,
      [
        windows.map((w) => w.room_id),
        windows.map((w) => w.after.toString()),
        windows.map((w) => w.upto.toString()),
        limit,
      ],
    );
    return rows.map(toEventJson);
  }

  /** Each room's latest `perRoom` events at or below `upto`, oldest first per room. */
  async recentEvents(roomIds: readonly string[], upto: bigint, perRoom: number): Promise<EventJson[]> {
    if (roomIds.length === 0) return [];
    const { rows } = await this.#query<EventRecord>(
      `SELECT ${EVENT_SELECT}
         FROM unnest($1::text[]) AS r(room_id)
         CROSS JOIN LATERAL (
           SELECT * FROM events WHERE room_id = r.room_id AND stream_ordering <= $2
            ORDER BY stream_ordering DESC LIMIT $3) e
        ORDER BY e.stream_ordering`,
      [roomIds, upto.toString(), perRoom],
    );
    return rows.map(toEventJson);
  }

  /** Receipts in the rooms whose position is in (after, upto], by room. */
  async receipts(
    roomIds: readonly string[],
    after: bigint,
    upto: bigint,
  ): Promise<Map<string, ReceiptJson[]>> {
    const byRoom = new Map<string, ReceiptJson[]>();
    if (roomIds.length === 0) return byRoom;
    const { rows } = await this.#query<{
      room_id: string;
      user_id: string;
      event_id: string;
      receipt_type: string;
      ts: string;
    }>(
      `SELECT room_id, user_id, event_id, receipt_type, ts FROM receipts
        WHERE room_id = ANY($1) AND stream_id > $2 AND stream_id <= $3
        ORDER BY stream_id`,
      [roomIds, after.toString(), upto.toString()],
    );
    for (const { room_id, ts, ...receipt } of rows) {
      const list = byRoom.get(room_id) ?? [];
      list.push({ ...receipt, ts: Number(ts) });
      byRoom.set(room_id, list);
    }
    return byRoom;
  }

  async accountDataBetween(userId: string, after: bigint, upto: bigint) {
    const { rows } = await this.#query<{ type: string; content: JsonValue }>(
      `SELECT type, content FROM account_data
        WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id`,
      [userId, after.toString(), upto.toString()],
    );
    return rows;
  }

  async toDeviceBetween(userId: string, after: bigint, upto: bigint) {
    const { rows } = await this.#query<{
      stream_id: string;
      device_id: string;
      sender: string | null;
      type: string;
      content: JsonValue;
    }>(
      `SELECT stream_id, device_id, sender, type, content FROM device_inbox
        WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3 ORDER BY stream_id`,
      [userId, after.toString(), upto.toString()],
    );
    return rows.map(({ stream_id, sender, ...message }) => ({
      ...message,
      ...(sender === null ? {} : { sender }),
      stream_id,
    }));
  }

  /** A read through `cache` when this store has caches, else straight from `load`. */
  #cached<K extends string[], V>(
    cache: TupleCache<K, V> | undefined,
    key: NoInfer<K>,
    load: () => Promise<V>,
  ): Promise<V> {
    return cache === undefined ? load() : cache.getOrLoad(key, load);
  }

  #query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    this.#count.queries++;
    return this.#pool.query<R>(sql, params);
  }
}
