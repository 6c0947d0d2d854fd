import { SlotstreamError } from '../replication/errors.ts';

/**
 * A cache defined wrongly: an empty or duplicate name, or a bound that is not a positive integer.
 *
 * @example
 * ```ts
 * import { CacheRegistry } from 'slotstream';
 * const caches = new CacheRegistry();
 * caches.define('getEvent', { max: 50_000 });
 * caches.define('getEvent', { max: 50_000 }); // throws CacheDefinitionError: the name is taken
 * ```
 */
export class CacheDefinitionError extends SlotstreamError {
  constructor(
    readonly cache: string,
    detail: string,
  ) {
    super(`cannot define cache ${JSON.stringify(cache)}: ${detail}`);
  }
}

/**
 * A key of the wrong shape: not an array of strings, or longer (or, for a full key, shorter) than the cache's
 * declared key length. Thrown rather than ignored because a wrongly shaped invalidation silently matches
 * nothing and leaves stale entries behind (Synapse PR #13863 found exactly that).
 *
 * @example
 * ```ts
 * import { CacheRegistry } from 'slotstream';
 * const getEvent = new CacheRegistry().define('getEvent', { max: 50_000, keyLength: 1 });
 * getEvent.invalidatePrefix(['!room:x', '$event']); // throws CacheKeyError: longer than keyLength
 * ```
 */
export class CacheKeyError extends SlotstreamError {
  constructor(
    readonly cache: string,
    readonly key: unknown,
    detail: string,
  ) {
    super(`cache ${JSON.stringify(cache)}: bad key ${safeJson(key)}: ${detail}`);
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
