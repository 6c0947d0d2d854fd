/** Decoded values → JSON text for tail/peek lines: nothing rounded, nothing lost, always valid JSON. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byteaHex, messageContent, valueJson } from '../../src/cli/json-safe.ts';
import { UNCHANGED_TOAST } from '../../src/replication/pgoutput/index.ts';

test('scalars keep their exact value', () => {
  assert.equal(valueJson(null), 'null');
  assert.equal(valueJson(true), 'true');
  assert.equal(valueJson(false), 'false');
  assert.equal(valueJson('text'), '"text"');
  assert.equal(valueJson(42), '42');
  assert.equal(valueJson(-1.5e-7), '-1.5e-7');
  assert.equal(valueJson(9007199254740993n), '"9007199254740993"');
  assert.equal(valueJson(-9223372036854775808n), '"-9223372036854775808"');
  assert.equal(valueJson('12345678901234567890.000000000001'), '"12345678901234567890.000000000001"'); // numeric
});

test('strings are escaped as JSON.stringify escapes them', () => {
  const long = 'x'.repeat(64);
  for (const s of ['a"b', 'back\\slash', 'line\nbreak', '\u0000\u001f', 'é ✓ 😀', 'lone \ud800 surrogate'])
    for (const text of [s, `${long}${s}`, `${s}${long}`]) assert.equal(valueJson(text), JSON.stringify(text));
  for (const text of ['', 'plain', '\u007f\u2028', long, `${long}y`])
    assert.equal(valueJson(text), JSON.stringify(text));
});

test('non-finite floats become the strings PostgreSQL prints', () => {
  assert.equal(valueJson(Number.NaN), '"NaN"');
  assert.equal(valueJson(Number.POSITIVE_INFINITY), '"Infinity"');
  assert.equal(valueJson(Number.NEGATIVE_INFINITY), '"-Infinity"');
});

test('bytea is \\x hex, timestamps ISO strings, unchanged TOAST a marker object', () => {
  assert.equal(valueJson(Buffer.from([0, 1, 0xab, 0xff])), '"\\\\x0001abff"');
  assert.equal(valueJson(Buffer.alloc(0)), '"\\\\x"');
  assert.equal(valueJson(Buffer.from('xxab').subarray(2)), '"\\\\x6162"'); // a view into a larger buffer
  assert.equal(valueJson(new Date(Date.UTC(2026, 10, 26, 10, 0, 0, 5))), '"2026-11-26T10:00:00.005Z"');
  assert.equal(valueJson(new Date(Number.NaN)), 'null');
  assert.equal(valueJson('infinity'), '"infinity"');
  assert.equal(valueJson(UNCHANGED_TOAST), '{"$unchanged_toast":true}');
});

test('dates print as toISOString prints them, in any order and any year', () => {
  const dates = [
    Date.UTC(2026, 10, 30, 10, 0, 0, 0),
    Date.UTC(2026, 10, 30, 10, 0, 0, 7),
    Date.UTC(2026, 10, 30, 10, 0, 9, 45),
    Date.UTC(2026, 10, 30, 10, 0, 59, 999),
    Date.UTC(2026, 10, 30, 10, 1, 0, 0),
    Date.UTC(2026, 10, 30, 10, 0, 30, 500), // back to a minute printed before
    -1, // 1969-12-31T23:59:59.999Z
    -62198755200000, // year -000001
    8.64e15, // +275760-09-13
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  ];
  for (const ms of dates) assert.equal(valueJson(new Date(ms)), `"${new Date(ms).toISOString()}"`);
});

test('arrays convert element by element; json values pass through', () => {
  assert.equal(valueJson([1n, null, [2n, 3n]]), '["1",null,["2","3"]]');
  assert.equal(valueJson([Buffer.from([1]), new Date(0)]), '["\\\\x01","1970-01-01T00:00:00.000Z"]');
  assert.equal(valueJson([]), '[]');
  const doc = { body: 'hi "there"', n: [1, 2, { deep: null }] };
  assert.equal(valueJson(doc), JSON.stringify(doc));
  assert.equal(valueJson([doc]), JSON.stringify([doc]));
});

test('message content: UTF-8 text when valid, else \\x hex', () => {
  assert.equal(messageContent(Buffer.from('{"cache":"getEvent"} ✓')), '{"cache":"getEvent"} ✓');
  assert.equal(messageContent(Buffer.alloc(0)), '');
  assert.equal(messageContent(Buffer.from([0xff, 0x00])), '\\xff00');
  assert.equal(messageContent(Buffer.from([0xe2, 0x9c])), '\\xe29c'); // truncated multi-byte sequence
  assert.equal(byteaHex(new Uint8Array([0x0a])), '\\x0a');
});
