/** Malformed pgoutput input: every failure is a MalformedMessageError naming the tag and the byte offset. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MalformedMessageError } from '../../src/replication/errors.ts';
import {
  BinaryReader,
  describeTag,
  type PgoutputMessage,
  PgoutputParser,
} from '../../src/replication/pgoutput/index.ts';
import { frames, loadFixture } from './fixtures/pgoutput/load.ts';

/** A parser that has seen every Relation/Type message and stream state before `index`. */
function primed(all: Buffer[], index: number, options = {}): PgoutputParser {
  const p = new PgoutputParser(options);
  for (let i = 0; i < index; i++) p.parse(all[i] as Buffer);
  return p;
}

function tagOf(m: PgoutputMessage): string {
  return m.tag;
}

function isMalformed(tag: string, offset?: number) {
  return (err: unknown) => {
    assert.ok(err instanceof MalformedMessageError, String(err));
    assert.equal(err.tag, tag);
    if (offset !== undefined) assert.equal(err.offset, offset);
    assert.match(err.message, new RegExp(`offset ${err.offset}`));
    return true;
  };
}

const TAG_NAMES: Record<string, string> = {
  begin: 'B (0x42)',
  commit: 'C (0x43)',
  origin: 'O (0x4f)',
  relation: 'R (0x52)',
  type: 'Y (0x59)',
  insert: 'I (0x49)',
  update: 'U (0x55)',
  delete: 'D (0x44)',
  truncate: 'T (0x54)',
  message: 'M (0x4d)',
  stream_start: 'S (0x53)',
  stream_commit: 'c (0x63)',
  stream_abort: 'A (0x41)',
};

test('a real frame truncated at every byte boundary gives MalformedMessageError with tag and offset', () => {
  const cases: [string, string, string?][] = [
    ['pg18-proto1', 'values'],
    ['pg15-proto1', 'dml'],
    ['pg18-proto1', 'truncate'],
    ['pg18-proto1', 'messages'],
    ['pg18-proto1', 'origin'],
    ['pg18-proto1', 'custom_types'],
    ['pg18-proto4-parallel', 'stream_subxact_abort', 'parallel'],
    ['pg15-proto2-stream', 'stream_subxact_abort', 'on'],
  ];
  let checked = 0;
  const tags = new Set<string>();
  for (const [id, scenario, streaming] of cases) {
    const all = frames(loadFixture(id), scenario);
    const options = streaming ? { streaming } : {};
    for (let i = 0; i < all.length; i++) {
      const full = all[i] as Buffer;
      if (full[0] === 0x49 && i > 12) continue; // enough inserts
      const m = primed(all, i, options).parse(full);
      if (m.tag === 'stream_stop') continue; // a single byte: no shorter form
      tags.add(m.tag);
      for (let len = 0; len < full.length; len++) {
        const p = primed(all, i, options);
        const expectedTag = len === 0 ? '(none)' : TAG_NAMES[tagOf(m)];
        assert.throws(
          () => p.parse(full.subarray(0, len)),
          (err: unknown) => {
            assert.ok(err instanceof MalformedMessageError, `${id}/${scenario}#${i} at ${len}: ${err}`);
            assert.equal(err.tag, expectedTag);
            assert.ok(err.offset >= 0 && err.offset <= len, `offset ${err.offset} within ${len}`);
            return true;
          },
          `${id}/${scenario} frame ${i} (${m.tag}) cut to ${len} of ${full.length} bytes`,
        );
        checked++;
      }
    }
  }
  assert.ok(checked > 1000, `checked ${checked}`);
  for (const t of Object.keys(TAG_NAMES)) if (t !== 'commit' && t !== 'begin') assert.ok(tags.has(t), t);
});

test('trailing bytes after a complete message are an error', () => {
  const [begin] = frames(loadFixture('pg18-proto1'), 'dml');
  assert.ok(begin);
  assert.throws(
    () => new PgoutputParser().parse(Buffer.concat([begin, Buffer.from([0])])),
    isMalformed('B (0x42)', 21),
  );
});

test('unknown tag', () => {
  assert.throws(
    () => new PgoutputParser().parse(Buffer.from([0x5a, 0, 0])),
    (err: unknown) => {
      assert.ok(err instanceof MalformedMessageError);
      assert.equal(err.tag, 'Z (0x5a)');
      assert.equal(err.offset, 0);
      assert.match(err.message, /unknown message tag Z \(0x5a\)/);
      return true;
    },
  );
  assert.throws(() => new PgoutputParser().parse(Buffer.from([0x01])), isMalformed('0x01', 0));
  assert.throws(() => new PgoutputParser().parse(Buffer.alloc(0)), isMalformed('(none)', 0));
});

