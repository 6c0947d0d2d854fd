import type { TypingRow } from '../streams.ts';

interface RoomTyping {
  /** User → when their typing notification expires (epoch ms, the writer's clock plus timeout). */
  users: Map<string, number>;
  /** Ephemeral position (LSN) of the room's last typing change. */
  changedAt: bigint;
}

/**
 * Who is typing where, from the typing stream. The writer ends typing itself when a timeout passes (and
 * every reader hears it), so this only applies what it is told; the expiry kept here is a safety net for a
 * writer that died before it could say so: an expired entry is never reported.
 */
export class TypingState {
  readonly #rooms = new Map<string, RoomTyping>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  apply(row: TypingRow, position: bigint): void {
    let room = this.#rooms.get(row.room_id);
    if (room === undefined) {
      if (!row.typing) return;
      room = { users: new Map(), changedAt: position };
      this.#rooms.set(row.room_id, room);
    }
    if (row.typing) room.users.set(row.user_id, row.ts + row.timeout_ms);
    else room.users.delete(row.user_id);
    if (position > room.changedAt) room.changedAt = position;
    this.#prune(row.room_id, room);
  }

  /** The users typing in the room now, sorted. */
  typing(roomId: string): string[] {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return [];
    this.#prune(roomId, room);
    return [...room.users.keys()].sort();
  }

  /** Whether the room's typing changed in (after, upto] of the ephemeral position. */
  changedBetween(roomId: string, after: bigint, upto: bigint): boolean {
    const room = this.#rooms.get(roomId);
    return room !== undefined && room.changedAt > after && room.changedAt <= upto;
  }

  /** A reset: what was heard before it can no longer be trusted. */
  clear(): void {
    this.#rooms.clear();
  }

  #prune(roomId: string, room: RoomTyping): void {
    const now = this.#now();
    for (const [user, expires] of room.users) if (expires <= now) room.users.delete(user);
    // A room where nobody types is kept so that `changedBetween` still reports the stop to clients that
    // have not synced since; past a bound, such rooms are forgotten to keep memory in check.
    if (room.users.size === 0 && this.#rooms.size > 100_000) this.#rooms.delete(roomId);
  }
}
