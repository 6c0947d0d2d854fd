import type { Knex } from 'knex';
import { forbidden } from '../auth/errors.ts';
import { MEMBERSHIP_EVENT } from '../streams.ts';
import { BatchedLookup } from './batched-lookup.ts';

interface Member {
  roomId: string;
  userId: string;
}

/**
 * Each (room, user)'s latest membership (its latest m.room.member event's `membership`), in the order asked,
 * null where there is none: one query, one index probe (events_membership) per pair.
 */
async function latestMemberships(knex: Knex, members: readonly Member[]): Promise<(string | null)[]> {
  const { rows } = await knex.raw<{ rows: { membership: string | null }[] }>(
    `SELECT (
       SELECT e.content->>'membership' FROM events e
       WHERE e.type = ? AND e.state_key = q.user_id AND e.room_id = q.room_id
       ORDER BY e.stream_ordering DESC LIMIT 1
     ) AS membership
     FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS q(room_id, user_id, i)
     ORDER BY q.i`,
    [MEMBERSHIP_EVENT, members.map((m) => m.roomId), members.map((m) => m.userId)],
  );
  return rows.map((row) => row.membership);
}

function requireJoined(membership: string | null | undefined, { roomId, userId }: Member): void {
  if (membership !== 'join') throw forbidden(`${userId} is not a member of ${roomId}`);
}

/**
 * 403 M_FORBIDDEN unless the user's latest membership event in the room is a join, asked in a writer
 * transaction (`knex` is the transaction's: the check and the write it guards commit together).
 */
export async function requireMember(knex: Knex, roomId: string, userId: string): Promise<void> {
  const member = { roomId, userId };
  const [membership] = await latestMemberships(knex, [member]);
  requireJoined(membership, member);
}

/**
 * The same check just before a write, outside its transaction: concurrent checks go to the database as one
 * query (BatchedLookup).
 */
export class MembershipCheck {
  readonly #lookup: BatchedLookup<Member, string | null>;

  constructor(knex: Knex) {
    this.#lookup = new BatchedLookup(
      async (members) => {
        const found = await latestMemberships(knex, members);
        const byMember = new Map(members.map((member, i) => [member, found[i] ?? null]));
        return (member) => byMember.get(member) ?? null;
      },
      // Ids reach here validated, printable ASCII (http/validate.ts): NUL separates them unambiguously, and
      // no request's id can make the batch's query fail for the others.
      (m) => `${m.roomId}\0${m.userId}`,
    );
  }

  async require(roomId: string, userId: string): Promise<void> {
    const member = { roomId, userId };
    requireJoined(await this.#lookup.get(member), member);
  }
}
