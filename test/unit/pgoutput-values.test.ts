/** Text-format value decoding by type OID (pgoutput TupleData 't' values). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decoderFor,
  parseArrayLiteral,
  TypeOid,
  textToBigInt,
  textToBytea,
  textToInt,
  textToString,
  textToTimestamp,
  textToTimestamptz,
  UNCHANGED_TOAST,
  UnchangedToast,
} from '../../src/replication/pgoutput/index.ts';

const dec = (oid: number, text: string) => {
  const buf = Buffer.from(`xx${text}yy`); // decoders read a slice of a larger buffer
  return decoderFor(oid)(buf, 2, buf.length - 2);
};

test('scalars', () => {
  assert.equal(dec(TypeOid.bool, 't'), true);
  assert.equal(dec(TypeOid.bool, 'f'), false);
  assert.throws(() => dec(TypeOid.bool, 'true'), SyntaxError);
  assert.equal(dec(TypeOid.int2, '-32768'), -32768);
  assert.equal(dec(TypeOid.int4, '2147483647'), 2147483647);
  assert.equal(dec(TypeOid.oid, '4294967295'), 4294967295);
  assert.throws(() => dec(TypeOid.int4, ''), SyntaxError);
  assert.throws(() => dec(TypeOid.int4, '-'), SyntaxError);
  assert.throws(() => dec(TypeOid.int4, '1.5'), SyntaxError);
  assert.equal(dec(TypeOid.int8, '9007199254740993'), 9007199254740993n);
  assert.equal(dec(TypeOid.int8, '-9223372036854775808'), -9223372036854775808n);
  assert.throws(() => dec(TypeOid.int8, ''), SyntaxError); // BigInt('') would be 0n
  assert.throws(() => dec(TypeOid.int8, ' 1'), SyntaxError);
  assert.ok(Number.isNaN(dec(TypeOid.float8, 'NaN')));
  assert.equal(dec(TypeOid.float4, '-Infinity'), Number.NEGATIVE_INFINITY);
  assert.equal(dec(TypeOid.float8, '1.7976931348623157e+308'), Number.MAX_VALUE);
  assert.throws(() => dec(TypeOid.float8, 'nope'), SyntaxError);
  assert.throws(() => dec(TypeOid.float8, ''), SyntaxError);
  assert.equal(
    dec(TypeOid.numeric, '0.10000000000000000000000000000000000001'),
    '0.10000000000000000000000000000000000001',
  );
  assert.equal(dec(TypeOid.numeric, 'NaN'), 'NaN');
  assert.equal(dec(TypeOid.text, 'ünï 🎉'), 'ünï 🎉');
  assert.equal(dec(12345, 'some enum'), 'some enum');
  assert.deepEqual(dec(TypeOid.jsonb, '{"a": [1, "x"]}'), { a: [1, 'x'] });
  assert.deepEqual(dec(TypeOid.bytea, '\\x00ff10'), Buffer.from([0, 255, 16]));
  assert.throws(() => dec(TypeOid.bytea, '\\x0g'), SyntaxError);
  assert.throws(() => dec(TypeOid.bytea, '\\x0'), SyntaxError);
  assert.equal(dec(TypeOid.date, '2024-02-29'), '2024-02-29');
});

test('bytea escape form (bytea_output = escape)', () => {
  assert.deepEqual(textToBytea('a\\\\b\\000\\377'), Buffer.from([0x61, 0x5c, 0x62, 0, 255]));
  assert.throws(() => textToBytea('\\9'), SyntaxError);
});

test('timestamps', () => {
  assert.deepEqual(textToTimestamp('2024-02-29 12:34:56.123456'), new Date('2024-02-29T12:34:56.123Z'));
  assert.deepEqual(textToTimestamp('2024-02-29 12:34:56'), new Date('2024-02-29T12:34:56Z'));
  assert.deepEqual(textToTimestamp('2024-02-29 12:34:56.5'), new Date('2024-02-29T12:34:56.500Z'));
  assert.deepEqual(textToTimestamp('2024-02-29 12:34:56.05'), new Date('2024-02-29T12:34:56.050Z'));
  assert.deepEqual(
    textToTimestamptz('2024-02-29 12:34:56.999999+05:30'),
    new Date('2024-02-29T07:04:56.999Z'),
  );
  assert.deepEqual(textToTimestamptz('2024-02-29 12:34:56-08'), new Date('2024-02-29T20:34:56Z'));
  assert.deepEqual(textToTimestamptz('1900-01-01 05:53:28+05:53:28'), new Date('1900-01-01T00:00:00Z'));
  const y99 = new Date(Date.UTC(2000, 5, 1, 1, 2, 3));
  y99.setUTCFullYear(99);
  assert.deepEqual(textToTimestamp('0099-06-01 01:02:03'), y99);
  const bc = new Date(Date.UTC(2000, 2, 15));
  bc.setUTCFullYear(-43); // 44 BC is astronomical year -43
  assert.deepEqual(textToTimestamp('0044-03-15 00:00:00 BC'), bc);
  assert.deepEqual(textToTimestamp('12345-01-01 00:00:00'), new Date(Date.UTC(12345, 0, 1)));
  assert.equal(textToTimestamp('infinity'), 'infinity');
  assert.equal(textToTimestamptz('-infinity'), '-infinity');
  // Beyond the Date range (±275760 years): the text, not a guess.
  assert.equal(textToTimestamp('294276-12-31 23:59:59.999999'), '294276-12-31 23:59:59.999999');
  assert.throws(() => textToTimestamp('2024-02-29T12:34:56'), SyntaxError);
  assert.throws(() => textToTimestamptz('2024-02-29 12:34:56'), SyntaxError);
  assert.throws(() => textToTimestamp('2024-02-29 12:34:56+00'), SyntaxError);
});

test('array literals: quoting, escapes, NULL, nesting, bounds', () => {
  assert.deepEqual(parseArrayLiteral('{}', textToString), []);
  assert.deepEqual(parseArrayLiteral('{a,"b,c","d\\"e","f\\\\g",NULL,"NULL",null,""}', textToString), [
    'a',
    'b,c',
    'd"e',
    'f\\g',
    null,
    'NULL',
    null,
    '',
  ]);
  assert.deepEqual(parseArrayLiteral('{{1,2},{3,NULL}}', textToInt), [
    [1, 2],
    [3, null],
  ]);
  assert.deepEqual(parseArrayLiteral('[0:1]={5,6}', textToInt), [5, 6]);
  assert.deepEqual(parseArrayLiteral('[1:1][-1:0]={{7,8}}', textToBigInt), [[7n, 8n]]);
  assert.deepEqual(parseArrayLiteral('{{{x}}}', textToString), [[['x']]]);
  for (const bad of ['', '{', '{a', '{a,}', '{"a}', '{a}x', '[0:1]{1}', 'a', '{a"b}', '{,}'])
    assert.throws(() => parseArrayLiteral(bad, textToString), SyntaxError, bad);
  assert.deepEqual(dec(TypeOid.byteaArray, '{"\\\\x00ff",NULL}'), [Buffer.from([0, 255]), null]);
  assert.deepEqual(dec(TypeOid.jsonbArray, '{"{\\"a\\": 1}",null}'), [{ a: 1 }, null]);
  assert.deepEqual(dec(TypeOid.timestamptzArray, '{"2024-01-01 00:00:00+00",infinity}'), [
    new Date('2024-01-01T00:00:00Z'),
    'infinity',
  ]);
  assert.deepEqual(dec(TypeOid.int8Array, '{9007199254740993}'), [9007199254740993n]);
  assert.deepEqual(dec(TypeOid.float8Array, '{NaN,-Infinity}'), [Number.NaN, Number.NEGATIVE_INFINITY]);
  assert.deepEqual(dec(TypeOid.textArray, '{"ü 🎉"}'), ['ü 🎉']);
});

test('UNCHANGED_TOAST is a distinct singleton with a JSON form', () => {
  assert.ok(UNCHANGED_TOAST instanceof UnchangedToast);
  assert.ok(Object.isFrozen(UNCHANGED_TOAST));
  assert.equal(JSON.stringify({ big: UNCHANGED_TOAST }), '{"big":{"$unchanged_toast":true}}');
  assert.notEqual(UNCHANGED_TOAST, undefined);
  assert.notEqual(UNCHANGED_TOAST, null);
});

test('int8 is exact on both the short (digit loop) and long (BigInt parse) paths', () => {
  const int8 = decoderFor(TypeOid.int8);
  const cases: [string, bigint][] = [
    ['0', 0n],
    ['-0', 0n],
    ['42', 42n],
    ['-42', -42n],
    ['999999999999999', 999_999_999_999_999n], // 15 digits: the fast path's limit
    ['1000000000000000', 1_000_000_000_000_000n], // 16 digits: the exact path
    ['9007199254740993', 9_007_199_254_740_993n],
    ['-9223372036854775808', -9_223_372_036_854_775_808n],
  ];
  for (const [text, value] of cases) {
    const buf = Buffer.from(`x${text}y`);
    assert.equal(int8(buf, 1, buf.length - 1), value, text);
  }
  for (const bad of ['', '-', '12a', '1.5']) {
    const buf = Buffer.from(bad);
    assert.throws(() => int8(buf, 0, buf.length), bad);
  }
});
