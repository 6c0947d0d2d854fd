/** app/http validators: good and bad ids, body fields and query parameters, with the right code and field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HttpError,
  LIMIT_BOUNDS,
  optionalInteger,
  queryInteger,
  queryString,
  requireBoolean,
  requireObject,
  requireQueryString,
  requireString,
  TIMEOUT_BOUNDS,
  validateEventId,
  validateEventType,
  validateRoomId,
  validateUserId,
} from '../../app/http/index.ts';

/** Asserts that `fn` throws a 400 HttpError with `code` whose message matches `message`. */
function rejects400(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError, `not an HttpError: ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

test('user ids: @localpart:server with Matrix localpart characters', () => {
  for (const id of [
    '@alice:example.org',
    '@a.b_c=d-e/f+g:example.org',
    '@0:localhost:8008',
    '@u:127.0.0.1',
    '@u:[::1]:8448',
    `@${'a'.repeat(240)}:example.org`,
  ])
    assert.equal(validateUserId(id, 'userId'), id);
  for (const id of [
    'alice:example.org',
    '@Alice:example.org',
    '@al ice:example.org',
    '@alice',
    '@:example.org',
    '@alice:',
    '@alice:exa mple.org',
    '@alice:example.org:port',
    '@é:example.org',
    `@${'a'.repeat(250)}:example.org`,
  ])
    rejects400(() => validateUserId(id, 'userId'), 'M_INVALID_PARAM', /userId/);
  rejects400(
    () => validateUserId(42, 'sender', 'body'),
    'M_BAD_JSON',
    /sender must be a user id .*got a number/,
  );
  rejects400(() => validateUserId(`@${'a'.repeat(260)}:x`, 'userId'), 'M_INVALID_PARAM', /at most 255 bytes/);
});

test('room ids: !opaque:server, opaque printable ASCII without : or /', () => {
  for (const id of ['!abc:example.org', '!A-Z_09.~=+$@!:s', '!x:localhost:8008'])
    assert.equal(validateRoomId(id, 'roomId'), id);
  for (const id of [
    'abc:example.org',
    '!abc',
    '!:example.org',
    '!a/b:example.org',
    '!a b:x',
    '!ä:x',
    '!a\tb:x',
    '',
  ])
    rejects400(() => validateRoomId(id, 'roomId'), 'M_INVALID_PARAM', /roomId must be a room id/);
  rejects400(() => validateRoomId(null, 'room_id', 'body'), 'M_BAD_JSON', /room_id .*got null/);
});

test('event ids: $opaque, printable ASCII without /', () => {
  for (const id of ['$abc', '$Zx-9_AbC+d=', '$old-style:example.org'])
    assert.equal(validateEventId(id, 'eventId'), id);
  for (const id of ['abc', '$', '$a/b', '$a b', '$\u00e9', `$${'a'.repeat(255)}`])
    rejects400(() => validateEventId(id, 'eventId'), 'M_INVALID_PARAM', /eventId/);
  rejects400(() => validateEventId(['$a'], 'event_id', 'body'), 'M_BAD_JSON', /event_id .*got an array/);
});

test('event and account-data types: non-empty, at most 255 UTF-8 bytes, no control characters', () => {
  for (const type of ['m.room.message', 'org.example.custom', 'm.typing', 'émoji ☃ ok', 'x'.repeat(255)])
    assert.equal(validateEventType(type, 'type'), type);
  rejects400(() => validateEventType('', 'type'), 'M_INVALID_PARAM', /type must not be empty/);
  rejects400(() => validateEventType('x'.repeat(256), 'type'), 'M_INVALID_PARAM', /256 bytes/);
  // 128 two-byte characters: 128 characters but 256 bytes.
  rejects400(() => validateEventType('é'.repeat(128), 'type'), 'M_INVALID_PARAM', /256 bytes/);
  for (const bad of ['a\nb', 'a\u0000b', 'a\u007fb', 'a\u0085b', 'a\ud800b'])
    rejects400(() => validateEventType(bad, 'type', 'body'), 'M_BAD_JSON', /control characters/);
  rejects400(() => validateEventType(7, 'type', 'body'), 'M_BAD_JSON', /type must be a string, got a number/);
});

test('requireObject: objects only', () => {
  const obj = { a: 1 };
  assert.equal(requireObject(obj), obj);
  rejects400(() => requireObject([]), 'M_BAD_JSON', /request body must be a JSON object, got an array/);
  rejects400(() => requireObject(null, 'content'), 'M_BAD_JSON', /content must be a JSON object, got null/);
  rejects400(() => requireObject('x', 'content'), 'M_BAD_JSON', /got a string/);
});

test('requireString: type, emptiness, maxLength, NUL', () => {
  const body = { sender: '@a:b', empty: '', long: 'abcdef', nul: 'a\u0000b', n: 3 };
  assert.equal(requireString(body, 'sender'), '@a:b');
  assert.equal(requireString(body, 'empty', { allowEmpty: true }), '');
  assert.equal(requireString(body, 'long', { maxLength: 6 }), 'abcdef');
  rejects400(
    () => requireString(body, 'missing'),
    'M_BAD_JSON',
    /missing must be a string, got nothing \(the field is missing\)/,
  );
  rejects400(() => requireString(body, 'n'), 'M_BAD_JSON', /n must be a string, got a number/);
  rejects400(() => requireString(body, 'empty'), 'M_BAD_JSON', /empty must not be empty/);
  rejects400(
    () => requireString(body, 'long', { maxLength: 5 }),
    'M_BAD_JSON',
    /long is 6 characters long; at most 5/,
  );
  rejects400(() => requireString(body, 'nul'), 'M_BAD_JSON', /nul must not contain NUL/);
});

test('requireBoolean and optionalInteger: no coercion, bounds checked', () => {
  const body = { typing: true, no: false, str: 'true', timeout_ms: 30000, frac: 1.5, big: 400000 };
  assert.equal(requireBoolean(body, 'typing'), true);
  assert.equal(requireBoolean(body, 'no'), false);
  rejects400(() => requireBoolean(body, 'str'), 'M_BAD_JSON', /str must be true or false, got a string/);
  rejects400(() => requireBoolean(body, 'absent'), 'M_BAD_JSON', /absent must be true or false/);
  assert.equal(optionalInteger(body, 'timeout_ms', TIMEOUT_BOUNDS), 30000);
  assert.equal(optionalInteger(body, 'absent', TIMEOUT_BOUNDS), undefined);
  rejects400(() => optionalInteger(body, 'frac', TIMEOUT_BOUNDS), 'M_BAD_JSON', /frac must be an integer/);
  rejects400(() => optionalInteger(body, 'str', TIMEOUT_BOUNDS), 'M_BAD_JSON', /str must be an integer/);
  rejects400(
    () => optionalInteger(body, 'big', TIMEOUT_BOUNDS),
    'M_BAD_JSON',
    /between 0 and 300000, got 400000/,
  );
});

test('query integers: digits only, within bounds, else the fallback', () => {
  const q = (s: string) => new URLSearchParams(s);
  assert.equal(queryInteger(q('timeout=0'), 'timeout', TIMEOUT_BOUNDS), 0);
  assert.equal(queryInteger(q('timeout=300000'), 'timeout', TIMEOUT_BOUNDS), 300000);
  assert.equal(queryInteger(q(''), 'timeout', TIMEOUT_BOUNDS), undefined);
  assert.equal(queryInteger(q(''), 'limit', LIMIT_BOUNDS, 50), 50);
  assert.equal(queryInteger(q('limit=1000'), 'limit', LIMIT_BOUNDS, 50), 1000);
  for (const bad of [
    'timeout=',
    'timeout=1e3',
    'timeout=0x10',
    'timeout=1.0',
    'timeout=+5',
    'timeout=abc',
    'timeout= 5',
  ])
    rejects400(
      () => queryInteger(q(bad), 'timeout', TIMEOUT_BOUNDS),
      'M_INVALID_PARAM',
      /timeout must be an integer/,
    );
  rejects400(
    () => queryInteger(q('timeout=300001'), 'timeout', TIMEOUT_BOUNDS),
    'M_INVALID_PARAM',
    /timeout must be between 0 and 300000, got 300001/,
  );
  rejects400(
    () => queryInteger(q('timeout=-1'), 'timeout', TIMEOUT_BOUNDS),
    'M_INVALID_PARAM',
    /between 0 and/,
  );
  rejects400(
    () => queryInteger(q('limit=0'), 'limit', LIMIT_BOUNDS),
    'M_INVALID_PARAM',
    /between 1 and 1000/,
  );
  rejects400(
    () => queryInteger(q('limit=1001'), 'limit', LIMIT_BOUNDS),
    'M_INVALID_PARAM',
    /between 1 and 1000/,
  );
  rejects400(
    () => queryInteger(q('limit=1&limit=2'), 'limit', LIMIT_BOUNDS),
    'M_INVALID_PARAM',
    /given 2 times/,
  );
});

test('query strings: once, and present when required', () => {
  const q = new URLSearchParams('user_id=%40a%3Ab&since=&x=1&x=2');
  assert.equal(queryString(q, 'user_id'), '@a:b');
  assert.equal(queryString(q, 'since'), '');
  assert.equal(queryString(q, 'absent'), undefined);
  assert.equal(requireQueryString(q, 'user_id'), '@a:b');
  rejects400(() => requireQueryString(q, 'absent'), 'M_INVALID_PARAM', /query parameter absent is required/);
  rejects400(() => queryString(q, 'x'), 'M_INVALID_PARAM', /query parameter x is given 2 times/);
});
