/**
 * Bounded memory: a 1,000,000-row transaction goes through a reader whose peak RSS stays under 200 MB, both
 * when the server streams it before commit (protocol 2+: we spool it to disk) and when it sends it whole
 * after commit (protocol 1: we pass it through). Measured in the reader's own process. The server's slot
 * statistics show which way it went, so the streamed run cannot pass by being sent whole.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { migrateChat } from '../../app/schema.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { readReaderLog } from '../support/reader-log.ts';
import { handPicked, waitFor } from '../support/replication.ts';
import { decodingStats } from '../support/slot-stats.ts';

const ROWS = 1_000_000;
const RSS_LIMIT_MB = 200;

const url = await freshDatabase('big_tx');
await migrateChat(url);
const dir = mkdtempSync(path.join(tmpdir(), 'slotstream-big-'));

for (const [proto, how] of [
  [4, 'streamed before commit'],
  [1, 'sent whole after commit'],
] as const) {
  test(`a 1,000,000-row transaction, ${how} (protocol ${proto}), under ${RSS_LIMIT_MB} MB RSS`, {
    timeout: 600_000,
  }, async () => {
    const slot = `big_tx_p${proto}`;
    const logFile = path.join(dir, `${slot}.log`);
    const reader = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/support/reader-process.ts', url, slot, logFile, String(proto)],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    try {
      await waitFor(
        'the slot',
        async () =>
          (await query(url, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot]))
            .length === 1,
      );
      const first = proto === 4 ? 1 : ROWS + 1;
      await query(
        url,
        `INSERT INTO events (stream_ordering, event_id, room_id, type, sender, content, origin_server_ts)
         SELECT n, '$big' || n, '!big:test', 'm.room.message', '@bulk:test', jsonb_build_object('body', repeat('x', 100), 'n', n), n
           FROM generate_series($1::bigint, $2::bigint) AS n, ${handPicked('$1', '$2')}`,
        [first, first + ROWS - 1],
      );
      await waitFor(
        'the transaction to be delivered',
        async () => readReaderLog(logFile).some((r) => r.kind === 'tx'),
        300_000,
      );
      const tx = readReaderLog(logFile).find((r) => r.kind === 'tx');
      assert.ok(tx?.kind === 'tx');
      assert.equal(tx.count, ROWS);
      const n = BigInt(first);
      assert.equal(BigInt(tx.sum ?? 0), ((n + n + BigInt(ROWS) - 1n) * BigInt(ROWS)) / 2n, 'every row, once');
      const { streamTxns } = await decodingStats(url, slot);
      if (proto === 1) assert.equal(streamTxns, 0, 'protocol 1: sent whole after commit');
      else assert.ok(streamTxns > 0, `the server streamed it before commit (stream_txns ${streamTxns})`);
    } finally {
      reader.kill('SIGTERM');
      await new Promise((r) => reader.once('exit', r));
    }
    const peakKb = Math.max(...readReaderLog(logFile).flatMap((r) => (r.kind === 'rss' ? [r.maxRssKb] : [])));
    console.log(`# 1M rows ${how}: reader peak RSS ${(peakKb / 1024).toFixed(1)} MB`);
    assert.ok(peakKb / 1024 < RSS_LIMIT_MB, `peak RSS ${(peakKb / 1024).toFixed(1)} MB`);
  });
}

test('cleanup', () => rmSync(dir, { recursive: true, force: true }));
