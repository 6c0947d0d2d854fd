import type { Knex } from 'knex';
import { forbidden } from '../auth/errors.ts';
import { MEMBERSHIP_EVENT } from '../streams.ts';

/**
 * 403 M_FORBIDDEN unless the user's latest membership event in the room is a join. The writer asks its own
 * database, inside the write's transaction where there is one, so a send and a leave committed in the same
 * batch before it are seen (`knex`: the writer transaction's, or the pool's). One indexed read
 * (events_membership).
 */
export async function requireMember(knex: Knex, roomId: string, userId: string): Promise<void> {
  const latest = await knex('events')
    .where({ type: MEMBERSHIP_EVENT, state_key: userId, room_id: roomId })
    .orderBy('stream_ordering', 'desc')
    .first<{ membership: string | null } | undefined>(knex.raw("content->>'membership' AS membership"));
  if (latest?.membership !== 'join') throw forbidden(`${userId} is not a member of ${roomId}`);
}
