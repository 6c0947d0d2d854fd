import type { Knex } from 'knex';

/**
 * The events sent with a client's transaction id (`PUT /rooms/:roomId/send/:eventType/:txnId`), so that a
 * retry after a lost answer or a 503 returns the first event instead of writing a second. Not a stream: only
 * the writer reads it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE event_txns (
    sender text NOT NULL,
    txn_id text NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (sender, txn_id)
  )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE event_txns');
}
