/** Output plumbing of the slot commands: the slots table, and a writer that honours backpressure. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { LineWriter, OutputClosedError } from '../../src/cli/line-writer.ts';
import { formatSlotTable, slotRow } from '../../src/cli/slots-list.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import type { SlotInfo } from '../../src/replication/slots.ts';

test('slots table: one row per slot, - for nothing (failover and synced before 17), temporary slots marked', () => {
  const info: SlotInfo = {
    name: 'reader_1',
    plugin: 'pgoutput',
    database: 'app',
    temporary: true,
    active: true,
    activePid: 4242,
    restartLsn: parseLsn('0/100'),
    confirmedFlushLsn: parseLsn('0/16B3800'),
    walStatus: 'reserved',
    safeWalSize: null,
    lagBytes: 123n,
    invalidationReason: null,
    inactiveSince: null,
    failover: null,
    synced: null,
  };
  const row = slotRow(info);
  assert.deepEqual(row, {
    name: 'reader_1',
    plugin: 'pgoutput',
    database: 'app',
    temporary: true,
    active_pid: 4242,
    confirmed_flush_lsn: '0/16B3800',
    lag_bytes: 123,
    wal_status: 'reserved',
    safe_wal_size: null,
    inactive_since: null,
    failover: null,
    synced: null,
  });
  const table = formatSlotTable([row]).split('\n');
  assert.match(
    table[0] ?? '',
    /^name +plugin +database +active_pid +confirmed_flush_lsn +lag_bytes +wal_status +safe_wal_size +inactive_since +failover +synced$/,
  );
  assert.match(
    table[1] ?? '',
    /^reader_1 \(temporary\) +pgoutput +app +4242 +0\/16B3800 +123 +reserved +- +- +- +-$/,
  );
  assert.equal(formatSlotTable([]), 'no replication slots');

  // PostgreSQL 17+ has the failover and synced columns: shown as they are, in JSON as booleans.
  const newer = slotRow({ ...info, temporary: false, failover: true, synced: false });
  assert.equal(newer.failover, true);
  assert.equal(newer.synced, false);
  assert.match(formatSlotTable([newer]).split('\n')[1] ?? '', /^reader_1 +pgoutput .* +- +true +false$/);
});

/** A sink that takes one chunk at a time and completes it only when told. */
function slowSink() {
  const chunks: string[] = [];
  const pending: (() => void)[] = [];
  const stream = new Writable({
    highWaterMark: 8,
    write(chunk, _enc, callback) {
      chunks.push(String(chunk));
      pending.push(() => callback());
    },
  });
  return { stream, chunks, release: () => pending.shift()?.() };
}

test('LineWriter waits for drain when the buffer is full, and flushed() waits for the last write', async () => {
  const sink = slowSink();
  const out = new LineWriter(sink.stream);
  await out.write('abc\n'); // below the high-water mark: resolves at once
  let wrote = false;
  const second = out.write('0123456789\n').then(() => {
    wrote = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(wrote, false, 'a full buffer must hold the writer back');
  let flushed = false;
  const whenFlushed = out.flushed().then(() => {
    flushed = true;
  });
  sink.release();
  sink.release();
  await second;
  await whenFlushed;
  assert.ok(flushed);
  assert.deepEqual(sink.chunks, ['abc\n', '0123456789\n']);
  out.release();
});

test('LineWriter: a failed stream rejects flushed() and later writes with OutputClosedError', async () => {
  const stream = new Writable({
    write(_chunk, _enc, callback) {
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const out = new LineWriter(stream);
  // The write itself may resolve (accepted) or reject (the stream failed while it waited to drain).
  const first = await out.write('x\n').catch((err: unknown) => err);
  assert.ok(first === undefined || first instanceof OutputClosedError);
  await assert.rejects(out.flushed(), OutputClosedError);
  await new Promise((r) => setImmediate(r));
  await assert.rejects(out.write('y\n'), OutputClosedError);
});
