/**
 * The reference reader's /health tells the truth: 503 with a status and a reason while its reader has an
 * integrity fault (the publication dropped under it) or its spool directory is full (a 1 MB tmpfs and a
 * streamed transaction bigger than that) or PostgreSQL is out of reach or the reader has had no replication
 * session for longer than its grace (its slot held by another process), 200 with the server's view of the
 * slot's lag otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { startReaderApp } from '../../app/reader/reader-app.ts';
import { accountDataStream } from '../../app/streams.ts';
import { subscribe } from '../../src/replication/subscribe.ts';
import { runCli } from '../support/cli.ts';
import { EndpointProxy } from '../support/endpoint-proxy.ts';
import { query } from '../support/pg.ts';
import { insertEvents } from '../support/replication.ts';
import { migratedDatabase, writerFor } from '../support/runtime.ts';
import { waitFor } from '../support/wait-for.ts';

const url = await migratedDatabase('reader_health');
const writer = writerFor(url);

/** Log records at error level, to assert on what an operator sees. */
const errors: string[] = [];
const logger = pino(
  { level: 'info' },
  { write: (line: string) => void (JSON.parse(line).level >= 50 && errors.push(line)) },
);

async function health(base: string): Promise<{ code: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/health`);
  return { code: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('an integrity fault is a 503 with its reason; after migrate and the reset, 200 with the server lag', {
  timeout: 120_000,
}, async () => {
  const app = await startReaderApp({
    connectionString: url,
    slot: 'health_fault',
    logger,
    subscription: { backoff: { initialMs: 50, maxMs: 500 } },
  });
  after(() => app.close());
  const ok = await health(app.url);
  assert.equal(ok.code, 200);
  assert.equal(ok.body.status, 'ok');
  assert.equal(typeof ok.body.server_lag_bytes, 'number');

  await query(url, 'DROP PUBLICATION slotstream');
  await writer.transaction((tx) => {
    tx.insert(
      accountDataStream,
      { user_id: '@h:test', type: 'm.x', content: {} },
      { onConflict: ['user_id', 'type'] },
    );
  });
  await waitFor('the fault', () => app.reader.fault);
  const faulted = await health(app.url);
  assert.equal(faulted.code, 503);
  assert.equal(faulted.body.status, 'integrity-fault');
  assert.match(String(faulted.body.reason), /slotstream migrate/);
  assert.ok(errors.some((line) => line.includes('integrity fault')));

  assert.equal((await runCli(['migrate', '--database-url', url])).code, 0);
  await waitFor('the reset', () => app.reader.stats.resets === 1 && app.reader.fault === undefined);
  const back = await health(app.url);
  assert.equal(back.code, 200, JSON.stringify(back.body));
});

test('ENOSPC in the spool directory is a 503 spool-error, logged at error level', {
  timeout: 120_000,
  skip: process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : undefined,
}, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'slotstream-tiny-spool-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  const app = await startReaderApp({
    connectionString: url,
    slot: 'health_spool',
    logger,
    // A tiny logical_decoding_work_mem makes the server stream the transaction before its commit: spooled.
    subscription: {
      spoolDirectory: dir,
      settings: { logical_decoding_work_mem: '64kB' },
      backoff: { maxMs: 500 },
    },
  });
  // The reader first: its spool files live on the tmpfs until it lets go of them.
  after(async () => {
    await app.close();
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query('BEGIN');
    await insertEvents(client, 1_000_000, 30_000); // several MB of changes
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
  const full = await waitFor('a spool error', async () => {
    const h = await health(app.url);
    return h.body.status === 'spool-error' && h;
  });
  assert.equal(full.code, 503);
  assert.match(String(full.body.reason), /ENOSPC/);
  assert.ok(errors.some((line) => line.includes('spool directory failed')));
  // The server's view agrees: the slot holds back the WAL of the transaction it cannot take.
  assert.ok(Number(full.body.server_lag_bytes) > 0);
});

test('PostgreSQL out of reach is a 503 database-unreachable; once it is back, 200', {
  timeout: 120_000,
}, async () => {
  const proxy = await EndpointProxy.start(url);
  after(() => proxy.close());
  const app = await startReaderApp({
    connectionString: proxy.url(url),
    slot: 'health_unreachable',
    logger,
    subscription: { backoff: { initialMs: 50, maxMs: 200 } },
  });
  after(() => app.close());
  assert.equal((await health(app.url)).code, 200);

  // Every connection cut, and new ones stalled: the replication session is gone, and so are answers.
  const reconnects = app.reader.stats.reconnects;
  proxy.hold();
  proxy.cutAll();
  await waitFor('the reader to lose its session', () => app.reader.stats.reconnects > reconnects);
  const down = await health(app.url);
  assert.equal(down.code, 503, JSON.stringify(down.body));
  assert.equal(down.body.status, 'database-unreachable');
  assert.match(String(down.body.reason), /asking PostgreSQL for the slot's lag/);
  assert.equal(down.body.server_lag_bytes, null);

  proxy.release();
  await waitFor('a healthy reader again', async () => (await health(app.url)).code === 200);
});

test('a reader kept from its slot while PostgreSQL answers is a 503 reconnecting past the grace; 200 once it streams again', {
  timeout: 120_000,
}, async () => {
  const slot = 'health_reconnecting';
  const app = await startReaderApp({
    connectionString: url,
    slot,
    logger,
    reconnectGraceMs: 300,
    // Slower than the intruder below, so that it takes the slot first.
    subscription: { backoff: { initialMs: 1_000, maxMs: 1_000 } },
  });
  after(() => app.close());
  assert.equal((await health(app.url)).code, 200);

  // Another process takes the slot as soon as the reader's session ends (an old instance still running,
  // say): the reader waits for it, reconnecting, while every SQL query still gets its answer.
  let holding!: () => void;
  const held = new Promise<void>((resolve) => {
    holding = resolve;
  });
  const intruder = subscribe({
    connectionString: url,
    slot,
    publication: 'slotstream',
    ifSlotActive: 'wait',
    backoff: { initialMs: 10, maxMs: 20 },
    onStatus: (status) => status.event === 'connected' && holding(),
  });
  const streaming = (async () => {
    for await (const _ of intruder);
  })();
  after(() => intruder.close());
  await query(url, 'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1', [
    slot,
  ]);
  await held;
  const down = await waitFor('503 reconnecting', async () => {
    const answer = await health(app.url);
    return answer.body.status === 'reconnecting' && answer;
  });
  assert.equal(down.code, 503);
  assert.match(String(down.body.reason), /no replication session for \d+ s/);
  assert.equal(typeof down.body.server_lag_bytes, 'number', 'the database answered');

  await intruder.close();
  await streaming;
  await waitFor('a healthy reader again', async () => (await health(app.url)).code === 200);
  assert.equal(app.reader.stats.resets, 0, 'the slot was only waited for, never replaced');
});
