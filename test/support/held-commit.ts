/**
 * Commits that are decoded before any snapshot sees them, held that way for as long as a test needs: the
 * server's synchronous_standby_names names a standby that never comes, so a synchronous COMMIT is flushed
 * (and so decoded) and then waits, in progress and invisible, until its wait is canceled.
 */
import pg from 'pg';
import { query } from './pg.ts';
import { waitFor } from './replication.ts';
import { event } from './runtime.ts';

/** From now on every synchronous COMMIT on the server of `url` waits for a standby that never comes. */
export async function holdCommits(url: string): Promise<void> {
  await query(url, "ALTER SYSTEM SET synchronous_standby_names = 'never_comes'");
  await query(url, 'SELECT pg_reload_conf()');
  await waitFor('the setting to apply', async () => {
    const [row] = await query<{ s: string }>(url, "SELECT current_setting('synchronous_standby_names') AS s");
    return row?.s === 'never_comes';
  });
}

/**
 * One event written as the writer writes it (positions allocated, the row, the position message), then a
 * synchronous COMMIT: flushed, so decoded, and left waiting for the standby, in progress. Resolves with the
 * position once the commit waits; `release()` cancels the wait, and the transaction becomes visible.
 */
export async function heldCommit(url: string, room: string) {
  const client = new pg.Client(url);
  await client.connect();
  client.on('notice', () => {}); // the warning that the wait was canceled and the commit stands
  client.on('error', () => {}); // a server stopped meanwhile ends the connection: the COMMIT's result says so
  await client.query('BEGIN');
  const { rows } = await client.query<{ p: string }>('SELECT slotstream_allocate(1) AS p');
  const position = BigInt(rows[0]?.p ?? Number.NaN);
  const e = event(room, 1);
  await client.query(
    `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      position.toString(),
      e.event_id,
      e.room_id,
      e.type,
      e.sender,
      JSON.stringify(e.content),
      e.origin_server_ts,
    ],
  );
  await client.query("SELECT pg_logical_emit_message(true, 'slotstream.position', $1::text)", [
    position.toString(),
  ]);
  const pid = (client as unknown as { processID: number }).processID;
  const committed = client.query('COMMIT').finally(() => client.end());
  committed.catch(() => {}); // a server stopped meanwhile ends the wait with an error: the commit stands
  await waitFor('the COMMIT to wait for the standby', async () => {
    const [row] = await query<{ w: string | null }>(
      url,
      'SELECT wait_event AS w FROM pg_stat_activity WHERE pid = $1',
      [pid],
    );
    return row?.w === 'SyncRep';
  });
  const release = async () => {
    await query(url, 'SELECT pg_cancel_backend($1)', [pid]);
    await committed;
  };
  return { position, eventId: e.event_id, release };
}
