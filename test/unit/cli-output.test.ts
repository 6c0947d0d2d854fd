/** Output plumbing of the slot commands: the slots table, and a writer that honours backpressure. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { CHUNK_CHARS, LineWriter, OutputClosedError } from '../../src/cli/line-writer.ts';
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

const turn = () => new Promise((r) => setImmediate(r));

test('LineWriter gathers lines into chunks, one write each, and holds the writer back while the stream is full', async () => {
  const sink = slowSink();
  const out = new LineWriter(sink.stream);
  const line = `${'x'.repeat(99)}\n`;
  let lines = 0;
  let full: Promise<void> | undefined;
  while (full === undefined) {
    full = out.write(line);
    lines++;
  }
  assert.equal(lines, Math.ceil(CHUNK_CHARS / line.length), 'nothing goes out before a chunk is full');
  assert.deepEqual(sink.chunks, [line.repeat(lines)]);
  let drained = false;
  void full.then(() => {
    drained = true;
  });
  await turn();
  assert.equal(drained, false, 'a full stream must hold the writer back');
  sink.release();
  await full;
  assert.equal(out.write('last\n'), undefined);
  out.release();
});

test('LineWriter: what is gathered goes out once the event loop is idle; whenWritten follows the writes', async () => {
  const sink = slowSink();
  const out = new LineWriter(sink.stream);
  const told: string[] = [];
  out.whenWritten(() => told.push('before anything')); // nothing written: at once (next microtask)
  await Promise.resolve();
  out.write('a\n');
  out.whenWritten(() => told.push('a'));
  assert.deepEqual(sink.chunks, [], 'gathered, not written yet');
  await turn();
  assert.deepEqual(sink.chunks, ['a\n']);
  assert.deepEqual(told, ['before anything'], 'not before the stream has written it');
  sink.release();
  await turn();
  assert.deepEqual(told, ['before anything', 'a']);
  out.write('b\n');
  out.whenWritten(() => told.push('b'));
  const flushed = out.flushed();
  assert.deepEqual(sink.chunks, ['a\n', 'b\n'], 'flushed() hands over what is gathered at once');
  sink.release();
  await flushed;
  assert.deepEqual(told, ['before anything', 'a', 'b']);
  out.release();
});

test('LineWriter: a failed stream rejects flushed() and later writes with OutputClosedError', async () => {
  const stream = new Writable({
    write(_chunk, _enc, callback) {
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const out = new LineWriter(stream);
  let told = false;
  out.write('x\n');
  out.whenWritten(() => {
    told = true;
  });
  await assert.rejects(out.flushed(), OutputClosedError);
  await turn();
  await assert.rejects(
    out.write('y\n') ?? assert.fail('a write after a failure must reject'),
    OutputClosedError,
  );
  assert.equal(told, false, 'nothing failed to write counts as written');
});
