/**
 * How the parser makes rows: one object literal per relation (row-maker.ts), or a column at a time for
 * key-only tuples, for a column named `__proto__` and where code generation from strings is disallowed; and
 * how it reads their values (tuple-reader.ts): the text columns of a row as one string, or one by one. The
 * rows must be the same whichever way they were made.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { MalformedMessageError } from '../../src/replication/errors.ts';
import {
  decoderFor,
  PgoutputParser,
  type Row,
  TypeOid,
  UNCHANGED_TOAST,
} from '../../src/replication/pgoutput/index.ts';
import { rowMaker } from '../../src/replication/pgoutput/row-maker.ts';

interface Column {
  name: string;
  typeOid: number;
  key?: boolean;
}

const cstring = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
const u8 = (n: number) => Buffer.from([n]);
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function relation(oid: number, columns: Column[]): Buffer {
  return Buffer.concat([
    Buffer.from('R'),
    u32(oid),
    cstring('public'),
    cstring('t'),
    Buffer.from('d'),
    u16(columns.length),
    ...columns.flatMap((c) => [u8(c.key ? 1 : 0), cstring(c.name), u32(c.typeOid), u32(-1)]),
  ]);
}

/** TupleData of text values (null: SQL NULL). */
function tuple(values: (string | null)[]): Buffer {
  return Buffer.concat([
    u16(values.length),
    ...values.map((v) =>
      v === null
        ? Buffer.from('n')
        : Buffer.concat([Buffer.from('t'), u32(Buffer.byteLength(v)), Buffer.from(v)]),
    ),
  ]);
}

const insert = (oid: number, values: (string | null)[]) =>
  Buffer.concat([Buffer.from('I'), u32(oid), Buffer.from('N'), tuple(values)]);
const deleteByKey = (oid: number, values: (string | null)[]) =>
  Buffer.concat([Buffer.from('D'), u32(oid), Buffer.from('K'), tuple(values)]);

function rowOf(parser: PgoutputParser, message: Buffer): Row {
  const m = parser.parse(message);
  assert.ok(m.tag === 'insert' || m.tag === 'delete', m.tag);
  const row = m.tag === 'insert' ? m.new : m.key;
  assert.ok(row);
  return row;
}

const AWKWARD: Column[] = [
  { name: 'id', typeOid: TypeOid.int8, key: true },
  { name: 'say "hi"\\', typeOid: TypeOid.text },
  { name: 'line\nbreak\u2028', typeOid: TypeOid.text },
  { name: 'naïve 日本', typeOid: TypeOid.jsonb },
  { name: '1', typeOid: TypeOid.int4 },
  { name: 'constructor', typeOid: TypeOid.bool },
  { name: 'toString', typeOid: TypeOid.text },
];
const AWKWARD_VALUES = ['7', 'a', null, '{"k":[1]}', '42', 't', 'x'];

test('whole rows carry every column under its exact name, in column order', () => {
  const parser = new PgoutputParser();
  parser.parse(relation(16384, AWKWARD));
  const row = rowOf(parser, insert(16384, AWKWARD_VALUES));
  assert.deepEqual(Object.keys(row), ['1', ...AWKWARD.map((c) => c.name).filter((n) => n !== '1')]);
  assert.deepEqual(
    { ...row },
    {
      id: 7n,
      'say "hi"\\': 'a',
      'line\nbreak\u2028': null,
      'naïve 日本': { k: [1] },
      '1': 42,
      constructor: true,
      toString: 'x',
    },
  );
  assert.equal(Object.getPrototypeOf(row), Object.prototype);
});

test('each row is a new object; the next row does not change the last', () => {
  const parser = new PgoutputParser();
  parser.parse(relation(16384, AWKWARD));
  const first = rowOf(parser, insert(16384, AWKWARD_VALUES));
  const second = rowOf(parser, insert(16384, ['8', 'b', 'c', 'null', '0', 'f', 'y']));
  assert.notEqual(first, second);
  assert.equal(first.id, 7n);
  assert.equal(second.id, 8n);
  assert.equal(second['naïve 日本'], null);
});

test('a key-only tuple keeps the key columns only', () => {
  const parser = new PgoutputParser();
  parser.parse(relation(16384, AWKWARD));
  const key = rowOf(parser, deleteByKey(16384, ['7', null, null, null, null, null, null]));
  assert.deepEqual(key, { id: 7n });
});

