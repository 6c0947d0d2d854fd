import { CacheDefinitionError } from './errors.ts';
import type { CacheKey } from './key.ts';
import type { CacheStats } from './stats.ts';
import { type CacheOptions, TupleCache } from './tuple-cache.ts';

/**
 * What the registry needs of a cache whose key and value types it does not know: enough to invalidate it
 * by name and to report on it. Typed access is through the `TupleCache` that `define` returns.
 */
export interface RegisteredCache {
  readonly name: string;
  readonly size: number;
  invalidatePrefix(prefix: CacheKey): number;
  invalidateAll(): number;
  suspend(): void;
  resume(): void;
  readonly stats: CacheStats;
}

/**
 * The caches of one process, by name: explicit invalidations arrive as `{cache, keys | null}` and are
 * resolved here, and a reset flushes them all. A reader's registry is usually made through `CacheRules`,
 * which declares each cache with the stream rules that invalidate it.
 *
 * @example
 * ```ts
 * import { CacheRegistry } from 'slotstream';
 * const caches = new CacheRegistry();
 * const getEvent = caches.define<[eventId: string], string>('getEvent', { max: 50_000, keyLength: 1 });
 * caches.invalidate('getEvent', ['$event']); // true: as a writer's tx.invalidate('getEvent', ['$event'])
 * caches.invalidateAll(); // a reset: every cache flushed
 * ```
 */
export class CacheRegistry {
  readonly #caches = new Map<string, RegisteredCache>();

  /**
   * Creates and registers a cache. Names are unique: invalidations find caches by name. Throws
   * CacheDefinitionError for an empty or taken name, or a bound that is not a positive integer.
   */
  define<K extends CacheKey, V>(name: string, options: CacheOptions): TupleCache<K, V> {
    if (name === '') throw new CacheDefinitionError(name, 'a cache needs a name');
    if (this.#caches.has(name)) throw new CacheDefinitionError(name, 'a cache of that name already exists');
    const cache = new TupleCache<K, V>(name, options);
    this.#caches.set(name, cache);
    return cache;
  }

  /** The cache registered as `name`, if any (untyped: keep the `TupleCache` that `define` returned). */
  get(name: string): RegisteredCache | undefined {
    return this.#caches.get(name);
  }

  /** The registered caches' names, in definition order. */
  get names(): string[] {
    return [...this.#caches.keys()];
  }

  /**
   * Applies an explicit invalidation: `keys` as a prefix (a full key is its own prefix, so this is the exact
   * invalidation for full keys, and Synapse's tree-cache behaviour for shorter ones), `null` for everything.
   * Returns false, changing nothing, when this process has no such cache: like Synapse, a reader ignores
   * invalidations for caches it does not keep. A key of the wrong shape throws `CacheKeyError`.
   */
  invalidate(name: string, keys: CacheKey | null): boolean {
    const cache = this.#caches.get(name);
    if (cache === undefined) return false;
    if (keys === null) cache.invalidateAll();
    else cache.invalidatePrefix(keys);
    return true;
  }

  /** Flushes every cache: the reset after a lost or recreated slot. */
  invalidateAll(): void {
    for (const cache of this.#caches.values()) cache.invalidateAll();
  }

  /**
   * Empties every cache and keeps them empty until `resume()`: reads still load, from the database, but
   * nothing is stored. For a reader that stops applying changes (a fault): nothing would invalidate what it
   * cached meanwhile.
   */
  suspend(): void {
    for (const cache of this.#caches.values()) cache.suspend();
  }

  /** Caches store again (after the reset that ends a fault, which emptied them). */
  resume(): void {
    for (const cache of this.#caches.values()) cache.resume();
  }

  /** Every cache's numbers, with its name, in definition order (a snapshot, like each cache's). */
  get stats(): Array<{ name: string } & CacheStats> {
    return [...this.#caches].map(([name, cache]) => ({ name, ...cache.stats }));
  }
}
