import type { Knex } from 'knex';

/**
 * Registered users and their access tokens: one row per user, made by `POST /register`. A token is stored only
 * as its SHA-256 (hex): the table, its WAL and the readers' caches never hold one a client could present.
 *
 * A stream: readers validate tokens through a cache the stream keeps fresh, so a logout (`revoked` set by the
 * writer) reaches each reader as a change at a position, and a reader that has applied that position rejects
 * the token. The row stays after a logout, so its user id stays taken: nobody can register as a logged-out
 * user and speak with their history. REPLICA IDENTITY FULL, as every stream table here.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE access_tokens (
    user_id text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    revoked boolean NOT NULL DEFAULT false,
    stream_id bigint NOT NULL
  )`);
  await knex.raw('ALTER TABLE access_tokens REPLICA IDENTITY FULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE access_tokens');
}
