import { CacheKeyError } from './errors.ts';

/** A cache key: a tuple of strings, e.g. `['!room:x', '$event']`. A shorter tuple is a prefix of longer ones. */
export type CacheKey = readonly string[];

/**
 * The string the LRU stores a key under. JSON keeps tuples apart that naive joining would merge
 * (`['a|b']` and `['a', 'b']`, `['']` and `[]`): every element is quoted and escaped.
 *
 * @example
 * ```ts
 * import { encodeKey } from 'slotstream';
 * encodeKey(['!room:x', '$event']); // '["!room:x","$event"]'
 * ```
 */
export function encodeKey(key: CacheKey): string {
  return JSON.stringify(key);
}

/**
 * Checks a key coming from outside the type system (a logical message, a plain JS caller). A full key must
 * have exactly `keyLength` elements when the cache declares one; a prefix may be shorter but never longer.
 */
export function checkKey(
  cache: string,
  key: unknown,
  keyLength: number | undefined,
  kind: 'key' | 'prefix',
): asserts key is CacheKey {
  if (!Array.isArray(key)) throw new CacheKeyError(cache, key, 'a key is an array of strings');
  for (const part of key) {
    if (typeof part !== 'string') throw new CacheKeyError(cache, key, 'every element must be a string');
  }
  if (keyLength === undefined) return;
  if (kind === 'key' && key.length !== keyLength) {
    throw new CacheKeyError(cache, key, `keys of this cache have ${keyLength} elements, not ${key.length}`);
  }
  if (kind === 'prefix' && key.length > keyLength) {
    throw new CacheKeyError(
      cache,
      key,
      `keys of this cache have ${keyLength} elements; a prefix of ${key.length} would match nothing`,
    );
  }
}
