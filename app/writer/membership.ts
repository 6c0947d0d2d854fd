import type { Knex } from 'knex';
import { forbidden } from '../auth/errors.ts';
import { MEMBERSHIP_EVENT } from '../streams.ts';

/**
 * 403 M_FORBIDDEN unless the user's latest membership event in the room is a join. The writer asks its own
 * database (`knex`: the pool's, just before a write; or a writer transaction's, where the write reads in it
 * anyway). One indexed read (events_membership).
 */
export async function requireMember(knex: Knex, roomId: string, userId: string): Promise<void> {
  const latest = await knex('events')
    .where({ type: MEMBERSHIP_EVENT, state_key: userId, room_id: roomId })
    .orderBy('stream_ordering', 'desc')
    .first<{ membership: string | null } | undefined>(knex.raw("content->>'membership' AS membership"));
  if (latest?.membership !== 'join') throw forbidden(`${userId} is not a member of ${roomId}`);
}
