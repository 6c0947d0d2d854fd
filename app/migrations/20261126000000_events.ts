import type { Knex } from 'knex';

/**
 * Synapse's events table, trimmed: stream_ordering is the events stream's position, allocated by the
 * writer (not a sequence default), so it is a plain bigint key.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('events', (t) => {
    t.bigInteger('stream_ordering').notNullable().primary();
    t.text('event_id').notNullable().unique();
    t.text('room_id').notNullable();
    t.text('type').notNullable();
    t.text('state_key').nullable();
    t.text('sender').notNullable();
    t.jsonb('content').notNullable();
    t.bigInteger('origin_server_ts').notNullable();
    // A room's timeline, newest first: /messages and /sync read it this way.
    t.index(['room_id', 'stream_ordering'], 'events_room_id_stream_ordering');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('events');
}
