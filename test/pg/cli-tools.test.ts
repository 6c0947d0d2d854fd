// slotstream-test: version-sensitive
/**
 * The slot tools through the real command line: `slotstream tail`, `slots list|create|drop|peek` and
 * `doctor`, spawned as child processes against this file's database.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import { RunningCli, runCli } from '../support/cli.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { handPicked, insertEvents, slotState, waitFor } from '../support/replication.ts';

const url = await freshDatabase('cli_tools');
await migrateChat(url);
// The migrations make events REPLICA IDENTITY FULL; this file checks the default identity's key-only old
// rows on it (cli_full covers FULL).
await query(url, 'ALTER TABLE events REPLICA IDENTITY DEFAULT');
/** A database with no migrations, so no publication: doctor must fail there. */
const bareUrl = await freshDatabase('cli_tools_bare');

const db = ['--database-url', url];
const BIG_ID = '9007199254740993'; // 2^53 + 1: a JSON number would round it
const big = 'x'.repeat(10_000); // stored out of line (STORAGE EXTERNAL): an update that leaves it alone sends 'u'

const writer = new pg.Client(url);
// The database is dropped WITH (FORCE) after the file, possibly before this client ends: that is fine.
writer.on('error', () => {});
await writer.connect();
after(() => writer.end().catch(() => {}));

await writer.query(`
  CREATE TABLE cli_types (
    id bigint PRIMARY KEY, amount numeric, data bytea, at timestamptz, ts timestamp, n int, f float8,
    doc jsonb, tags text[], big text);
  ALTER TABLE cli_types ALTER COLUMN big SET STORAGE EXTERNAL;
  CREATE TABLE cli_full (id int PRIMARY KEY, note text);
  ALTER TABLE cli_full REPLICA IDENTITY FULL;
  INSERT INTO cli_full VALUES (1, 'before');
  ALTER PUBLICATION slotstream ADD TABLE cli_types, cli_full;
`);

/** The writes the slot has to deliver, one transaction per statement group; returns how many lines they make. */
async function writeChanges(): Promise<number> {
  await writer.query(
    `INSERT INTO cli_types VALUES ($1, '12345678901234567890.000000000001', '\\x00ff10', '2026-11-26 10:00:00.123+00',
       '2026-11-26 10:00:00.5', 7, 'NaN', '{"a":[1,2]}', '{a,"b c"}', $2)`,
    [BIG_ID, big],
  );
  await writer.query('UPDATE cli_types SET n = 8 WHERE id = $1', [BIG_ID]);
  await insertEvents(writer, 1, 2);
  await writer.query(
    `UPDATE events SET stream_ordering = 10 FROM ${handPicked('10', '10')} WHERE stream_ordering = 1`,
  );
  await writer.query('DELETE FROM events WHERE stream_ordering = 2');
  await writer.query(`DELETE FROM cli_full WHERE id = 1`);
  await writer.query('BEGIN');
  await writer.query(`SELECT pg_logical_emit_message(true, 'caches', '{"cache":"getEvent","keys":null}')`);
  await writer.query(`SELECT pg_logical_emit_message(true, 'bin', '\\xff00'::bytea)`);
  await writer.query('COMMIT');
  await writer.query('TRUNCATE events');
  return 10;
}

type Line = Record<string, unknown>;
const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Line);