test('unknown tuple kind, update sub-tag, delete sub-tag, replica identity', () => {
  const all = frames(loadFixture('pg18-proto1'), 'dml');
  const [, rel, ins] = all as [Buffer, Buffer, Buffer];
  // Insert: 'I', oid(4), 'N', ncols(2), then the first column's kind at offset 8.
  const badKind = Buffer.from(ins);
  assert.equal(badKind[8], 0x74);
  badKind[8] = 0x78; // 'x'
  assert.throws(
    () => primed(all, 2).parse(badKind),
    (err: unknown) => {
      assert.ok(err instanceof MalformedMessageError);
      assert.equal(err.tag, 'I (0x49)');
      assert.equal(err.offset, 8);
      assert.match(err.message, /unknown tuple column kind x \(0x78\) for column "id"/);
      return true;
    },
  );
  const badNew = Buffer.from(ins);
  badNew[5] = 0x51; // 'Q' instead of 'N'
  assert.throws(() => primed(all, 2).parse(badNew), isMalformed('I (0x49)', 5));
  const upd = all.find((b, i) => b[0] === 0x55 && i > 2) as Buffer;
  const badUpd = Buffer.from(upd);
  badUpd[5] = 0x51;
  assert.throws(
    () => primed(all, 2).parse(badUpd),
    /unknown update sub-tag Q \(0x51\) \(expected K, O or N\)/,
  );
  const del = all.find((b) => b[0] === 0x44) as Buffer;
  const badDel = Buffer.from(del);
  badDel[5] = 0x4e; // 'N' is not valid for a delete
  assert.throws(() => primed(all, 2).parse(badDel), /unknown delete sub-tag N/);
  const badRel = Buffer.from(rel);
  const identAt = rel.indexOf(0, rel.indexOf(0, 5) + 1) + 1; // after schema and name
  badRel[identAt] = 0x7a;
  assert.throws(() => new PgoutputParser().parse(badRel), isMalformed('R (0x52)', identAt));
});

test('DML for a relation never described', () => {
  const [, , ins] = frames(loadFixture('pg18-proto1'), 'dml') as [Buffer, Buffer, Buffer];
  assert.throws(
    () => new PgoutputParser().parse(ins),
    (err: unknown) => {
      assert.ok(err instanceof MalformedMessageError);
      assert.equal(err.tag, 'I (0x49)');
      assert.equal(err.offset, 1);
      assert.match(err.message, new RegExp(`relation OID ${ins.readUInt32BE(1)} has not been described`));
      return true;
    },
  );
});

test('a column count that differs from the relation, and an invalid value, are errors', () => {
  const all = frames(loadFixture('pg18-proto1'), 'dml');
  const ins = Buffer.from(all[2] as Buffer);
  ins.writeInt16BE(2, 6);
  assert.throws(() => primed(all, 2).parse(ins), /tuple has 2 column\(s\) but relation public.ident/);
  const bad = Buffer.from(all[2] as Buffer);
  // id column: 't', len 4? The first value is "1": make it "x".
  const at = 6 + 2 + 1 + 4;
  assert.equal(bad.toString('latin1', at, at + 1), '1');
  bad[at] = 0x78;
  assert.throws(() => primed(all, 2).parse(bad), isMalformed('I (0x49)', at));
  assert.throws(() => primed(all, 2).parse(bad), /column "id" \(type OID 23\): invalid integer value "x"/);
});

test('stream state violations and the strict streaming option', () => {
  const all = frames(loadFixture('pg18-proto4-parallel'), 'stream_abort');
  const start = all[0] as Buffer;
  const stop = all.find((b) => b[0] === 0x45) as Buffer;
  const abort = all.at(-1) as Buffer;
  assert.equal(abort.length, 25);
  const p = new PgoutputParser();
  assert.throws(() => p.parse(stop), /Stream Stop outside a Stream Start block/);
  p.parse(start);
  assert.throws(() => p.parse(start), /Stream Start inside a Stream Start block/);
  // Told streaming is 'on', a 25-byte Stream Abort has 16 bytes too many.
  assert.throws(() => new PgoutputParser({ streaming: 'on' }).parse(abort), /16 unexpected trailing byte/);
  // Told 'parallel', the 9-byte form is truncated.
  assert.throws(
    () => new PgoutputParser({ streaming: 'parallel' }).parse(abort.subarray(0, 9)),
    isMalformed('A (0x41)', 9),
  );
});

test('BinaryReader: bounds, unsigned OIDs, release', () => {
  const r = new BinaryReader();
  r.reset(Buffer.from([0x42, 0xff, 0xff, 0xff, 0xfe, 0x61, 0x00, 0x99]), 0, 7);
  r.tag = describeTag(r.uint8());
  assert.equal(r.tag, 'B (0x42)');
  assert.equal(r.uint32(), 4294967294); // OIDs are unsigned
  assert.equal(r.cstring(), 'a');
  assert.equal(r.remaining, 0);
  assert.throws(() => r.uint8(), isMalformed('B (0x42)', 7));
  r.reset(Buffer.from([0x61, 0x62]));
  assert.throws(() => r.cstring(), /string without a NUL terminator/);
  r.release();
  assert.equal(r.buf.length, 0);
});
