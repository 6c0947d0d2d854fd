/**
 * The pgoutput parser on real frames captured from PostgreSQL 15 and 18 (test/unit/fixtures/pgoutput, made
 * by scripts/capture-pgoutput-fixtures.ts), for every captured protocol version and streaming mode.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DeleteMessage,
  type InsertMessage,
  type PgoutputMessage,
  PgoutputParser,
  type Row,
  type StreamAbortMessage,
  UNCHANGED_TOAST,
  type UpdateMessage,
} from '../../src/replication/pgoutput/index.ts';
import { type Fixture, frames, loadFixtures } from './fixtures/pgoutput/load.ts';

const fixtures = loadFixtures();
const textFixtures = fixtures.filter((f) => !f.options.binary);

function decode(fixture: Fixture, scenario: string, parser = new PgoutputParser()): PgoutputMessage[] {
  return frames(fixture, scenario).map((b) => parser.parse(b));
}

function dml(messages: PgoutputMessage[], table: string): (InsertMessage | UpdateMessage | DeleteMessage)[] {
  return messages.filter(
    (m): m is InsertMessage | UpdateMessage | DeleteMessage =>
      (m.tag === 'insert' || m.tag === 'update' || m.tag === 'delete') && m.relation.name === table,
  );
}

function insertedRow(messages: PgoutputMessage[], table: string, id: number): Row {
  const m = dml(messages, table).find(
    (x) =>
      x.tag === 'insert' &&
      // In binary mode the int4 id is its 4 raw bytes.
      (x.new.id === id || (Buffer.isBuffer(x.new.id) && x.new.id.readInt32BE(0) === id)),
  );
  assert.ok(m && m.tag === 'insert', `insert of ${table} id ${id}`);
  return m.new;
}

test('fixtures cover PostgreSQL 15 and 18 and protocol versions 1 to 4', () => {
  const ids = fixtures.map((f) => f.id);
  for (const id of [
    'pg15-proto1',
    'pg15-proto2-stream',
    'pg15-proto3-stream',
    'pg18-proto1',
    'pg18-proto4-parallel',
  ])
    assert.ok(ids.includes(id), id);
  assert.deepEqual(
    [...new Set(fixtures.map((f) => Math.floor(f.serverVersionNum / 10000)))].sort(),
    [15, 18],
  );
});

test('every captured frame of every fixture parses, and every message type occurs', () => {
  const seen = new Set<string>();
  for (const f of fixtures) {
    for (const scenario of Object.keys(f.scenarios)) {
      for (const m of decode(f, scenario)) seen.add(m.tag);
    }
  }
  assert.deepEqual([...seen].sort(), [
    'begin',
    'commit',
    'delete',
    'insert',
    'message',
    'origin',
    'relation',
    'stream_abort',
    'stream_commit',
    'stream_start',
    'stream_stop',
    'truncate',
    'type',
    'update',
  ]);
});

for (const f of textFixtures) {
  describe(`${f.id} (${f.server.split(' on ')[0]})`, () => {
    test('values: typical row', () => {
      const ms = decode(f, 'values');
      const begin = ms[0];
      assert.equal(begin?.tag, 'begin');
      const rel = ms[1];
      assert.ok(rel?.tag === 'relation');
      assert.equal(rel.relation.schema, 'public');
      assert.equal(rel.relation.name, 'vals');
      assert.equal(rel.relation.replicaIdentity, 'd');
      assert.deepEqual(rel.relation.columns[0], { name: 'id', typeOid: 23, typeMod: -1, isKey: true });
      assert.deepEqual(rel.relation.columns[9], { name: 'vc', typeOid: 1043, typeMod: 24, isKey: false });
      const r = insertedRow(ms, 'vals', 1);
      assert.equal(r.b, true);
      assert.equal(r.i2, 1);
      assert.equal(r.i4, 2);
      assert.equal(r.i8, 3n);
      assert.equal(r.f4, 1.5);
      assert.equal(r.f8, 2.25);
      assert.equal(r.num, '123.45');
      assert.equal(r.t, 'hello');
      assert.equal(r.vc, 'vc');
      assert.equal(r.bp, 'ab   ');
      assert.equal(r.nm, 'nm');
      assert.deepEqual(r.j, { a: 1, b: [true, null] });
      assert.deepEqual(r.jb, { k: 'v', n: 1.5 });
      assert.deepEqual(r.by, Buffer.from('deadbeef', 'hex'));
      assert.equal(r.u, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
      assert.equal(r.d, '2024-02-29');
      assert.deepEqual(r.ts, new Date('2024-02-29T12:34:56.123Z'));
      // Decoded in TimeZone Asia/Kolkata (+05:30): the offset is honoured.
      assert.deepEqual(r.tstz, new Date('2024-02-29T10:34:56.123Z'));
      assert.deepEqual(r.ab, [true, false]);
      assert.deepEqual(r.ai2, [1, -2]);
      assert.deepEqual(r.ai4, [3, 4]);
      assert.deepEqual(r.ai8, [5n, 6n]);
      assert.deepEqual(r.af4, [1.5, -2.5]);
      assert.deepEqual(r.af8, [3.25]);
      assert.deepEqual(r.anum, ['1.1', '2.2']);
      assert.deepEqual(r.at, ['a', 'b']);
      assert.deepEqual(r.avc, ['c']);
      assert.deepEqual(r.abp, ['d']);
      assert.deepEqual(r.aj, [{ x: 1 }, [1, 2]]);
      assert.deepEqual(r.ajb, [{ y: 2 }]);
      assert.deepEqual(r.aby, [Buffer.from([1, 2])]);
      assert.deepEqual(r.au, ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']);
      assert.deepEqual(r.ad, ['2024-01-01', '2024-12-31']);
      assert.deepEqual(r.ats, [new Date('2024-01-01T00:00:00.500Z')]);
      assert.deepEqual(r.atstz, [new Date('2024-01-01T00:00:00Z')]);
      assert.deepEqual(r.anm, ['nm1', 'nm2']);
      assert.equal(r.iv, '1 day 02:03:04');
      assert.equal(r.o, 4000000000);
      assert.equal(r.c, 'x');
    });

    test('values: all NULL', () => {
      const r = insertedRow(decode(f, 'values'), 'vals', 2);
      assert.equal(Object.keys(r).length, 40);
      for (const [k, v] of Object.entries(r)) if (k !== 'id') assert.equal(v, null, k);
    });

    test('values: edge values', () => {
      const r = insertedRow(decode(f, 'values'), 'vals', 3);
      assert.equal(r.b, false);
      assert.equal(r.i2, -32768);
      assert.equal(r.i4, -2147483648);
      assert.equal(r.i8, 9007199254740993n);
      assert.ok(Number.isNaN(r.f4));
      assert.equal(r.f8, Number.NEGATIVE_INFINITY);
      assert.equal(r.num, '12345678901234567890123456789.123456789012345678901234567890');
      assert.equal(r.t, 'héllo wörld — 日本語 🎉 "quoted" \\ back');
      assert.equal(r.vc, '');
      assert.equal(r.bp, '     ');
      assert.equal(r.nm, '');
      assert.equal(r.j, null); // the JSON value null, not SQL NULL
      assert.equal(r.jb, 'str');
      assert.deepEqual(r.by, Buffer.alloc(0));
      assert.equal(r.d, 'infinity');
      assert.equal(r.ts, '-infinity');
      assert.equal(r.tstz, 'infinity');
      assert.deepEqual(r.ab, [null, true]);
      assert.deepEqual(r.ai2, [
        [1, 2],
        [3, 4],
      ]);
      assert.deepEqual(r.ai4, [5, 6]); // [0:1]= lower bounds dropped
      assert.deepEqual(r.ai8, [-9223372036854775808n, 9223372036854775807n]);
      assert.deepEqual(r.af4, [Number.NaN, Number.POSITIVE_INFINITY]);
      assert.deepEqual(r.af8, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1e-300]);
      assert.ok(Object.is((r.af8 as number[])[3], -0));
      assert.deepEqual(r.anum, ['NaN', '1.0000000000000000000001']);
      assert.deepEqual(r.at, ['a,b', 'say "hi"', 'back\\slash', '', 'NULL', null, ' sp ', '{br}', 'ü']);
      assert.deepEqual(r.avc, []);
      assert.deepEqual(r.abp, ['ab   ', null]);
      assert.deepEqual(r.aj, ['s', null, null]);
      assert.deepEqual(r.ajb, [{ a: 'b,c' }]);
      assert.deepEqual(r.aby, [Buffer.from([0, 255]), null, Buffer.alloc(0)]);
      assert.deepEqual(r.au, []);
      assert.deepEqual(r.ad, ['infinity', '-infinity', null]);
      assert.deepEqual(r.ats, ['infinity']);
      assert.deepEqual(r.atstz, [new Date('2024-06-01T04:30:00.000Z')]);
      assert.equal(r.iv, '-1 mons');
      assert.equal(r.o, 0);
    });

    test('values: extremes, BC dates, historical offsets, numeric infinity', () => {
      const ms = decode(f, 'values');
      const r = insertedRow(ms, 'vals', 4);
      assert.equal(r.i2, 32767);
      assert.equal(r.i4, 2147483647);
      assert.equal(r.i8, -9223372036854775808n);
      assert.equal(r.f4, 3.4028235e38);
      assert.equal(r.f8, 1e308);
      assert.equal(r.num, '-0.000000000000000000000000000001');
      assert.equal(r.t, 'Infinity');
      assert.deepEqual(r.j, []);
      assert.deepEqual(r.jb, {});
      assert.deepEqual(r.by, Buffer.from([0]));
      assert.equal(r.d, '0044-03-15 BC');
      const year1 = new Date(Date.UTC(2000, 0, 1));
      year1.setUTCFullYear(1);
      assert.deepEqual(r.ts, year1);
      // Printed in Asia/Kolkata as 1900-01-01 05:53:28.000001+05:53:28 (local mean time: seconds in the offset).
      assert.deepEqual(r.tstz, new Date('1900-01-01T00:00:00.000Z'));
      assert.deepEqual(r.ab, [[[true]]]);
      assert.deepEqual(r.ai4, [[1], [2]]);
      assert.deepEqual(r.af8, [1e308, -1e-308]);
      assert.deepEqual(r.anum, ['-Infinity']);
      assert.deepEqual(r.ad, ['0044-03-15 BC']);
      assert.deepEqual(r.ats, [new Date(0)]);
      const upd = dml(ms, 'vals').find((m) => m.tag === 'update');
      assert.ok(upd?.tag === 'update');
      assert.equal(upd.key, null);
      assert.equal(upd.old, null);
      assert.equal(upd.new.num, 'Infinity');
      assert.equal(upd.new.f4, Number.POSITIVE_INFINITY);
    });

    test('begin/commit: LSNs, xid, times', () => {
      const ms = decode(f, 'dml');
      const captured = f.scenarios.dml?.frames ?? [];
      const begin = ms[0];
      const commitIndex = ms.findIndex((m) => m.tag === 'commit');
      const commit = ms[commitIndex];
      assert.ok(begin?.tag === 'begin' && commit?.tag === 'commit');
      assert.equal(begin.xid, Number(captured[0]?.xid));
      assert.equal(begin.finalLsn, commit.commitLsn);
      assert.ok(commit.endLsn > commit.commitLsn);
      assert.equal(commit.flags, 0);
      assert.equal(begin.commitTimeMicros, commit.commitTimeMicros);
      assert.deepEqual(begin.commitTime, commit.commitTime);
      // Captured after 2024 and before the fixture files were written.
      assert.ok(
        commit.commitTime.getTime() > Date.UTC(2024, 0, 1) && commit.commitTime.getTime() < Date.now(),
      );
      assert.equal(
        BigInt(commit.commitTime.getTime()),
        (commit.commitTimeMicros + 946_684_800_000_000n) / 1000n,
      );
    });

    test('update and delete: no old tuple, K form, O form, identity index', () => {
      const ms = decode(f, 'dml');
      const ident = dml(ms, 'ident');
      assert.deepEqual(
        ident.map((m) => m.tag),
        ['insert', 'insert', 'update', 'update', 'delete'],
      );
      const [, , u1, u2, d1] = ident as [unknown, unknown, UpdateMessage, UpdateMessage, DeleteMessage];
      assert.equal(u1.key, null);
      assert.equal(u1.old, null);
      assert.deepEqual(u1.new, { id: 1, v: 'uno', w: 10 });
      assert.deepEqual(u2.key, { id: 2 }); // only the identity columns
      assert.equal(u2.old, null);
      assert.deepEqual(u2.new, { id: 3, v: 'two', w: 20 });
      assert.deepEqual(d1.key, { id: 1 });
      assert.equal(d1.old, null);

      const full = dml(ms, 'full_ident') as [InsertMessage, UpdateMessage, DeleteMessage];
      assert.equal(full[1].relation.replicaIdentity, 'f');
      assert.equal(full[1].key, null);
      assert.deepEqual(full[1].old, { id: 1, v: 'a', w: null });
      assert.deepEqual(full[1].new, { id: 1, v: 'b', w: 5 });
      assert.equal(full[2].key, null);
      assert.deepEqual(full[2].old, { id: 1, v: 'b', w: 5 });

      const idx = dml(ms, 'idx_ident') as [InsertMessage, UpdateMessage, DeleteMessage];
      assert.equal(idx[0].relation.replicaIdentity, 'i');
      assert.deepEqual(
        idx[0].relation.columns.map((c) => c.isKey),
        [true, true, false],
      );
      assert.deepEqual(idx[1].key, { a: 1, b: 'k' });
      assert.deepEqual(idx[1].new, { a: 2, b: 'k', c: 'y' });
      assert.deepEqual(idx[2].key, { a: 2, b: 'k' });
    });

    test('truncate: plain, and CASCADE + RESTART IDENTITY over two relations', () => {
      const ts = decode(f, 'truncate').filter((m) => m.tag === 'truncate');
      assert.equal(ts.length, 2);
      const [plain, cascade] = ts;
      assert.ok(plain?.tag === 'truncate' && cascade?.tag === 'truncate');
      assert.deepEqual(
        plain.relations.map((r) => r.name),
        ['ident'],
      );
      assert.equal(plain.cascade, false);
      assert.equal(plain.restartIdentity, false);
      assert.deepEqual(
        cascade.relations.map((r) => r.name),
        ['parent', 'child'],
      );
      assert.equal(cascade.cascade, true);
      assert.equal(cascade.restartIdentity, true);
    });

    test('logical messages: transactional and not, binary and empty content', () => {
      const ms = decode(f, 'messages');
      const msgs = ms.filter((m) => m.tag === 'message');
      assert.equal(msgs.length, 3);
      const [tx, nt, only] = msgs;
      assert.ok(tx?.tag === 'message' && nt?.tag === 'message' && only?.tag === 'message');
      assert.equal(ms[0]?.tag, 'begin'); // the transactional one is inside its transaction
      assert.equal(tx.transactional, true);
      assert.equal(tx.prefix, 'tx-prefix');
      assert.equal(tx.content.toString(), 'hello');
      assert.equal(tx.xid, undefined);
      assert.equal(nt.transactional, false);
      assert.equal(nt.flags, 0);
      assert.equal(nt.prefix, 'nt-prefix');
      assert.deepEqual(nt.content, Buffer.from([0x00, 0xff, 0x80]));
      assert.ok(nt.lsn > tx.lsn);
      // The non-transactional message stands alone, between two transactions.
      const ntIndex = ms.indexOf(nt);
      assert.equal(ms[ntIndex - 1]?.tag, 'commit');
      assert.equal(ms[ntIndex + 1]?.tag, 'begin');
      assert.equal(only.prefix, 'only');
      assert.deepEqual(only.content, Buffer.alloc(0));
    });

    test('origin', () => {
      const ms = decode(f, 'origin');
      assert.deepEqual(
        ms.map((m) => m.tag),
        ['begin', 'origin', 'relation', 'insert', 'commit'],
      );
      assert.deepEqual(ms[1], { tag: 'origin', originLsn: 0xabcdefn, originName: 'upstream_a' });
    });

    test('Type messages for enum, domain and enum[]; the domain decodes like its base type', () => {
      const ms = decode(f, 'custom_types');
      const types = ms.filter((m) => m.tag === 'type');
      assert.equal(types.length, 3);
      const byName = Object.fromEntries(types.map((t) => (t.tag === 'type' ? [t.name, t] : [])));
      assert.equal(byName.mood?.schema, 'public');
      assert.equal(byName._mood?.schema, 'public');
      // For a domain pgoutput sends the BASE type's name, with an empty schema for pg_catalog.
      assert.equal(byName.int4?.schema, '');
      const r = insertedRow(ms, 'custom', 1);
      assert.deepEqual(r, { id: 1, mood: 'happy', pos: 5, moods: '{sad,happy}' });
    });

    test('unchanged TOAST is the UNCHANGED_TOAST sentinel; REPLICA IDENTITY FULL sends the old value', () => {
      const ms = decode(f, 'toast');
      const [ins, upd, upd2] = dml(ms, 'toasty') as [InsertMessage, UpdateMessage, UpdateMessage];
      assert.equal(typeof ins.new.big, 'string');
      assert.equal((ins.new.big as string).length, 3200);
      assert.equal(upd.new.big, UNCHANGED_TOAST);
      assert.equal(upd.new.small, 2);
      assert.equal(JSON.stringify(upd.new), '{"id":1,"big":{"$unchanged_toast":true},"small":2}');
      assert.equal(upd2.new.big, 'short');
      const [insF, updF] = dml(ms, 'toasty_full') as [InsertMessage, UpdateMessage];
      assert.equal(updF.old?.big, insF.new.big);
      assert.equal(updF.new.big, UNCHANGED_TOAST);
    });

    test('ALTER TABLE mid-stream: the new Relation replaces the old one, also inside a transaction', () => {
      const ms = decode(f, 'alter');
      const rows = dml(ms, 'evolve').map((m) => (m.tag === 'insert' ? m.new : null));
      assert.deepEqual(rows, [
        { id: 1, a: 'one' },
        { id: 2, a: 'two', b: 9007199254740993n },
        { id: 3, a: 'three', b: 3n },
        { id: 4, a: 'four', b: 4n, c: 'c4' },
        { id: 5, b: 5n, c: 'c5' },
      ]);
      const rels = ms.filter((m) => m.tag === 'relation');
      assert.equal(rels.length, 4);
      assert.ok(new Set(rels.map((r) => (r.tag === 'relation' ? r.relation.oid : 0))).size === 1);
      const last = dml(ms, 'evolve').at(-1);
      assert.deepEqual(
        last?.relation.columns.map((c) => c.name),
        ['id', 'b', 'c'],
      );
    });
  });
}

const streamFixtures = textFixtures.filter((f) => f.options.streaming !== 'off');

for (const f of streamFixtures) {
  describe(`${f.id} streaming`, () => {
    test('streamed commit: blocks, xid on every change, Relation re-sent per block, message and truncate', () => {
      const parser = new PgoutputParser({ streaming: f.options.streaming });
      const ms = decode(f, 'stream_commit', parser);
      const start = ms[0];
      assert.ok(start?.tag === 'stream_start');
      assert.equal(start.firstSegment, true);
      const xid = start.xid;
      const starts = ms.filter((m) => m.tag === 'stream_start');
      assert.ok(starts.length >= 2, 'streamed in several blocks');
      assert.deepEqual(
        starts.map((s) => s.tag === 'stream_start' && s.firstSegment),
        [true, ...Array(starts.length - 1).fill(false)],
      );
      assert.equal(ms.filter((m) => m.tag === 'stream_stop').length, starts.length);
      let inBlock = false;
      for (const m of ms) {
        if (m.tag === 'stream_start') inBlock = true;
        else if (m.tag === 'stream_stop') inBlock = false;
        else if (m.tag !== 'stream_commit') {
          assert.ok(inBlock, m.tag);
          assert.equal('xid' in m ? m.xid : -1, xid, m.tag);
        }
      }
      const inserts = ms.filter((m) => m.tag === 'insert');
      assert.equal(inserts.length, 600);
      assert.deepEqual(inserts[0]?.tag === 'insert' && inserts[0].new, { id: 1, pad: 'p'.repeat(40) });
      assert.deepEqual(inserts[599]?.tag === 'insert' && inserts[599].new, {
        id: 600,
        pad: 'q'.repeat(40),
        extra: 600,
      });
      const message = ms.find((m) => m.tag === 'message');
      assert.ok(message?.tag === 'message');
      assert.equal(message.prefix, 'in-stream');
      assert.equal(message.xid, xid);
      const truncate = ms.find((m) => m.tag === 'truncate');
      assert.ok(truncate?.tag === 'truncate');
      assert.equal(truncate.relations[0]?.name, 'other');
      const commit = ms.at(-1);
      assert.ok(commit?.tag === 'stream_commit');
      assert.equal(commit.xid, xid);
      assert.ok(commit.endLsn > commit.commitLsn);
      assert.equal(parser.inStream, false);
    });

    test('streamed abort of the whole transaction', () => {
      const parser = new PgoutputParser({ streaming: f.options.streaming });
      const ms = decode(f, 'stream_abort', parser);
      const start = ms[0];
      assert.ok(start?.tag === 'stream_start');
      const abort = ms.at(-1) as StreamAbortMessage;
      assert.equal(abort.tag, 'stream_abort');
      assert.equal(abort.xid, start.xid);
      assert.equal(abort.subxid, start.xid);
      assertAbortInfo(f, abort);
      assert.ok(ms.filter((m) => m.tag === 'insert').length > 0);
    });

    test('streamed subtransaction abort: subxid differs, later changes carry their own subxid', () => {
      const parser = new PgoutputParser({ streaming: f.options.streaming });
      const ms = decode(f, 'stream_subxact_abort', parser);
      const start = ms[0];
      assert.ok(start?.tag === 'stream_start');
      const abort = ms.find((m) => m.tag === 'stream_abort');
      assert.ok(abort?.tag === 'stream_abort');
      assert.equal(abort.xid, start.xid);
      assert.notEqual(abort.subxid, abort.xid);
      assertAbortInfo(f, abort);
      const inserts = ms.filter((m): m is InsertMessage => m.tag === 'insert');
      const aborted = inserts.filter((m) => m.xid === abort.subxid);
      // Only the part streamed before ROLLBACK TO arrives (the rest was discarded unsent).
      assert.ok(aborted.length > 0 && aborted.length <= 600);
      assert.ok(aborted.every((m) => (m.new.id as number) >= 3000 && (m.new.id as number) < 3600));
      assert.deepEqual(
        inserts.filter((m) => m.xid === start.xid).map((m) => m.new.id),
        Array.from({ length: 50 }, (_, i) => 2000 + i),
      );
      // After ROLLBACK TO, the savepoint is re-established: a third (sub)transaction id.
      const after = inserts.filter((m) => m.xid !== start.xid && m.xid !== abort.subxid);
      assert.deepEqual(
        after.map((m) => m.new.id),
        Array.from({ length: 10 }, (_, i) => 4000 + i),
      );
      const commit = ms.at(-1);
      assert.ok(commit?.tag === 'stream_commit');
      assert.equal(commit.xid, start.xid);
    });
  });
}

function assertAbortInfo(f: Fixture, abort: StreamAbortMessage): void {
  if (f.options.streaming === 'parallel') {
    assert.ok(abort.abortLsn !== null && abort.abortLsn > 0n);
    assert.ok(abort.abortTime instanceof Date && abort.abortTime.getTime() > Date.UTC(2024, 0, 1));
    assert.equal(typeof abort.abortTimeMicros, 'bigint');
  } else {
    assert.equal(abort.abortLsn, null);
    assert.equal(abort.abortTime, null);
    assert.equal(abort.abortTimeMicros, null);
  }
}

test('stream abort: the same frames parse without the streaming option (length decides)', () => {
  for (const f of streamFixtures) {
    const abort = decode(f, 'stream_abort').at(-1);
    assert.ok(abort?.tag === 'stream_abort');
    assertAbortInfo(f, abort);
  }
});

for (const f of fixtures.filter((x) => x.options.binary)) {
  test(`${f.id}: binary tuple values come back as raw bytes`, () => {
    const ms = decode(f, 'values');
    const r = insertedRow(ms, 'vals', 3);
    assert.deepEqual(r.i4, Buffer.from([0x80, 0, 0, 0]));
    const i8 = Buffer.alloc(8);
    i8.writeBigInt64BE(9007199254740993n);
    assert.deepEqual(r.i8, i8);
    assert.deepEqual(r.t, Buffer.from('héllo wörld — 日本語 🎉 "quoted" \\ back'));
    assert.equal(r.u instanceof Buffer && r.u.length, 16);
    const nulls = insertedRow(ms, 'vals', 2);
    assert.equal(nulls.i4, null);
    // Key form in binary mode keeps only the identity columns too.
    const upd = dml(decode(f, 'dml'), 'ident').find((m) => m.tag === 'update' && m.key);
    assert.ok(upd?.tag === 'update');
    assert.deepEqual(upd.key, { id: Buffer.from([0, 0, 0, 2]) });
  });
}

test('DML values never alias the input buffer', () => {
  const f = fixtures.find((x) => x.id === 'pg18-proto1-binary');
  assert.ok(f);
  const parser = new PgoutputParser();
  const bufs = frames(f, 'values');
  const ms = bufs.map((b) => parser.parse(b));
  for (const b of bufs) b.fill(0);
  assert.deepEqual(insertedRow(ms, 'vals', 1).i4, Buffer.from([0, 0, 0, 2]));
});

test('adoptRelations takes over the relations another parser knows', () => {
  const f = fixtures.find((x) => x.id === 'pg18-proto1');
  assert.ok(f);
  const [begin, rel, ins] = frames(f, 'dml') as [Buffer, Buffer, Buffer];
  const a = new PgoutputParser();
  a.parse(begin);
  a.parse(rel);
  const b = new PgoutputParser();
  assert.throws(() => b.parse(ins), /has not been described by a Relation message/);
  b.adoptRelations(a);
  const m = b.parse(ins);
  assert.ok(m.tag === 'insert');
  assert.equal(m.relation, a.relation(m.relation.oid));
});

test('parse(buf, start, end) decodes a message inside a larger buffer (XLogData)', () => {
  const f = fixtures.find((x) => x.id === 'pg15-proto1');
  assert.ok(f);
  const framedParser = new PgoutputParser();
  const plainParser = new PgoutputParser();
  for (const b of frames(f, 'dml')) {
    const framed = Buffer.concat([Buffer.alloc(25, 0x77), b, Buffer.from([1, 2, 3])]);
    assert.deepEqual(framedParser.parse(framed, 25, 25 + b.length), plainParser.parse(b));
  }
});
