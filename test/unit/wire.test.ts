import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/replication/backoff.ts';
import { InvalidNameError, MalformedMessageError } from '../../src/replication/errors.ts';
import { formatLsn, parseLsn } from '../../src/replication/lsn.ts';
import { quoteIdent, validatePublicationName, validateSlotName } from '../../src/replication/names.ts';
import { BinaryReader } from '../../src/replication/pgoutput/binary-reader.ts';
import { PG_EPOCH_OFFSET_MICROS, pgEpochMicrosToDate } from '../../src/replication/pgoutput/types.ts';
import { PositionTracker } from '../../src/replication/positions.ts';
import { switchPoint } from '../../src/replication/timeline.ts';
import {
  nowPgMicros,
  readKeepalive,
  standbyStatusUpdate,
  xlogDataStart,
} from '../../src/replication/wire.ts';

test('LSNs round-trip through their text form, exactly and unsigned', () => {
  // Below 2^53 an LSN is printed from a double, from 2^53 on from its bigint halves: both sides of it.
  const lsns = ['0/0', '0/F', '0/10', '0/FFFFFFFF', '1/0', '16/B374D848', '1FFFFF/FFFFFFFF', '200000/0'];
  for (const text of [...lsns, 'ABCDEF/12345678', 'FFFFFFFF/FFFFFFFF'])
    assert.equal(formatLsn(parseLsn(text)), text);
  assert.equal(parseLsn('1/0'), 1n << 32n);
  assert.equal(parseLsn('FFFFFFFF/FFFFFFFF'), 2n ** 64n - 1n);
  assert.throws(() => parseLsn('16-B374'), TypeError);
});

test('timestamps use the PostgreSQL epoch, 2000-01-01T00:00:00Z, exactly', () => {
  assert.equal(PG_EPOCH_OFFSET_MICROS, 946_684_800_000_000n);
  assert.equal(nowPgMicros(Date.UTC(2000, 0, 1)), 0n);
  assert.equal(nowPgMicros(Date.UTC(2000, 0, 8)), 7n * 86_400_000_000n);
  assert.equal(pgEpochMicrosToDate(0n).toISOString(), '2000-01-01T00:00:00.000Z');
});

test('standby status update layout', () => {
  const now = Date.UTC(2026, 10, 26, 10, 0, 0);
  const buf = standbyStatusUpdate(0x30n, 0x20n, 0x10n, true, now);
  assert.equal(buf.length, 34);
  assert.equal(String.fromCharCode(buf[0] ?? 0), 'r');
  assert.equal(buf.readBigUInt64BE(1), 0x30n);
  assert.equal(buf.readBigUInt64BE(9), 0x20n);
  assert.equal(buf.readBigUInt64BE(17), 0x10n);
  assert.equal(buf.readBigInt64BE(25), BigInt(now) * 1000n - PG_EPOCH_OFFSET_MICROS);
  assert.equal(buf[33], 1);
});

test('keepalive frames', () => {
  const frame = Buffer.alloc(18);
  frame[0] = 0x6b;
  frame.writeBigUInt64BE(0xdeadbeefn, 1);
  frame[17] = 1;
  assert.deepEqual(readKeepalive(frame), { walEnd: 0xdeadbeefn, replyRequested: true });
  assert.throws(() => readKeepalive(frame.subarray(0, 17)), MalformedMessageError);
  assert.throws(
    () => xlogDataStart(Buffer.concat([Buffer.from('w'), Buffer.alloc(23)])),
    /'w' at offset 0: XLogData frame of 24 bytes/,
  );
});

test('64-bit reads are exact over the whole range, on both sides of 2^53', () => {
  const unsigned = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n];
  for (const v of [...unsigned, 2n ** 64n - 1n, 0x16b374d848n]) {
    const buf = Buffer.alloc(25);
    buf[0] = 0x77;
    buf.writeBigUInt64BE(v, 1);
    buf.writeBigUInt64BE(v, 17);
    assert.equal(xlogDataStart(buf), v);
    assert.equal(readKeepalive(buf).walEnd, v);
    const r = new BinaryReader();
    r.reset(buf, 17);
    assert.equal(r.uint64(), v);
  }
  const signed = [...unsigned.slice(0, -1), 2n ** 63n - 1n, 1_000_000_000_000_000n];
  for (const v of [...signed, ...signed.map((x) => -x), -(2n ** 63n)]) {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64BE(v);
    const r = new BinaryReader();
    r.reset(buf);
    assert.equal(r.int64(), v);
  }
});

test('16- and 32-bit reads: signed where the protocol is signed, OIDs and xids unsigned', () => {
  const buf = Buffer.alloc(14);
  buf.writeInt16BE(-2, 0);
  buf.writeInt32BE(-1, 2);
  buf.writeUInt32BE(0xfffffffe, 6);
  buf.writeInt16BE(32767, 10);
  buf.writeUInt16BE(0x8000, 12);
  const r = new BinaryReader();
  r.reset(buf);
  assert.deepEqual(
    [r.int16(), r.int32(), r.uint32(), r.int16(), r.int16()],
    [-2, -1, 0xfffffffe, 32767, -32768],
  );
});

test('slot and publication names are validated before any SQL', () => {
  assert.equal(validateSlotName('reader_1'), 'reader_1');
  for (const bad of ['', 'Reader', 'a-b', 'x'.repeat(64), 'a b', 'a"; DROP TABLE events; --']) {
    assert.throws(() => validateSlotName(bad), InvalidNameError, bad);
  }
  assert.equal(validatePublicationName('slotstream'), 'slotstream');
  for (const bad of ['', '1abc', 'a;b', 'x'.repeat(64)])
    assert.throws(() => validatePublicationName(bad), InvalidNameError, bad);
  assert.equal(quoteIdent('we"ird'), '"we""ird"');
});

test('backoff grows exponentially with jitter, capped, and resets', () => {
  const low = new Backoff(100, 1000, () => 0);
  assert.deepEqual(
    [low.next(), low.next(), low.next(), low.next(), low.next(), low.next()],
    [50, 100, 200, 400, 500, 500],
  );
  low.reset();
  assert.equal(low.next(), 50);
  const high = new Backoff(100, 1000, () => 1);
  assert.deepEqual(
    [high.next(), high.next(), high.next(), high.next(), high.next()],
    [100, 200, 400, 800, 1000],
  );
});

test("a timeline history names where each ancestor's WAL ends; positions rewind to a fork", () => {
  const history =
    '1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tno recovery target specified\n';
  assert.equal(switchPoint(history, 1), parseLsn('0/3000158'));
  assert.equal(switchPoint(history, 2), parseLsn('0/5000000'));
  assert.equal(switchPoint(history, 3), undefined, 'not an ancestor');
  assert.equal(switchPoint('', 1), undefined);

  const positions = new PositionTracker(parseLsn('0/1000000'));
  positions.transactionDelivered(parseLsn('0/4000000'));
  positions.acknowledge(parseLsn('0/4000000'));
  positions.rewind(parseLsn('0/3000158'));
  assert.equal(positions.flush, parseLsn('0/3000158'), 'nothing past the fork counts as confirmed');
  assert.equal(positions.acknowledge(parseLsn('0/4000000')), false, 'nor as delivered');
  positions.rewind(parseLsn('0/5000000'));
  assert.equal(positions.flush, parseLsn('0/3000158'), 'a later fork moves nothing forward');
});
