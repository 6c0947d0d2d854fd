/** `slotstream start` and `slotstream reader` as a user runs them, against the test database. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { call, enc, ok } from '../support/app-processes.ts';
import { RunningCli } from '../support/cli.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';

const url = await freshDatabase('cli_start');
/** Where `start` runs its writer. */
const WRITER = 'http://127.0.0.1:8008';

test('start: migrates, runs reader_1 and reader_2 with status lines, and stops cleanly keeping the slots', {
  timeout: 120_000,
}, async () => {
  const start = new RunningCli(['start', '--database-url', url]);
  try {
    await bothReadersReport(start);
    assert.match(start.stdout, /migrations {2}applied .*_events\.ts/);
    // A row written by hand takes its position from slotstream_allocate, as the writer's do.
    await query(
      url,
      `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
       VALUES (slotstream_allocate(1), '$start', '!r:test', 'm.room.message', '@a:test', '{}', 1)`,
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

/** Until both readers' status lines show a position. */
function bothReadersReport(start: RunningCli): Promise<boolean> {
  return waitFor(
    `both readers to report (stdout: ${start.stdout})`,
    async () =>
      /reader_1 {2}http:\/\/\S+ {2}position/.test(start.stdout) &&
      /reader_2 {2}http:\/\/\S+ {2}position/.test(start.stdout),
  );
}

/** The `slotstream` processes `start` runs (by the role on their command line), from /proc. */
function children(parent: number): Map<string, number> {
  const found = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const role = args.includes('writer') ? 'writer' : args[args.indexOf('--slot') + 1];
      if (role) found.set(role, Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

test('start: a writer or a reader that dies is restarted, shown in the status lines, and the rest keeps running', {
  timeout: 120_000,
}, async () => {
  const start = new RunningCli(['start', '--database-url', url]);
  const pid = start.child.pid as number;
  try {
    await bothReadersReport(start);
    const before = children(pid);
    assert.deepEqual([...before.keys()].sort(), ['reader_1', 'reader_2', 'writer']);
    // Registration is open: a user, whose token outlives the writer's restart (it is in the database).
    const registered = await waitFor('the writer to register a user', async () => {
      const answer = await call(WRITER, 'POST', '/register', { user_id: '@a:test' }).catch(() => undefined);
      return answer?.status === 200 && answer.body;
    });
    const token = registered.access_token as string;

    process.kill(before.get('writer') as number, 'SIGKILL');
    const afterWriter = await waitFor(`the writer to be restarted (stdout: ${start.stdout})`, async () => {
      const now = children(pid);
      const writer = now.get('writer');
      return (
        /writer {2}exited with SIGKILL: restarting in/.test(start.stdout) &&
        writer !== undefined &&
        writer !== before.get('writer') &&
        now
      );
    });
    assert.equal(afterWriter.get('reader_1'), before.get('reader_1'), 'reader_1 kept running');
    assert.equal(afterWriter.get('reader_2'), before.get('reader_2'), 'reader_2 kept running');
    const room = `/rooms/${enc('!restart:test')}`;
    await waitFor('the restarted writer to take a write', async () => {
      const answer = await call(WRITER, 'POST', `${room}/join`, {}, token).catch(() => undefined);
      return answer?.status === 200;
    });
    await ok(WRITER, 'POST', `${room}/send`, { type: 'm.room.message', content: { body: 'after' } }, token);

    process.kill(before.get('reader_1') as number, 'SIGKILL');
    const afterReader = await waitFor(`reader_1 to be restarted (stdout: ${start.stdout})`, async () => {
      const now = children(pid);
      const reader = now.get('reader_1');
      return reader !== undefined && reader !== before.get('reader_1') && now;
    });
    assert.equal(afterReader.get('writer'), afterWriter.get('writer'), 'the writer kept running');
    assert.equal(afterReader.get('reader_2'), before.get('reader_2'), 'reader_2 kept running');
    assert.match(start.stdout, /reader_1 {2}exited with SIGKILL: restarting in/);
  } finally {
    assert.equal(await start.stop('SIGTERM'), 0, start.stderr);
  }
  assert.match(start.stderr, /writer was restarted 1 time/);
  assert.match(start.stderr, /reader_1 was restarted 1 time/);
});
