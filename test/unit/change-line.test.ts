/** pgoutput messages → the JSON lines of `slotstream tail` / `slots peek` (format in docs/cli.md). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChangeLines } from '../../src/cli/change-line.ts';
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
/** The JSON objects of some lines of text. */
const parse = (text: string) =>
  text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test('an insert is one line in the documented format, key order included', () => {
  const lines = new ChangeLines();
  assert.equal(lines.text(begin, at('0/16B3700')), '');
  assert.equal(
    lines.text(
      { tag: 'insert', xid: undefined, relation: events, new: { stream_ordering: 1n, content: { a: 1 } } },
      at('0/16B3748'),
    ),
    '{"lsn":"0/16B3748","commit_lsn":"0/16B3800","xid":731,"commit_time":"2026-11-26T10:00:00.000Z",' +
      '"table":"public.events","op":"insert","row":{"stream_ordering":"1","content":{"a":1}},"old":null}\n',
  );
  assert.equal(lines.text(commit, at('0/16B3800')), '');
});

test('update and delete: old is the key, or the old row under REPLICA IDENTITY FULL, or null', () => {
  const lines = new ChangeLines();
  lines.text(begin, 0n);
  const [plain] = parse(
    lines.text(
      {
        tag: 'update',
        xid: undefined,
        relation: events,
        key: null,
        old: null,
        new: { id: 1n, big: UNCHANGED_TOAST },
      },
      1n,
    ),
  );
  assert.deepEqual(plain?.row, { id: '1', big: { $unchanged_toast: true } });
  assert.equal(plain?.old, null);
  const [keyed] = parse(
    lines.text(
      { tag: 'update', xid: undefined, relation: events, key: { id: 1n }, old: null, new: { id: 2n } },
      2n,
    ),
  );
  assert.deepEqual(keyed?.old, { id: '1' });
  const [full] = parse(
    lines.text(
      { tag: 'delete', xid: undefined, relation: events, key: null, old: { id: 2n, b: Buffer.from([1]) } },
      3n,
    ),
  );
  assert.equal(full?.op, 'delete');
  assert.equal(full?.row, null);
  assert.deepEqual(full?.old, { id: '2', b: '\\x01' });
  const [byKey] = parse(
    lines.text({ tag: 'delete', xid: undefined, relation: events, key: { id: 3n }, old: null }, 4n),
  );
  assert.deepEqual(byKey?.old, { id: '3' });
});

test('truncate: one line per table', () => {
  const lines = new ChangeLines();
  lines.text(begin, 0n);
  const out = parse(
    lines.text(
      { tag: 'truncate', xid: undefined, relations: [events, rooms], cascade: false, restartIdentity: false },
      at('0/10'),
    ),
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
  const alone = lines.text(
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
    alone,
    '{"lsn":"0/20","commit_lsn":null,"xid":null,"commit_time":null,"table":null,"op":"message","row":null,"old":null,"prefix":"bin","content":"\\\\xff"}\n',
  );
  lines.text(begin, 0n);
  const [inside] = parse(
    lines.text(
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
    ),
  );
  assert.equal(inside?.commit_lsn, '0/16B3800');
  assert.equal(inside?.xid, 731);
  assert.equal(inside?.content, '{"cache":"x"}');
});

test('relation, type and origin messages print nothing', () => {
  const lines = new ChangeLines();
  assert.equal(lines.text({ tag: 'relation', xid: undefined, relation: events }, 0n), '');
  assert.equal(lines.text({ tag: 'type', xid: undefined, typeOid: 1, schema: 's', name: 'n' }, 0n), '');
  assert.equal(lines.text({ tag: 'origin', originLsn: 0n, originName: 'o' }, 0n), '');
});

test('a line is exactly what JSON.stringify makes of the change: key order, escapes, every kind of value', () => {
  const lines = new ChangeLines();
  lines.text(begin, 0n);
  const odd: Relation = { ...events, name: 'we"ird\ntable' };
  const row = {
    b: 'quote " backslash \\ newline \n tab \t nul \u0000 lone \ud800 emoji 😀',
    '2': 2.5,
    a: -0,
    '10': true,
    'col "x"': null,
    nan: Number.NaN,
    inf: Number.NEGATIVE_INFINITY,
    ts: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
    bad: new Date(Number.NaN),
    bytes: Buffer.from([0, 255]),
    arr: [1n, null, [Buffer.from([1]), 'x"y'], { deep: [1, 'z'] }],
    doc: { n: 1, s: 'é\n', list: [true, null] },
    toast: UNCHANGED_TOAST,
  };
  // The same values made JSON-safe; JSON.stringify prints both in JavaScript's key order (integer-like
  // names first: "2", "10", "b", …), which the line must keep.
  const expectedRow = {
    b: row.b,
    '2': 2.5,
    a: 0,
    '10': true,
    'col "x"': null,
    nan: 'NaN',
    inf: '-Infinity',
    ts: '2026-01-02T03:04:05.006Z',
    bad: null,
    bytes: '\\x00ff',
    arr: ['1', null, ['\\x01', 'x"y'], { deep: [1, 'z'] }],
    doc: row.doc,
    toast: { $unchanged_toast: true },
  };
  assert.equal(
    lines.text({ tag: 'insert', xid: undefined, relation: odd, new: row }, at('1/A')),
    `${JSON.stringify({
      lsn: '1/A',
      commit_lsn: '0/16B3800',
      xid: 731,
      commit_time: '2026-11-26T10:00:00.000Z',
      table: 'public.we"ird\ntable',
      op: 'insert',
      row: expectedRow,
      old: null,
    })}\n`,
  );
});

test('a new Relation message for a table is what later lines use', () => {
  const lines = new ChangeLines();
  const renamed: Relation = { ...events, name: 'events_v2' };
  const insert = (relation: Relation) =>
    parse(lines.text({ tag: 'insert', xid: undefined, relation, new: { id: 1n } }, 1n))[0]?.table;
  assert.equal(insert(events), 'public.events');
  lines.text({ tag: 'relation', xid: undefined, relation: renamed }, 2n);
  assert.equal(insert(renamed), 'public.events_v2');
});

test('a column named __proto__ is printed like any other', () => {
  // The decoder gives such a table's rows no prototype, so the name is an ordinary key.
  const row: Record<string, bigint> = Object.create(null);
  Object.defineProperty(row, '__proto__', { value: 1n, enumerable: true });
  row.id = 2n;
  const text = new ChangeLines().text({ tag: 'insert', xid: undefined, relation: events, new: row }, 1n);
  assert.match(text, /"row":\{"__proto__":"1","id":"2"\}/);
});
