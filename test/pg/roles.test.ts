/**
 * Least privilege: scripts/sql/roles.sql makes a reader role and a writer role with only what each needs; a
 * reader and a writer run as login roles in them, end to end; `doctor` checks a role and names the GRANTs it
 * lacks; the reference writer refuses to start as a role that cannot write, instead of failing each request.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createLogger } from '../../app/http/index.ts';
import { CHAT_STREAMS, eventsStream } from '../../app/streams.ts';
import { startWriterApp } from '../../app/writer/app.ts';
import { missingPrivileges, PrivilegeError } from '../../src/streams/privileges.ts';
import { dropRoleLast } from '../support/cleanup.ts';
import { runCli } from '../support/cli.ts';
import { adminUrl, freshRole, query } from '../support/pg.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';

const PSQL = '/usr/bin/psql';
const root = path.resolve(import.meta.dirname, '..', '..');
const url = await migratedDatabase('roles');

// The group roles roles.sql makes belong to the whole server: dropped after the file only if it made them
// (a server given by DATABASE_URL may have its own, with members and grants elsewhere).
const GROUPS = ['slotstream_reader', 'slotstream_writer'];
const existing = await query<{ rolname: string }>(
  url,
  'SELECT rolname FROM pg_roles WHERE rolname = ANY($1)',
  [GROUPS],
);
await promisify(execFile)(PSQL, [
  url,
  '-X',
  '-q',
  '-v',
  'ON_ERROR_STOP=1',
  '-f',
  path.join(root, 'scripts', 'sql', 'roles.sql'),
]);
for (const group of GROUPS)
  if (!existing.some((r) => r.rolname === group))
    dropRoleLast(() => query(adminUrl(), `DROP ROLE IF EXISTS ${group}`));
/** Login roles of this file, new each run (test/support/pg.ts freshRole). */
const readerRole = await freshRole('roles_reader', 'REPLICATION IN ROLE slotstream_reader');
const writerRole = await freshRole('roles_writer', 'IN ROLE slotstream_writer');
const nobodyRole = await freshRole('roles_nobody');
const READER = readerRole.name;
const WRITER = writerRole.name;
const NOBODY = nobodyRole.name;

test('roles.sql: a reader role and a writer role lack nothing for their part, and nothing more is granted', async () => {
  const run = (sql: string) => query(url, sql).then((rows) => ({ rows }));
  assert.deepEqual(await missingPrivileges(run, 'reader', CHAT_STREAMS, { role: READER }), []);
  assert.deepEqual(await missingPrivileges(run, 'writer', CHAT_STREAMS, { role: WRITER }), []);
  const readerAsWriter = await missingPrivileges(run, 'writer', CHAT_STREAMS, { role: READER });
  assert.ok(
    readerAsWriter.some((m) => m.grant.startsWith('GRANT EXECUTE ON FUNCTION slotstream_allocate')),
    'a reader cannot allocate positions',
  );
  const writerAsReader = await missingPrivileges(run, 'reader', CHAT_STREAMS, { role: WRITER });
  assert.deepEqual(
    writerAsReader.map((m) => m.grant),
    [`ALTER ROLE "${WRITER}" REPLICATION`],
  );
});

test('a writer and a reader run as those roles, end to end', async () => {
  const writer = writerFor(writerRole.url(url), { poolSize: 2 });
  const { reader } = await startReader(readerRole.url(url), 'roles_reader', { record: false });
  try {
    const { position } = await writer.transaction((tx) =>
      tx.insert(eventsStream, event('!roles:test', 1, { event_id: '$as-the-writer-role' })),
    );
    await reader.waitForPosition(position, 20_000);
    const [slot] = await query<{ active: boolean }>(
      url,
      "SELECT active FROM pg_replication_slots WHERE slot_name = 'roles_reader'",
    );
    assert.equal(slot?.active, true);
  } finally {
    await reader.close();
  }
});

test('doctor checks given roles: ok for the right ones, fail naming the GRANTs for one that lacks them', async () => {
  const ok = await runCli([
    'doctor',
    '--database-url',
    url,
    '--reader-role',
    READER,
    '--writer-role',
    WRITER,
  ]);
  assert.match(ok.stdout, new RegExp(`^ok +reader role ${READER}`, 'm'));
  assert.match(ok.stdout, new RegExp(`^ok +writer role ${WRITER}`, 'm'));
  const bad = await runCli(['doctor', '--database-url', url, '--writer-role', NOBODY]);
  assert.equal(bad.code, 1, bad.stdout);
  assert.match(
    bad.stdout,
    new RegExp(`^fail +writer role ${NOBODY}: .*no SELECT, INSERT, UPDATE, DELETE on "public"."events"`, 'm'),
  );
  assert.match(bad.stdout, /GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."events" TO/);
});

test('the reference writer refuses to start as a role that cannot write the streams, naming the GRANTs', async () => {
  const started = startWriterApp({ connectionString: nobodyRole.url(url), port: 0 });
  await assert.rejects(started, (error: Error) => {
    assert.match(error.message, /the writer's database role cannot write the streams/);
    assert.match(error.message, /GRANT EXECUTE ON FUNCTION slotstream_allocate\(bigint\) TO/);
    return true;
  });
});

test("the writer's /health fails, naming the GRANT, while its role cannot write the streams", async () => {
  // The reference writer's own table (idempotent sends) is the application's to grant, as the README says.
  await assert.rejects(startWriterApp({ connectionString: writerRole.url(url), port: 0 }), (error: Error) => {
    assert.match(
      error.message,
      /: no SELECT, INSERT on event_txns\. .*GRANT SELECT, INSERT ON event_txns TO/,
    );
    return true;
  });
  await query(url, 'GRANT SELECT, INSERT ON event_txns TO slotstream_writer');
  const app = await startWriterApp({
    connectionString: writerRole.url(url),
    port: 0,
    logger: createLogger('writer', { level: 'silent' }),
  });
  try {
    const health = async () => {
      const res = await fetch(`${app.url}/health`);
      return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
    };
    assert.equal((await health()).status, 200);
    await query(url, 'REVOKE INSERT ON events FROM slotstream_writer');
    const failing = await health();
    assert.equal(failing.status, 503);
    assert.equal(failing.body.status, 'failing');
    assert.match(
      failing.body.reason ?? '',
      /no INSERT on "public"."events" \(GRANT INSERT ON "public"."events" TO/,
    );
    await query(url, 'GRANT INSERT ON events TO slotstream_writer');
    assert.equal((await health()).status, 200);
  } finally {
    await app.close();
  }
});

test('a reader whose role cannot read stream_head is refused before it creates its slot, naming the GRANT', async () => {
  const partial = await freshRole('roles_partial', 'REPLICATION');
  const role = partial.name;
  await query(
    url,
    `GRANT SELECT ON events, receipts, account_data, device_inbox, access_tokens TO "${role}"`,
  );
  await assert.rejects(startReader(partial.url(url), 'roles_partial', { record: false }), (error: Error) => {
    assert.ok(error instanceof PrivilegeError, String(error));
    assert.deepEqual(
      error.missing.map((m) => m.grant),
      [`GRANT SELECT ON stream_head TO "${role}"`],
    );
    return true;
  });
  const slots = await query(url, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'roles_partial'");
  assert.equal(slots.length, 0, 'no slot left behind');
});