test('a column named __proto__ is a column: the row has no prototype and an own __proto__', () => {
  assert.equal(rowMaker(['id', '__proto__']), undefined, 'a literal would set the prototype');
  const parser = new PgoutputParser();
  parser.parse(
    relation(16385, [
      { name: 'id', typeOid: TypeOid.int4, key: true },
      { name: '__proto__', typeOid: TypeOid.text },
    ]),
  );
  const row = rowOf(parser, insert(16385, ['1', 'p']));
  assert.equal(Object.getPrototypeOf(row), null);
  assert.deepEqual(Object.keys(row), ['id', '__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(row, '__proto__')?.value, 'p');
});

test('a row maker makes exactly what setting the columns one by one makes', () => {
  const names = AWKWARD.map((c) => c.name);
  const make = rowMaker(names);
  assert.ok(make);
  const values = ['v0', 1, null, { a: 1 }, 2n, true, 'v6'];
  const expected: Row = {};
  names.forEach((name, i) => {
    expected[name] = values[i] as Row[string];
  });
  const made = make(values as Row[string][]);
  assert.deepEqual(Object.entries(made), Object.entries(expected));
});

test('without code generation from strings, rows are the same (made a column at a time)', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const script = `
    const { PgoutputParser } = await import(${JSON.stringify(path.join(root, 'src/replication/pgoutput/index.ts'))});
    const { rowMaker } = await import(${JSON.stringify(path.join(root, 'src/replication/pgoutput/row-maker.ts'))});
    const [relation, insert] = JSON.parse(process.argv[1]).map((hex) => Buffer.from(hex, 'hex'));
    const parser = new PgoutputParser();
    parser.parse(relation);
    const row = parser.parse(insert).new;
    console.log(JSON.stringify({ maker: rowMaker(['a']) === undefined ? 'none' : 'compiled', keys: Object.keys(row), row: { ...row, id: String(row.id) } }));`;
  const messages = [relation(16384, AWKWARD), insert(16384, AWKWARD_VALUES)].map((b) => b.toString('hex'));
  const out = execFileSync(
    process.execPath,
    [
      '--disallow-code-generation-from-strings',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
      JSON.stringify(messages),
    ],
    { cwd: root, encoding: 'utf8' },
  );
  const parser = new PgoutputParser();
  parser.parse(relation(16384, AWKWARD));
  const row = rowOf(parser, insert(16384, AWKWARD_VALUES));
  assert.deepEqual(JSON.parse(out), {
    maker: 'none',
    keys: Object.keys(row),
    row: { ...row, id: String(row.id) },
  });
});

/** A column of every kind of decoder: from the bytes, from a string, arrays, and a type we do not know. */
const MIXED: Column[] = [
  { name: 'id', typeOid: TypeOid.int8, key: true },
  { name: 'event_id', typeOid: TypeOid.text },
  { name: 'n', typeOid: TypeOid.int4 },
  { name: 'content', typeOid: TypeOid.jsonb },
  { name: 'amount', typeOid: TypeOid.numeric },
  { name: 'ok', typeOid: TypeOid.bool },
  { name: 'at', typeOid: TypeOid.timestamptz },
  { name: 'day', typeOid: TypeOid.date },
  { name: 'ratio', typeOid: TypeOid.float8 },
  { name: 'raw', typeOid: TypeOid.bytea },
  { name: 'tags', typeOid: TypeOid.textArray },
  { name: 'mood', typeOid: 99_999 }, // an enum, say: decoded as its text
  { name: 'note', typeOid: TypeOid.varchar },
];

// 200 bytes: a length with a byte of 0x80 or more (0xC8), where the one string must stop.
const long = (c: string) => c.repeat(200);
/** Rows the one-string path takes, and rows it must hand to the column-by-column path. */
const MIXED_ROWS: (string | null)[][] = [
  [
    '1',
    '$e1',
    '5',
    '{"body": "message 1"}',
    '1.50',
    't',
    '2026-11-30 10:00:00.123456+00',
    '2026-11-30',
    '0.5',
    '\\x0102',
    '{a,"b c",NULL}',
    'happy',
    'x',
  ],
  ['2', null, '-7', 'null', 'NaN', 'f', 'infinity', '0044-03-15 BC', 'Infinity', '\\x', '{}', '', null],
  [
    '3',
    'naïve 日本',
    '0',
    '{"k": "ü"}',
    '0',
    't',
    '2026-11-30 10:00:00+02',
    '2026-11-30',
    '-1e-7',
    '\\xff',
    '{"ü"}',
    'sad',
    'é',
  ],
  [
    '4',
    long('a'),
    '1',
    `{"body": "${long('b')}"}`,
    '1',
    't',
    '2026-11-30 10:00:00+00',
    '2026-11-30',
    '1',
    `\\x${long('ab')}`,
    '{x}',
    'happy',
    long('c'),
  ],
  [
    '5',
    'short',
    '2',
    `{"body": "${long('d')}"}`,
    '2',
    'f',
    '2026-11-30 10:00:00+00',
    '2026-11-30',
    '2',
    '\\x00',
    '{y}',
    'ok',
    'tail',
  ],
  [
    '6',
    '$e6',
    '3',
    '[1, 2.5, "x"]',
    '3',
    't',
    '2026-11-30 10:00:00+00',
    '2026-11-30',
    '3',
    '\\x01',
    '{z}',
    'happy',
    'x',
  ],
  // 1,100 bytes: no byte of its length is 0x80 or more, but the one string would be too long to share.
  [
    '7',
    'e'.repeat(1100),
    '4',
    '{"x": 1}',
    '4',
    't',
    '2026-11-30 10:00:00+00',
    '2026-11-30',
    '4',
    '\\x02',
    '{w}',
    'ok',
    'n',
  ],
  [
    '8',
    '$e8',
    '5',
    '{"x": 2}',
    '5',
    'f',
    '2026-11-30 10:00:00+00',
    '2026-11-30',
    '5',
    '\\x03',
    '{v}',
    'ok',
    'e'.repeat(1100),
  ],
];

test('a row decodes to the same values whether its text columns are read as one string or one by one', () => {
  const expected = (values: (string | null)[]): Row => {
    const row: Row = {};
    MIXED.forEach(({ name, typeOid }, i) => {
      const text = values[i];
      row[name] = text == null ? null : decoderFor(typeOid)(Buffer.from(text), 0, Buffer.byteLength(text));
    });
    return row;
  };
  const all = new PgoutputParser();
  all.parse(relation(16386, MIXED));
  for (const values of MIXED_ROWS) {
    // A parser of its own, and one for all the rows: after a row that is not ASCII, the next rows of its
    // table are read one column at a time for a while.
    const own = new PgoutputParser();
    own.parse(relation(16386, MIXED));
    assert.deepEqual(rowOf(own, insert(16386, values)), expected(values), `row ${values[0]}`);
    assert.deepEqual(rowOf(all, insert(16386, values)), expected(values), `row ${values[0]}, in turn`);
  }
});

test('an invalid value read from the one string is reported at its own offset, as one read alone is', () => {
  const values = [...(MIXED_ROWS[0] as (string | null)[])];
  values[3] = '{"body": ';
  const message = insert(16386, values);
  const at = message.indexOf('{"body": ');
  for (const pause of [false, true]) {
    const parser = new PgoutputParser();
    parser.parse(relation(16386, MIXED));
    // A row with text that is not ASCII first sends the next rows column by column for a while.
    if (pause) rowOf(parser, insert(16386, MIXED_ROWS[2] as (string | null)[]));
    assert.throws(
      () => parser.parse(message),
      (err: unknown) => {
        assert.ok(err instanceof MalformedMessageError);
        assert.equal(err.offset, at);
        assert.match(err.message, /column "content" \(type OID 3802\)/);
        return true;
      },
    );
  }
});

test('unchanged TOAST values and NULLs keep their places in a row read as one string', () => {
  const parser = new PgoutputParser();
  parser.parse(
    relation(16387, [
      { name: 'id', typeOid: TypeOid.int4, key: true },
      { name: 'body', typeOid: TypeOid.text },
      { name: 'big', typeOid: TypeOid.text },
      { name: 'gone', typeOid: TypeOid.text },
      { name: 'tail', typeOid: TypeOid.text },
    ]),
  );
  const text = (v: string) => Buffer.concat([Buffer.from('t'), u32(v.length), Buffer.from(v)]);
  const message = Buffer.concat([
    Buffer.from('I'),
    u32(16387),
    Buffer.from('N'),
    u16(5),
    text('1'),
    text('hello'),
    Buffer.from('u'),
    Buffer.from('n'),
    text('end'),
  ]);
  assert.deepEqual(rowOf(parser, message), {
    id: 1,
    body: 'hello',
    big: UNCHANGED_TOAST,
    gone: null,
    tail: 'end',
  });
});
