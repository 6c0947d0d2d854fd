/** `slotstream start` and `slotstream reader` as a user runs them, against the test database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunningCli } from '../support/cli.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';

const url = await freshDatabase('cli_start');

test('start: migrates, runs reader_1 and reader_2 with status lines, and stops cleanly keeping the slots', {
  timeout: 120_000,
}, async () => {
  const start = new RunningCli(['start', '--database-url', url]);
  try {
    await waitFor(
      `both readers to report (stdout: ${start.stdout})`,
      async () =>
        /reader_1 {2}http:\/\/\S+ {2}position/.test(start.stdout) &&
        /reader_2 {2}http:\/\/\S+ {2}position/.test(start.stdout),
    );
    assert.match(start.stdout, /migrations {2}applied .*_events\.ts/);
    await query(
      url,
      `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
       VALUES (1, '$start', '!r:test', 'm.room.message', '@a:test', '{}', 1)`,
    );
    await waitFor(
      `an update to be reported (stdout: ${start.stdout})`,
      async () =>
        /reader_1 .* [1-9]\d* updates\/s/.test(start.stdout) &&
        /reader_2 .* [1-9]\d* updates\/s/.test(start.stdout),
    );
  } finally {
    assert.equal(await start.stop('SIGTERM'), 0, start.stderr);
  }
  const slots = await query<{ slot_name: string; active: boolean }>(
    url,
    "SELECT slot_name, active FROM pg_replication_slots WHERE slot_name LIKE 'reader_%' ORDER BY 1",
  );
  assert.deepEqual(slots, [
    { slot_name: 'reader_1', active: false },
    { slot_name: 'reader_2', active: false },
  ]);
});