function checkChanges(lines: Line[]): void {
  const ops = lines.map((l) => `${l.op} ${l.table}`);
  assert.deepEqual(ops, [
    'insert public.cli_types',
    'update public.cli_types',
    'insert public.events',
    'insert public.events',
    'update public.events',
    'delete public.events',
    'delete public.cli_full',
    'message null',
    'message null',
    'truncate public.events',
  ]);
  const [insert, update, , , keyUpdate, del, fullDelete, msg, bin, truncate] = lines;
  assert.deepEqual(insert?.row, {
    id: BIG_ID,
    amount: '12345678901234567890.000000000001',
    data: '\\x00ff10',
    at: '2026-11-26T10:00:00.123Z',
    ts: '2026-11-26T10:00:00.500Z',
    n: 7,
    f: 'NaN',
    doc: { a: [1, 2] },
    tags: ['a', 'b c'],
    big,
  });
  assert.equal(insert?.old, null);
  assert.deepEqual(update?.row, { ...(insert?.row as Line), n: 8, big: { $unchanged_toast: true } });
  assert.equal(update?.old, null, 'the key did not change: no old tuple');
  assert.equal((keyUpdate?.row as Line | undefined)?.stream_ordering, '10');
  assert.deepEqual(keyUpdate?.old, { stream_ordering: '1' });
  assert.equal(del?.row, null);
  assert.deepEqual(del?.old, { stream_ordering: '2' });
  assert.deepEqual(fullDelete?.old, { id: 1, note: 'before' }, 'REPLICA IDENTITY FULL: the whole old row');
  assert.equal(msg?.prefix, 'caches');
  assert.equal(msg?.content, '{"cache":"getEvent","keys":null}');
  assert.equal(bin?.prefix, 'bin');
  assert.equal(bin?.content, '\\xff00', 'not valid UTF-8: hex');
  assert.equal(msg?.commit_lsn, bin?.commit_lsn);
  assert.equal(truncate?.row, null);
  for (const line of lines) {
    assert.deepEqual(Object.keys(line).slice(0, 8), [
      'lsn',
      'commit_lsn',
      'xid',
      'commit_time',
      'table',
      'op',
      'row',
      'old',
    ]);
    assert.match(String(line.lsn), /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.ok(parseLsn(String(line.lsn)) <= parseLsn(String(line.commit_lsn)));
    assert.equal(typeof line.xid, 'number');
    assert.match(String(line.commit_time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  // Commit order: commit LSNs never go back.
  for (let i = 1; i < lines.length; i++)
    assert.ok(parseLsn(String(lines[i]?.commit_lsn)) >= parseLsn(String(lines[i - 1]?.commit_lsn)));
}

test('create, list, peek (twice, consuming nothing), tail, then a second tail starts after the acknowledged changes', async () => {
  const created = await runCli(['slots', 'create', 'cli_tail', ...db]);
  assert.equal(created.code, 0, created.stderr);
  const consistent =
    /^created slot cli_tail \(pgoutput(?:, failover)?\) at consistent point ([0-9A-F]+\/[0-9A-F]+)\n$/.exec(
      created.stdout,
    );
  assert.ok(consistent, created.stdout);
  assert.equal((await slotState(url, 'cli_tail'))?.confirmed_flush_lsn, consistent[1]);

  const listed = await runCli(['slots', ...db]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(
    listed.stdout,
    /^name +plugin +database +active_pid +confirmed_flush_lsn +lag_bytes +wal_status/,
  );
  assert.match(
    listed.stdout,
    new RegExp(`\\ncli_tail +pgoutput +t_cli_tools_\\w+ +- +${consistent[1]} +\\d+ +reserved`),
  );
  const json = await runCli(['slots', 'list', '--json', ...db]);
  const mine = (JSON.parse(json.stdout) as Line[]).find((s) => s.name === 'cli_tail');
  assert.equal(mine?.plugin, 'pgoutput');
  assert.equal(mine?.active_pid, null);
  assert.equal(mine?.confirmed_flush_lsn, consistent[1]);
  assert.equal(typeof mine?.lag_bytes, 'number');

  const count = await writeChanges();
  const before = (await slotState(url, 'cli_tail'))?.confirmed_flush_lsn;

  const peeked = await runCli(['slots', 'peek', 'cli_tail', ...db]);
  assert.equal(peeked.code, 0, peeked.stderr);
  const peekLines = peeked.stdout.trimEnd().split('\n');
  assert.equal(peekLines.length, count);
  checkChanges(parse(peekLines));
  assert.equal((await slotState(url, 'cli_tail'))?.confirmed_flush_lsn, before, 'peek consumed nothing');
  const again = await runCli(['slots', 'peek', 'cli_tail', ...db]);
  assert.equal(again.stdout, peeked.stdout, 'a second peek sees the same changes');
  const limited = await runCli(['slots', 'peek', 'cli_tail', '--limit', '1', ...db]);
  assert.equal(limited.code, 0, limited.stderr);
  assert.equal(limited.stdout, `${peekLines[0]}\n`, 'the first transaction only');

  // tail prints exactly what peek showed, then acknowledges it.
  const tail = new RunningCli(['tail', '--slot', 'cli_tail', ...db]);
  try {
    const tailLines = await tail.waitForLines(count);
    assert.deepEqual(tailLines, peekLines);
    const lastCommit = parseLsn(String(parse(tailLines).at(-1)?.commit_lsn));
    await waitFor('confirmed_flush_lsn to pass the last commit', async () => {
      const s = await slotState(url, 'cli_tail');
      return s?.confirmed_flush_lsn && parseLsn(s.confirmed_flush_lsn) > lastCommit;
    });
  } finally {
    assert.equal(await tail.stop('SIGTERM'), 0, tail.stderr);
  }
  assert.doesNotMatch(tail.stderr, /error/i);
  await waitFor('the slot to be released', async () => (await slotState(url, 'cli_tail'))?.active === false);

  // The next tail continues after what was acknowledged: the first line is the new insert.
  const second = new RunningCli(['tail', '--slot', 'cli_tail', ...db]);
  try {
    await second.waitForStderr(/streaming slot cli_tail/);
    await insertEvents(writer, 100, 1);
    const [first] = parse(await second.waitForLines(1));
    assert.equal(first?.op, 'insert');
    assert.equal((first?.row as Line | undefined)?.stream_ordering, '100');

    // While tail holds the slot, drop and peek refuse and name the process; so does a second tail.
    const pid = (await slotState(url, 'cli_tail'))?.active_pid;
    assert.ok(pid);
    const drop = await runCli(['slots', 'drop', 'cli_tail', ...db]);
    assert.equal(drop.code, 1);
    assert.match(
      drop.stderr,
      new RegExp(`cannot drop replication slot "cli_tail": it is in use by the process with PID ${pid}`),
    );
    const peek = await runCli(['slots', 'peek', 'cli_tail', ...db]);
    assert.equal(peek.code, 1);
    assert.match(peek.stderr, new RegExp(`in use by the process with PID ${pid}`));
    const rival = await runCli(['tail', '--slot', 'cli_tail', ...db]);
    assert.equal(rival.code, 1);
    assert.match(rival.stderr, new RegExp(`in use by the process with PID ${pid}`));
  } finally {
    assert.equal(await second.stop('SIGINT'), 0, second.stderr);
  }
  await waitFor('the slot to be released', async () => (await slotState(url, 'cli_tail'))?.active === false);
  assert.equal(
    (await runCli(['slots', 'peek', 'cli_tail', ...db])).stdout,
    '',
    'everything was acknowledged',
  );

  const dropped = await runCli(['slots', 'drop', 'cli_tail', ...db]);
  assert.equal(dropped.code, 0, dropped.stderr);
  assert.equal(dropped.stdout, 'dropped slot cli_tail\n');
  assert.equal(await slotState(url, 'cli_tail'), undefined);
  const gone = await runCli(['slots', 'drop', 'cli_tail', ...db]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /replication slot "cli_tail" does not exist/);
});

test('tail --temporary: the slot exists while tail runs, a lost one is reported as a reset, and it goes with tail', async () => {
  const tail = new RunningCli(['tail', '--slot', 'cli_temp', '--temporary', ...db]);
  try {
    await tail.waitForStderr(/streaming slot cli_temp/);
    const [row] = await query(url, 'SELECT temporary FROM pg_replication_slots WHERE slot_name = $1', [
      'cli_temp',
    ]);
    assert.equal(row?.temporary, true);
    await insertEvents(writer, 200, 3);
    const lines = parse(await tail.waitForLines(3));
    assert.deepEqual(
      lines.map((l) => (l.row as Line).stream_ordering),
      ['200', '201', '202'],
    );
    assert.equal(new Set(lines.map((l) => l.xid)).size, 1, 'one transaction');

    // The walsender ends, and the temporary slot with it: tail reconnects on a new slot and says so on
    // stderr, as a reset line, since the changes in between are gone.
    await query(
      url,
      'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1',
      ['cli_temp'],
    );
    await tail.waitForStderr(
      /^\{"op":"reset","reason":"temporary-slot","slot":"cli_temp","consistent_point":"[0-9A-F]+\/[0-9A-F]+"\}$/m,
    );
    await tail.waitForStderr(/streaming slot cli_temp[^\n]*\n(.|\n)*streaming slot cli_temp/);
    await insertEvents(writer, 203, 1);
    const after = parse(await tail.waitForLines(4));
    assert.equal((after[3]?.row as Line | undefined)?.stream_ordering, '203');
  } finally {
    assert.equal(await tail.stop('SIGINT'), 0, tail.stderr);
  }
  await waitFor('the temporary slot to go', async () => (await slotState(url, 'cli_temp')) === undefined);
});

test('tail --wait: a second tail waits for the slot and takes over when the first one stops', async () => {
  // Created first: two tails starting together on a missing slot would both try to create it.
  assert.equal((await runCli(['slots', 'create', 'cli_wait', ...db])).code, 0);
  const first = new RunningCli(['tail', '--slot', 'cli_wait', ...db]);
  await first.waitForStderr(/streaming slot cli_wait/);
  const second = new RunningCli(['tail', '--slot', 'cli_wait', '--wait', ...db]);
  try {
    const pid = (await slotState(url, 'cli_wait'))?.active_pid;
    await second.waitForStderr(new RegExp(`slot cli_wait is in use by PID ${pid}; waiting for it`));
    assert.equal(await first.stop('SIGTERM'), 0, first.stderr);
    await second.waitForStderr(/streaming slot cli_wait/);
    await insertEvents(writer, 400, 1);
    const [line] = parse(await second.waitForLines(1));
    assert.equal((line?.row as Line | undefined)?.stream_ordering, '400');
  } finally {
    await first.stop('SIGTERM');
    assert.equal(await second.stop('SIGTERM'), 0, second.stderr);
  }
  assert.equal((await runCli(['slots', 'drop', 'cli_wait', ...db])).code, 0);
});

test('doctor passes here, and fails where the publication is missing', async () => {
  const ok = await runCli(['doctor', ...db]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^ok {4}server: primary, PostgreSQL \d+$/m);
  assert.match(ok.stdout, /^ok {4}wal_level: logical$/m);
  assert.match(ok.stdout, /^ok {4}role: \w+ may use replication$/m);
  assert.match(
    ok.stdout,
    /^ok {4}publication slotstream: covers public\.access_tokens, public\.account_data, public\.cli_full, public\.cli_types, public\.device_inbox, public\.events, public\.receipts$/m,
  );
  assert.match(ok.stdout, /^(ok|warn) {2,4}max_slot_wal_keep_size: /m);
  assert.match(ok.stdout, /^\d+ ok, \d+ warn, 0 fail$/m);
  for (const line of ok.stdout.trimEnd().split('\n').slice(0, -1)) assert.match(line, /^(ok {4}|warn {2})\S/);

  const bare = await runCli(['doctor', '--database-url', bareUrl]);
  assert.equal(bare.code, 1);
  assert.match(
    bare.stdout,
    /^fail {2}publication slotstream: missing in this database: readers cannot start — fix: slotstream migrate/m,
  );
  assert.match(bare.stdout, /^\d+ ok, \d+ warn, 1 fail$/m);
});

test('doctor reports an inactive slot behind its threshold as stale, with the command to drop it', async () => {
  assert.equal((await runCli(['slots', 'create', 'cli_stale', ...db])).code, 0);
  try {
    await insertEvents(writer, 300, 1);
    const r = await runCli(['doctor', '--stale-lag', '0', ...db]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(
      r.stdout,
      /^warn {2}slot cli_stale: inactive and \d+ bytes behind.* — fix: slotstream slots drop cli_stale /m,
    );
  } finally {
    await runCli(['slots', 'drop', 'cli_stale', ...db]);
  }
});

test('bad slot names are refused before any connection is made', async () => {
  // Nothing listens on port 1: a command that tried to connect would say so instead.
  const nowhere = ['--database-url', 'postgres://nobody@127.0.0.1:1/none'];
  const control = await runCli(['slots', 'drop', 'fine_name', ...nowhere]);
  assert.equal(control.code, 1);
  assert.match(control.stderr, /cannot connect/);
  for (const args of [
    ['slots', 'create', 'Bad-Name'],
    ['slots', 'drop', 'x; DROP TABLE events'],
    ['slots', 'peek', 'UPPER'],
    ['tail', '--slot', 'a'.repeat(64)],
  ]) {
    const r = await runCli([...args, ...nowhere]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^error: invalid slot name ".*": use 1 to 63 characters of lower-case letters/);
    assert.doesNotMatch(r.stderr, /connect/);
  }
  const missing = await runCli(['tail', ...nowhere]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^error: --slot NAME is required\n\nusage: slotstream tail/);
  const [count] = await query<{ n: string }>(
    url,
    "SELECT count(*) AS n FROM pg_replication_slots WHERE slot_name ~ '^(fine_name|a+)$'",
  );
  assert.equal(count?.n, '0');
});
