/**
 * How the parser makes rows: one object literal per relation (row-maker.ts), or a column at a time for
 * key-only tuples, for a column named `__proto__` and where code generation from strings is disallowed. The
 * rows must be the same whichever way they were made.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { PgoutputParser, type Row, TypeOid } from '../../src/replication/pgoutput/index.ts';
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
