/**
 * Nothing is lost under the harshest crash a reader can have: SIGKILL at random moments while a writer
 * commits at least 20,000 transactions. Every committed row must be delivered, in commit order; the only
 * duplicates allowed are transactions after the slot's last confirmed position, and they are counted.
 * Each kill lands on a reader that is streaming, while the writer still writes, and some must land between
 * a transaction's delivery and the server's receipt of its acknowledgement: the window that makes a
 * restarted reader receive it again (seen as the next reader redelivered what the killed one had).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { migrateChat } from '../../app/schema.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { seeded } from '../support/prng.ts';
import { type DeliveredTransaction, readReaderLog } from '../support/reader-log.ts';
import { insertEvents, waitFor } from '../support/replication.ts';

const TRANSACTIONS = 20_000;
const MIN_KILLS = 10;

const url = await freshDatabase('kill_reader');
await migrateChat(url);

const dir = mkdtempSync(path.join(tmpdir(), 'slotstream-kill-'));
const logFile = path.join(dir, 'reader.log');

/** Reader processes still running: killed if this file's process exits first, whatever failed. */
const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

function startReader(): ChildProcess {
  const child = spawnReader();
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  return child;
}

function spawnReader(): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/reader-process.ts', url, 'kill_reader', logFile],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

const random = seeded('kill-reader');
const randomBetween = (lo: number, hi: number) => lo + random() * (hi - lo);

test('kill -9 a streaming reader at random moments while 20,000+ transactions commit: nothing lost, order kept', {
  timeout: 600_000,
}, async () => {
  let reader = startReader();
  // The first reader creates the slot; the writer starts only then, so every transaction is in the slot.
  await waitFor(
    'the slot',
    async () =>
      (await query(url, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'kill_reader'")).length === 1,
  );

  const writer = new pg.Client(url);
  await writer.connect();
  let rowsWritten = 0;
  let writing = true;
  let kills = 0;
  const writes = (async () => {
    // Writing goes on until the kills are done too, so that every kill falls while transactions commit.
    for (let t = 0; t < TRANSACTIONS || kills < MIN_KILLS; t++) {
      const rows = t % 3 === 0 ? 1 + Math.floor(random() * 20) : 1; // single- and multi-row
      await insertEvents(writer, rowsWritten + 1, rows);
      rowsWritten += rows;
      // Paced to take a while on a fast server, so the kills fall while transactions are committing.
      if (t % 20 === 0) await new Promise((r) => setTimeout(r, 25));
    }
    writing = false;
  })();

  /** Whether the reader started `started`-th has delivered a transaction: it is streaming. */
  const streaming = (started: number) => {
    let starts = 0;
    let delivered = false;
    for (const record of readReaderLog(logFile)) {
      if (record.kind === 'start') starts++;
      delivered = record.kind === 'tx' || (delivered && record.kind !== 'start');
    }
    return starts === started && delivered;
  };
  let killsWhileWriting = 0;
  while (writing) {
    // Each kill lands on a reader that streams, at a random moment of its streaming.
    const started = kills + 1;
    await waitFor('the reader to stream', async () => streaming(started) || !writing);
    if (!writing) break;
    await new Promise((r) => setTimeout(r, randomBetween(100, 2000)));
    if (writing) killsWhileWriting++;
    reader.kill('SIGKILL');
    await new Promise((r) => reader.once('exit', r));
    kills++;
    reader = startReader();
  }
  await writes;
  await writer.end();

  // Let the last reader catch up with everything, then stop it cleanly.
  const delivered = () => readReaderLog(logFile).filter((r) => r.kind === 'tx') as DeliveredTransaction[];
  await waitFor(
    'the reader to catch up',
    async () => {
      const rows = new Set(delivered().flatMap((t) => t.rows ?? []));
      return rows.size === rowsWritten;
    },
    120_000,
  );
  reader.kill('SIGTERM');
  await new Promise((r) => reader.once('exit', r));

  const log = readReaderLog(logFile);
  let highest = 0n; // commit LSN of the newest transaction delivered so far
  let confirmedAtStart = 0n;
  let duplicates = 0;
  let nextRow = 1;
  let restarts = 0;
  // Kills after which the next reader was sent again what the killed one had delivered: they fell between
  // a delivery and the server's receipt of its acknowledgement.
  let killsBeforeAck = 0;
  let redeliveredSinceStart = false;
  for (const record of log) {
    if (record.kind === 'start') {
      restarts++;
      confirmedAtStart = record.confirmedFlush ?? 0n;
      redeliveredSinceStart = false;
      continue;
    }
    if (record.kind !== 'tx') continue;
    // The server never resends what it confirmed: whatever comes after a restart ends past that point.
    assert.ok(
      record.endLsn > confirmedAtStart,
      `transaction ending at ${record.endLsn} was confirmed (${confirmedAtStart}) yet redelivered`,
    );
    if (record.commitLsn <= highest) {
      duplicates++;
      if (!redeliveredSinceStart) killsBeforeAck++;
      redeliveredSinceStart = true;
      continue;
    }
    highest = record.commitLsn;
    // In commit order, with no gap: the single writer's orderings are its commit order.
    for (const row of record.rows ?? []) {
      assert.equal(row, nextRow, `row ${nextRow} expected next, got ${row}`);
      nextRow++;
    }
  }
  assert.equal(nextRow - 1, rowsWritten, 'every committed row delivered');
  assert.ok(kills >= MIN_KILLS && restarts >= MIN_KILLS + 1, `${kills} kills, ${restarts} starts`);
  assert.ok(killsWhileWriting >= MIN_KILLS, `${killsWhileWriting} of ${kills} kills while the writer wrote`);
  assert.ok(
    killsBeforeAck > 0,
    'some kill fell between a delivery and its acknowledgement reaching the server',
  );
  console.log(
    `# kill -9: ${rowsWritten} rows, ${kills} kills (${killsWhileWriting} while writing, ${killsBeforeAck} between delivery and acknowledgement), ${duplicates} redelivered transactions (all after the slot's confirmed position)`,
  );
  rmSync(dir, { recursive: true, force: true });
});
