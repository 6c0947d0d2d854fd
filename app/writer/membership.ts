import type { Knex } from 'knex';
import { forbidden } from '../auth/errors.ts';
import { MEMBERSHIP_EVENT } from '../streams.ts';
import { BatchedLookup } from './batched-lookup.ts';

const notMember = (roomId: string, userId: string) => forbidden(`${userId} is not a member of ${roomId}`);

/**
 * 403 M_FORBIDDEN unless the user's latest membership event in the room is a join, asked in a writer
 * transaction (`knex` is the transaction's: the check and the write it guards commit together). One indexed
 * read (events_membership).
 */
export async function requireMember(knex: Knex, roomId: string, userId: string): Promise<void> {
  const latest = await knex('events')
    .where({ type: MEMBERSHIP_EVENT, state_key: userId, room_id: roomId })
    .orderBy('stream_ordering', 'desc')
    .first<{ membership: string | null } | undefined>(knex.raw("content->>'membership' AS membership"));
  if (latest?.membership !== 'join') throw notMember(roomId, userId);
}

interface Member {
  roomId: string;
  userId: string;
}

/**
 * The same check just before a write, outside its transaction: concurrent checks go to the database as one
 * query (BatchedLookup), one index probe per (room, user).
 */
export class MembershipCheck {
  readonly #lookup: BatchedLookup<Member, string | null>;

  constructor(knex: Knex) {
    this.#lookup = new BatchedLookup(
      async (members) => {
        const { rows } = await knex.raw<{ rows: { i: string; membership: string | null }[] }>(
          `SELECT q.i, (
             SELECT e.content->>'membership' FROM events e
             WHERE e.type = ? AND e.state_key = q.user_id AND e.room_id = q.room_id
             ORDER BY e.stream_ordering DESC LIMIT 1
           ) AS membership
           FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS q(room_id, user_id, i)`,
          [MEMBERSHIP_EVENT, members.map((m) => m.roomId), members.map((m) => m.userId)],
        );
        const byMember = new Map<Member, string | null>();
        for (const row of rows) byMember.set(members[Number(row.i) - 1] as Member, row.membership);
        return (member) => byMember.get(member) ?? null;
      },
      // Ids reach here validated, printable ASCII (http/validate.ts): NUL separates them unambiguously, and
      // no request's id can make the batch's query fail for the others.
      (m) => `${m.roomId}\0${m.userId}`,
    );
  }

  async require(roomId: string, userId: string): Promise<void> {
    if ((await this.#lookup.get({ roomId, userId })) !== 'join') throw notMember(roomId, userId);
  }
}
