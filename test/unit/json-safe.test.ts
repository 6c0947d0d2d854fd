/** Decoded values → JSON for tail/peek lines: nothing rounded, nothing lost, everything serializable. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byteaHex, jsonSafe, jsonSafeRow, messageContent } from '../../src/cli/json-safe.ts';
import { UNCHANGED_TOAST } from '../../src/replication/pgoutput/index.ts';

test('scalars keep their exact value', () => {
  assert.equal(jsonSafe(null), null);
  assert.equal(jsonSafe(true), true);
  assert.equal(jsonSafe('text'), 'text');
  assert.equal(jsonSafe(42), 42);
  assert.equal(jsonSafe(9007199254740993n), '9007199254740993');
  assert.equal(jsonSafe(-9223372036854775808n), '-9223372036854775808');
  assert.equal(jsonSafe('12345678901234567890.000000000001'), '12345678901234567890.000000000001'); // numeric
});

test('non-finite floats become the strings PostgreSQL prints', () => {
  assert.equal(jsonSafe(Number.NaN), 'NaN');
  assert.equal(jsonSafe(Number.POSITIVE_INFINITY), 'Infinity');
  assert.equal(jsonSafe(Number.NEGATIVE_INFINITY), '-Infinity');
});

test('bytea is \\x hex, timestamps ISO strings, unchanged TOAST a marker object', () => {
  assert.equal(jsonSafe(Buffer.from([0, 1, 0xab, 0xff])), '\\x0001abff');
  assert.equal(jsonSafe(Buffer.alloc(0)), '\\x');
  assert.equal(jsonSafe(Buffer.from('xxab').subarray(2)), '\\x6162'); // a view into a larger buffer
  assert.equal(jsonSafe(new Date(Date.UTC(2026, 10, 26, 10, 0, 0, 5))), '2026-11-26T10:00:00.005Z');
  assert.equal(jsonSafe('infinity'), 'infinity');
  assert.deepEqual(jsonSafe(UNCHANGED_TOAST), { $unchanged_toast: true });
  assert.equal(JSON.stringify(jsonSafe(UNCHANGED_TOAST)), '{"$unchanged_toast":true}');
});

test('arrays convert element by element; json values pass through', () => {
  assert.deepEqual(jsonSafe([1n, null, [2n, 3n]]), ['1', null, ['2', '3']]);
  assert.deepEqual(jsonSafe([Buffer.from([1]), new Date(0)]), ['\\x01', '1970-01-01T00:00:00.000Z']);
  const doc = { body: 'hi', n: [1, 2, { deep: null }] };
  assert.deepEqual(jsonSafe(doc), doc);
  assert.deepEqual(jsonSafe([doc]), [doc]);
});

test('rows: every column converted, null rows stay null, and the result survives JSON', () => {
  assert.equal(jsonSafeRow(null), null);
  const row = jsonSafeRow({
    id: 7n,
    amount: '10.50',
    data: Buffer.from('hi'),
    at: new Date(Date.UTC(2026, 0, 1)),
    big: UNCHANGED_TOAST,
    note: null,
  });
  assert.equal(
    JSON.stringify(row),
    '{"id":"7","amount":"10.50","data":"\\\\x6869","at":"2026-01-01T00:00:00.000Z","big":{"$unchanged_toast":true},"note":null}',
  );
});

test('message content: UTF-8 text when valid, else \\x hex', () => {
  assert.equal(messageContent(Buffer.from('{"cache":"getEvent"} ✓')), '{"cache":"getEvent"} ✓');
  assert.equal(messageContent(Buffer.alloc(0)), '');
  assert.equal(messageContent(Buffer.from([0xff, 0x00])), '\\xff00');
  assert.equal(messageContent(Buffer.from([0xe2, 0x9c])), '\\xe29c'); // truncated multi-byte sequence
  assert.equal(byteaHex(new Uint8Array([0x0a])), '\\x0a');
});
