import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { CHAT_SCHEMA } from '../../app/schema.ts';
import { migrateLatest, migrationStatus, rollback } from '../../src/migrations/migrator.ts';
import { freshDatabase, query, withDatabase } from '../support/pg.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const OWN = ['0001_stream_head', '0002_stream_cursors', '0003_position_guard', '0004_change_counts'];
const MIGRATIONS = [
  '20261126000000_events.ts',
  '20261126000300_chat_streams.ts',
  '20261130000000_event_txns.ts',
  '20261201000000_access_tokens.ts',
];
const STREAM_TABLES = [
  'public.access_tokens',
  'public.account_data',
  'public.device_inbox',
  'public.events',
  'public.receipts',
];
/** The order the chat streams declare their tables, which is the order migrate reports them in. */
const DECLARED = [
  'public.events',
  'public.receipts',
  'public.account_data',
  'public.device_inbox',
  'public.access_tokens',
];
const byDeclaration = (a: string, b: string) => DECLARED.indexOf(a) - DECLARED.indexOf(b);

/** `slotstream ARGS` as a user runs it: the bin, in its own process. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['bin/slotstream.js', ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: '', SLOTSTREAM_DEBUG: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c;
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

const columns = (url: string) =>
  query(
    url,
    `SELECT column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = 'events' ORDER BY ordinal_position`,
  );
const published = async (url: string) =>
  (
    await query<{ t: string }>(
      url,
      "SELECT schemaname || '.' || tablename AS t FROM pg_publication_tables WHERE pubname = 'slotstream' ORDER BY 1",
    )
  ).map((r) => r.t);
const tableExists = async (url: string, name: string) =>
  (await query(url, 'SELECT to_regclass($1) AS t', [name]))[0]?.t !== null;

const url = await freshDatabase('migrate');

test('status on a fresh database: everything pending, no publication, and nothing created', async () => {
  const status = await migrationStatus(url, CHAT_SCHEMA);
  assert.deepEqual(
    status.slotstream.map((m) => [m.name, m.ran]),
    OWN.map((m) => [m, false]),
  );
  assert.deepEqual(
    status.service?.map((m) => [m.name, m.ran]),
    MIGRATIONS.map((m) => [m, false]),
  );
  assert.equal(status.pending, OWN.length + MIGRATIONS.length);
  assert.deepEqual(status.publication, {
    name: 'slotstream',
    exists: false,
    allTables: false,
    tables: [],
    publish: [],
  });
  assert.deepEqual(status.unpublished, [
    'public.events',
    'public.receipts',
    'public.account_data',
    'public.device_inbox',
    'public.access_tokens',
  ]);
  for (const ledger of ['knex_migrations', 'slotstream_migrations'])
    assert.equal(await tableExists(url, ledger), false, ledger);
});

test("without a service schema: slotstream's own table alone, in its own ledger, naming no app table", async () => {
  const own = await freshDatabase('migrate_own');
  assert.deepEqual(await migrateLatest(own), { slotstream: OWN, service: null, publication: null });
  const [head] = await query(own, 'SELECT id, position FROM stream_head');
  assert.deepEqual(head, { id: true, position: '0' });
  assert.equal(await tableExists(own, 'knex_migrations'), false);
  assert.equal(await tableExists(own, 'events'), false);
  const status = await migrationStatus(own);
  assert.equal(status.service, null);
  assert.equal(status.pending, 0);
});

test('latest creates events with its columns, keys and index, and the publication covering the streams', async () => {
  const result = await migrateLatest(url, CHAT_SCHEMA);
  assert.deepEqual(result, {
    slotstream: OWN,
    service: { batch: 1, migrations: MIGRATIONS },
    publication: {
      name: 'slotstream',
      created: true,
      added: [...STREAM_TABLES].sort(byDeclaration),
      restored: [],
      whole: [],
    },
  });
  assert.deepEqual(await columns(url), [
    { column_name: 'stream_ordering', data_type: 'bigint', is_nullable: 'NO' },
    { column_name: 'event_id', data_type: 'text', is_nullable: 'NO' },
    { column_name: 'room_id', data_type: 'text', is_nullable: 'NO' },
    { column_name: 'type', data_type: 'text', is_nullable: 'NO' },
    { column_name: 'state_key', data_type: 'text', is_nullable: 'YES' },
    { column_name: 'sender', data_type: 'text', is_nullable: 'NO' },
    { column_name: 'content', data_type: 'jsonb', is_nullable: 'NO' },
    { column_name: 'origin_server_ts', data_type: 'bigint', is_nullable: 'NO' },
  ]);
  const constraints = await query(
    url,
    `SELECT tc.constraint_type AS kind, string_agg(k.column_name, ',' ORDER BY k.ordinal_position) AS cols
       FROM information_schema.table_constraints tc
       JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
      WHERE tc.table_name = 'events' GROUP BY tc.constraint_type ORDER BY kind`,
  );
  assert.deepEqual(constraints, [
    { kind: 'PRIMARY KEY', cols: 'stream_ordering' },
    { kind: 'UNIQUE', cols: 'event_id' },
  ]);
  const [index] = await query(
    url,
    "SELECT indexdef FROM pg_indexes WHERE tablename = 'events' AND indexdef LIKE '%(room_id, stream_ordering)%'",
  );
  assert.ok(index, 'an index on (room_id, stream_ordering)');
  assert.deepEqual(await published(url), STREAM_TABLES);
});

test('a second latest is a no-op', async () => {
  assert.deepEqual(await migrateLatest(url, CHAT_SCHEMA), {
    slotstream: [],
    service: { batch: 1, migrations: [] },
    publication: { name: 'slotstream', created: false, added: [], restored: [], whole: [] },
  });
  const [runs] = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM knex_migrations');
  assert.equal(runs?.n, String(MIGRATIONS.length));
  const [own] = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM slotstream_migrations');
  assert.equal(own?.n, String(OWN.length));
});

test('status reports what ran, in which batch, and what the publication covers', async () => {
  const status = await migrationStatus(url, CHAT_SCHEMA);
  assert.deepEqual(
    status.service,
    MIGRATIONS.map((name) => ({ name, ran: true, batch: 1, missing: false })),
  );
  assert.equal(status.pending, 0);
  assert.deepEqual(status.publication, {
    name: 'slotstream',
    exists: true,
    allTables: false,
    tables: STREAM_TABLES,
    publish: ['insert', 'update', 'delete', 'truncate'],
  });
  assert.deepEqual(status.unpublished, []);
});

test('a dropped or narrowed publication is repaired by migrating, whatever the ledgers say', async () => {
  await query(url, 'ALTER PUBLICATION slotstream DROP TABLE receipts');
  assert.deepEqual((await migrationStatus(url, CHAT_SCHEMA)).unpublished, ['public.receipts']);
  assert.deepEqual((await migrateLatest(url, CHAT_SCHEMA)).publication, {
    name: 'slotstream',
    created: false,
    added: ['public.receipts'],
    restored: [],
    whole: [],
  });
  await query(url, "ALTER PUBLICATION slotstream SET (publish = 'insert, delete')");
  assert.deepEqual((await migrateLatest(url, CHAT_SCHEMA)).publication?.restored, ['update', 'truncate']);
  await query(url, 'DROP PUBLICATION slotstream');
  assert.equal((await migrateLatest(url, CHAT_SCHEMA)).publication?.created, true);
  assert.deepEqual(await published(url), STREAM_TABLES);
});

test("rollback undoes the service's batch and leaves slotstream's schema; a second has nothing to do", async () => {
  assert.deepEqual(await rollback(url, CHAT_SCHEMA), { batch: 1, migrations: [...MIGRATIONS].reverse() });
  assert.deepEqual(await columns(url), []);
  assert.deepEqual(await published(url), [], 'dropped tables leave the publication by themselves');
  assert.equal(await tableExists(url, 'stream_head'), true);
  assert.equal((await migrationStatus(url, CHAT_SCHEMA)).pending, MIGRATIONS.length);
  assert.deepEqual((await rollback(url, CHAT_SCHEMA)).migrations, []);
  await query(url, 'DROP PUBLICATION slotstream');
});

test('a publication that already exists (made outside the migrations) is adopted and extended', async () => {
  await query(url, 'CREATE PUBLICATION slotstream');
  assert.equal((await migrateLatest(url, CHAT_SCHEMA)).publication?.created, false);
  assert.deepEqual(await published(url), STREAM_TABLES);
  await rollback(url, CHAT_SCHEMA);
  await query(url, 'DROP PUBLICATION slotstream');
});

test('a FOR ALL TABLES publication already covers the streams and is left as it is', async () => {
  await query(url, 'CREATE PUBLICATION slotstream FOR ALL TABLES');
  await migrateLatest(url, CHAT_SCHEMA);
  const { publication, unpublished } = await migrationStatus(url, CHAT_SCHEMA);
  assert.equal(publication.allTables, true);
  assert.ok(publication.tables.includes('public.events'));
  assert.deepEqual(unpublished, []);
  await rollback(url, CHAT_SCHEMA);
  await query(url, 'DROP PUBLICATION slotstream');
});

test('slotstream migrate, twice, --status and --rollback, as a process (this repository’s config)', async () => {
  const first = await cli(['migrate', '--database-url', url]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(
    first.stdout,
    `applied:\n${MIGRATIONS.map((m) => `  ${m}`).join('\n')}\n` +
      `created publication slotstream: ${[...STREAM_TABLES].sort(byDeclaration).join(', ')}\n`,
  );
  assert.deepEqual(await published(url), STREAM_TABLES);

  const again = await cli(['migrate', '--database-url', url]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, 'already up to date\n');

  const status = await cli(['migrate', '--status', '--database-url', url]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /slotstream migrations:\n {2}ran \(batch 1\) +0001_stream_head\n/);
  for (const m of MIGRATIONS) assert.match(status.stdout, new RegExp(`ran \\(batch 1\\) +${m}`));
  assert.match(
    status.stdout,
    /\n0 pending\npublication slotstream: public\.access_tokens, public\.account_data, public\.device_inbox, public\.events, public\.receipts\n$/,
  );

  const back = await cli(['migrate', '--rollback', '--database-url', url]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /^rolled back batch 1:/);
  assert.equal(await tableExists(url, 'events'), false);
});

test('DATABASE_URL is used when there is no --database-url', async () => {
  const status = await cli(['migrate', '--status'], { DATABASE_URL: url });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /publication slotstream: (missing|\(no tables\))/);
});

test('--status with --rollback is a usage error: exit 2, nothing touched', async () => {
  const r = await cli(['migrate', '--status', '--rollback', '--database-url', url]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: --status and --rollback exclude each other\n\nusage: slotstream migrate/);
});

test('an unreachable server: one clear line on stderr, exit 1, no stack', async () => {
  const r = await cli(['migrate', '--database-url', 'postgres://postgres@127.0.0.1:1/nowhere']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^error: cannot connect to postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED.*is the server running/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a database that does not exist: the server’s words and its SQLSTATE, exit 1', async () => {
  const r = await cli(['migrate', '--database-url', withDatabase(url, 'no_such_database')]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^error: cannot connect to .*database "no_such_database" does not exist.*\(SQLSTATE 3D000\)/,
  );
});
