/**
 * scripts/sql/*.sql through the real psql, run the way their headers say:
 * `psql URL [-v slot=NAME] -f scripts/sql/<name>.sql`. Values are checked in psql's CSV output; each script
 * also runs once in the default (aligned) format a person sees.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { insertEvents, slotState } from '../support/replication.ts';

const PSQL = '/usr/bin/psql';
const root = path.resolve(import.meta.dirname, '..', '..');
const url = await freshDatabase('sql_scripts');
await migrateChat(url);
const SLOT = 'sql_scripts_peek';

/** Runs a script; `csv` rows come back as objects keyed by the header. */
async function psql(script: string, options: { slot?: string; csv?: boolean } = {}) {
  const args = [url, '-X', '-v', 'ON_ERROR_STOP=1'];
  if (options.slot) args.push('-v', `slot=${options.slot}`);
  if (options.csv) args.push('--csv');
  args.push('-f', path.join(root, 'scripts', 'sql', `${script}.sql`));
  const { stdout } = await promisify(execFile)(PSQL, args, {
    env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
  });
  return stdout;
}

async function csvRows(script: string, slot?: string): Promise<Record<string, string>[]> {
  const [header, ...lines] = (await psql(script, { slot, csv: true })).trimEnd().split('\n');
  const names = (header ?? '').split(',');
  // The values asserted on never contain commas or quotes, so a plain split is enough here.
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v])));
}

await query(url, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [SLOT]);
const writer = new pg.Client(url);
await writer.connect();
await insertEvents(writer, 1, 2);
await writer.query(`SELECT pg_logical_emit_message(true, 'caches', '{"cache":"getEvent"}')`);
await writer.query('CREATE TABLE sql_no_key (note text)');
await writer.query('ALTER PUBLICATION slotstream ADD TABLE sql_no_key');
await writer.end();

test('peek.sql lists pending messages by tag, table and prefix, and consumes nothing', async () => {
  const before = (await slotState(url, SLOT))?.confirmed_flush_lsn;
  const rows = await csvRows('peek', SLOT);
  assert.deepEqual(
    rows.map((r) => [r.tag, r.kind, r.detail]),
    [
      ['B', 'begin', ''],
      ['R', 'relation', 'events'],
      ['I', 'insert', 'events'],
      ['I', 'insert', 'events'],
      ['C', 'commit', ''],
      ['B', 'begin', ''],
      ['M', 'message', 'caches'],
      ['C', 'commit', ''],
    ],
  );
  for (const r of rows) {
    assert.match(r.lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.ok(Number(r.bytes) > 0);
  }
  assert.equal(rows[0]?.xid, rows[4]?.xid);
  assert.notEqual(rows[0]?.xid, rows[5]?.xid);
  assert.equal((await slotState(url, SLOT))?.confirmed_flush_lsn, before);
  assert.deepEqual(await csvRows('peek', SLOT), rows, 'peeking twice shows the same');
  const aligned = await psql('peek', { slot: SLOT });
  assert.match(aligned, /^\s+lsn\s+\|\s+xid\s+\|\s+tag\s+\|\s+kind\s+\|\s+bytes\s+\|\s+detail\s*$/m);
  assert.match(aligned, /\(8 rows\)/);
});

test('slots.sql and lag.sql show the slot, its lag and WAL status', async () => {
  const slots = await csvRows('slots');
  const mine = slots.find((r) => r.slot_name === SLOT);
  assert.ok(mine, JSON.stringify(slots));
  assert.equal(mine.plugin, 'pgoutput');
  assert.equal(mine.active_pid, '');
  assert.equal(mine.wal_status, 'reserved');
  assert.equal(mine.confirmed_flush_lsn, (await slotState(url, SLOT))?.confirmed_flush_lsn);
  assert.ok(Number(mine.lag_bytes) > 0, 'changes are pending');
  assert.match(mine.lag ?? '', /^\d+ (bytes|kB|MB)$/);
  assert.match(await psql('slots'), new RegExp(`^ ${SLOT} +\\| pgoutput`, 'm'));

  const lag = await csvRows('lag');
  const row = lag.find((r) => r.slot_name === SLOT);
  assert.ok(row, JSON.stringify(lag));
  assert.match(row.unconfirmed ?? '', /^\d+ (bytes|kB|MB)$/);
  assert.equal(row.sender_state, '', 'nobody streams it');
  assert.equal(row.wal_status, 'reserved');
  assert.match(await psql('lag'), /slot_name/);
});

test('publication.sql shows the tables and which can publish updates', async () => {
  const rows = await csvRows('publication');
  const mine = rows.filter((r) => r.publication === 'slotstream');
  assert.deepEqual(
    mine.map((r) => [r.table, r.has_primary_key, r.replica_identity, r.updates_publishable]),
    [
      ['public.access_tokens', 't', 'full', 't'],
      ['public.account_data', 't', 'full', 't'],
      ['public.device_inbox', 't', 'full', 't'],
      ['public.events', 't', 'full', 't'],
      ['public.receipts', 't', 'full', 't'],
      ['public.sql_no_key', 'f', 'default', 'f'],
    ],
  );
  assert.equal(mine[0]?.all_tables, 'f');
  assert.match(await psql('publication'), /slotstream .*\| public\.events/);
});
