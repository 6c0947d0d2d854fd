import type { Knex } from 'knex';

/**
 * The reference application's other stream tables (Synapse's receipts, account data and device inbox,
 * trimmed), and an index to find a user's memberships among the events.
 *
 * Every stream table carries the position the writer allocated when it last wrote the row (`stream_id`;
 * `events.stream_ordering`). Every stream table is REPLICA IDENTITY FULL: updates and deletes then carry the
 * whole old row, so a reader can find every cache key and waiter a deleted row concerned (a delete of an
 * event must reach getEvent(event_id), and the default identity would send only the primary key). It costs
 * WAL only on UPDATE and DELETE, which these tables rarely see.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE receipts (
    room_id text NOT NULL,
    user_id text NOT NULL,
    receipt_type text NOT NULL,
    event_id text NOT NULL,
    stream_id bigint NOT NULL,
    ts bigint NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type)
  )`);
  await knex.raw('CREATE INDEX receipts_room_id_stream_id ON receipts (room_id, stream_id)');
  await knex.raw('ALTER TABLE receipts REPLICA IDENTITY FULL');

  await knex.raw(`CREATE TABLE account_data (
    user_id text NOT NULL,
    type text NOT NULL,
    content jsonb NOT NULL,
    stream_id bigint NOT NULL,
    PRIMARY KEY (user_id, type)
  )`);
  await knex.raw('CREATE INDEX account_data_user_id_stream_id ON account_data (user_id, stream_id)');
  await knex.raw('ALTER TABLE account_data REPLICA IDENTITY FULL');

  // A per-user inbox: a message stays until the user's client has synced past it (the writer deletes it).
  await knex.raw(`CREATE TABLE device_inbox (
    stream_id bigint PRIMARY KEY,
    user_id text NOT NULL,
    device_id text NOT NULL,
    sender text,
    type text NOT NULL,
    content jsonb NOT NULL
  )`);
  await knex.raw('CREATE INDEX device_inbox_user_id_stream_id ON device_inbox (user_id, stream_id)');
  await knex.raw('ALTER TABLE device_inbox REPLICA IDENTITY FULL');
  await knex.raw('ALTER TABLE events REPLICA IDENTITY FULL');

  // Membership is read from the m.room.member events themselves (the member's latest one per room, up to
  // a position): one source of truth, and /sync can ask "as of next_batch" rather than "now".
  await knex.raw(
    `CREATE INDEX events_membership ON events (state_key, room_id, stream_ordering) WHERE type = 'm.room.member'`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS events_membership');
  for (const table of ['device_inbox', 'account_data', 'receipts']) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.raw('ALTER TABLE events REPLICA IDENTITY DEFAULT');
}
