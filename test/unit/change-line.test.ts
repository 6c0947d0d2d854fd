/** pgoutput messages → the JSON lines of `slotstream tail` / `slots peek` (format in docs/cli.md). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChangeLines, serializeChangeLine } from '../../src/cli/change-line.ts';
import { parseLsn } from '../../src/replication/lsn.ts';
import type { PgoutputMessage, Relation } from '../../src/replication/pgoutput/index.ts';
import { UNCHANGED_TOAST } from '../../src/replication/pgoutput/index.ts';

const events: Relation = {
  oid: 16384,
  schema: 'public',
  name: 'events',
  replicaIdentity: 'd',
  columns: [],
};
const rooms: Relation = { ...events, oid: 16390, name: 'rooms' };
const commitTime = new Date('2026-11-26T10:00:00.000Z');
const begin: PgoutputMessage = {
  tag: 'begin',
  finalLsn: parseLsn('0/16B3800'),
  commitTime,
  commitTimeMicros: 0n,
  xid: 731,
};
const commit: PgoutputMessage = {
  tag: 'commit',
  flags: 0,
  commitLsn: parseLsn('0/16B3800'),
  endLsn: parseLsn('0/16B3830'),
  commitTime,
  commitTimeMicros: 0n,
};
const at = (lsn: string) => parseLsn(lsn);

test('an insert is one line in the documented format, key order included', () => {
  const lines = new ChangeLines();
  assert.deepEqual(lines.lines(begin, at('0/16B3700')), []);
  const [line] = lines.lines(
    { tag: 'insert', xid: undefined, relation: events, new: { stream_ordering: 1n, content: { a: 1 } } },
    at('0/16B3748'),
  );
  assert.ok(line);
  assert.equal(
    serializeChangeLine(line),
    '{"lsn":"0/16B3748","commit_lsn":"0/16B3800","xid":731,"commit_time":"2026-11-26T10:00:00.000Z",' +
      '"table":"public.events","op":"insert","row":{"stream_ordering":"1","content":{"a":1}},"old":null}\n',
  );
  assert.deepEqual(lines.lines(commit, at('0/16B3800')), []);
});

test('update and delete: old is the key, or the old row under REPLICA IDENTITY FULL, or null', () => {
  const lines = new ChangeLines();
  lines.lines(begin, 0n);
  const [plain] = lines.lines(
    {
      tag: 'update',
      xid: undefined,
      relation: events,
      key: null,
      old: null,
      new: { id: 1n, big: UNCHANGED_TOAST },
    },
    1n,
  );
  assert.deepEqual(plain?.row, { id: '1', big: { $unchanged_toast: true } });
  assert.equal(plain?.old, null);
  const [keyed] = lines.lines(
    { tag: 'update', xid: undefined, relation: events, key: { id: 1n }, old: null, new: { id: 2n } },
    2n,
  );
  assert.deepEqual(keyed?.old, { id: '1' });
  const [full] = lines.lines(
    { tag: 'delete', xid: undefined, relation: events, key: null, old: { id: 2n, b: Buffer.from([1]) } },
    3n,
  );
  assert.equal(full?.op, 'delete');
  assert.equal(full?.row, null);
  assert.deepEqual(full?.old, { id: '2', b: '\\x01' });
  const [byKey] = lines.lines(
    { tag: 'delete', xid: undefined, relation: events, key: { id: 3n }, old: null },
    4n,
  );
  assert.deepEqual(byKey?.old, { id: '3' });
});

test('truncate: one line per table', () => {
  const lines = new ChangeLines();
  lines.lines(begin, 0n);
  const out = lines.lines(
    { tag: 'truncate', xid: undefined, relations: [events, rooms], cascade: false, restartIdentity: false },
    at('0/10'),
  );
  assert.deepEqual(
    out.map((l) => [l.table, l.op, l.row, l.old, l.xid]),
    [
      ['public.events', 'truncate', null, null, 731],
      ['public.rooms', 'truncate', null, null, 731],
    ],
  );
});

test('messages carry prefix and content; a non-transactional one has no transaction', () => {
  const lines = new ChangeLines();
  const [alone] = lines.lines(
    {
      tag: 'message',
      xid: undefined,
      transactional: false,
      flags: 0,
      lsn: at('0/20'),
      prefix: 'bin',
      content: Buffer.from([0xff]),
    },
    at('0/20'),
  );
  assert.equal(
    serializeChangeLine(alone ?? assert.fail()),
    '{"lsn":"0/20","commit_lsn":null,"xid":null,"commit_time":null,"table":null,"op":"message","row":null,"old":null,"prefix":"bin","content":"\\\\xff"}\n',
  );
  lines.lines(begin, 0n);
  const [inside] = lines.lines(
    {
      tag: 'message',
      xid: undefined,
      transactional: true,
      flags: 1,
      lsn: at('0/30'),
      prefix: 'caches',
      content: Buffer.from('{"cache":"x"}'),
    },
    at('0/30'),
  );
  assert.equal(inside?.commit_lsn, '0/16B3800');
  assert.equal(inside?.xid, 731);
  assert.equal(inside?.content, '{"cache":"x"}');
});

test('relation, type and origin messages print nothing', () => {
  const lines = new ChangeLines();
  assert.deepEqual(lines.lines({ tag: 'relation', xid: undefined, relation: events }, 0n), []);
  assert.deepEqual(lines.lines({ tag: 'type', xid: undefined, typeOid: 1, schema: 's', name: 'n' }, 0n), []);
  assert.deepEqual(lines.lines({ tag: 'origin', originLsn: 0n, originName: 'o' }, 0n), []);
});
