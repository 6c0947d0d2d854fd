import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheKeyError } from '../../src/cache/errors.ts';
import { checkKey, encodeKey } from '../../src/cache/key.ts';

test('distinct tuples never encode alike', () => {
  const tuples = [
    [],
    [''],
    ['', ''],
    ['a|b'],
    ['a', 'b'],
    ['a,b'],
    ['a"', 'b'],
    ['a', '"b'],
    ['a\\', 'b'],
    ['ab'],
  ];
  const encoded = new Set(tuples.map(encodeKey));
  assert.equal(encoded.size, tuples.length);
});

test('keys must be arrays of strings of the declared length', () => {
  assert.doesNotThrow(() => checkKey('c', ['a', 'b'], 2, 'key'));
  assert.doesNotThrow(() => checkKey('c', ['a'], 2, 'prefix'));
  assert.doesNotThrow(() => checkKey('c', ['a', 'b', 'c'], undefined, 'key'));
  assert.throws(() => checkKey('c', ['a'], 2, 'key'), CacheKeyError);
  assert.throws(() => checkKey('c', ['a', 'b', 'c'], 2, 'prefix'), /would match nothing/);
  assert.throws(() => checkKey('c', 'a', undefined, 'key'), CacheKeyError);
  assert.throws(() => checkKey('c', ['a', 1], undefined, 'key'), /every element must be a string/);
  assert.throws(
    () => checkKey('getEvent', [null], undefined, 'key'),
    (error: unknown) => {
      assert.ok(error instanceof CacheKeyError);
      assert.equal(error.cache, 'getEvent');
      assert.match(error.message, /cache "getEvent": bad key \[null\]/);
      return true;
    },
  );
});
