/**
 * The embedded default: with neither --database-url nor DATABASE_URL, commands start (once) a cluster
 * under .slotstream/pg in the working directory and use its `slotstream` database.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CHAT_SCHEMA, migrateChat } from '../../app/schema.ts';
import { resolveConnection } from '../../src/cli/connection.ts';
import { migrationStatus } from '../../src/migrations/migrator.ts';
import { query } from '../support/pg.ts';

test('no URL: the embedded cluster is created, started, reused, and given a slotstream database', async () => {
  const cwd = await mkdtemp(path.join(tmpdir(), 'slotstream-cwd-'));
  const logged: string[] = [];
  // Port 0: a free port, so the test never meets a developer's cluster on the default one.
  const first = await resolveConnection({ env: {}, cwd, embeddedPort: 0, log: (l) => logged.push(l) });
  after(async () => {
    await first.embedded?.stop('immediate');
    await rm(cwd, { recursive: true, force: true });
  });
  assert.equal(first.source, 'embedded');
  assert.equal(first.embedded?.dataDir, path.join(cwd, '.slotstream', 'pg'));
  assert.match(first.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/slotstream$/);
  assert.equal(logged.length, 1);
  const [row] = await query(
    first.url,
    "SELECT current_database() AS db, current_setting('wal_level') AS wal",
  );
  assert.deepEqual(row, { db: 'slotstream', wal: 'logical' });
  await first.close();

  // Still running after close; the second resolve reuses it, same port, nothing logged.
  const second = await resolveConnection({ env: {}, cwd, log: (l) => logged.push(l) });
  assert.equal(second.url, first.url);
  assert.equal(logged.length, 1);
  await migrateChat(second.url);
  assert.equal((await migrationStatus(second.url, CHAT_SCHEMA)).pending, 0);
});
