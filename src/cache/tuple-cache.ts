import { LRUCache } from 'lru-cache';
import { CacheDefinitionError } from './errors.ts';
import { type CacheKey, checkKey, encodeKey } from './key.ts';
import { PrefixTree } from './prefix-tree.ts';
import type { CacheStats } from './stats.ts';

export interface CacheOptions {
  /** The most entries kept; the least recently used goes first. */
  max: number;
  /**
   * How many elements every full key has. Optional, but when given, keys and prefixes of the wrong length
   * are rejected instead of silently matching nothing.
   */
  keyLength?: number;
}

/** What the LRU holds: the tuple travels with the value so eviction can find its place in the prefix index. */
interface Entry<K, V> {
  readonly key: K;
  readonly value: V;
}

/** A load in flight. `invalidated` is its own invalidation generation: set once, the result is not stored. */
interface Load<V> {
  /** The cache-wide generation when the load started; `invalidateAll` moves it on. */
  readonly generation: number;
  invalidated: boolean;
  readonly promise: Promise<V>;
}

/**
 * A bounded LRU cache keyed by string tuples, with exact, prefix and total invalidation, and loads that can
 * never store a result read before an invalidation of their key (docs/design.md: no stale cache). Entries
 * can also be changed in place (`updatePrefix`, what a `CacheRules` update rule does), which disowns loads
 * in flight just as an invalidation does.
 *
 * Made by `CacheRules.define` or `CacheRegistry.define`, which register it by name so that a writer's
 * invalidations find it; the constructor throws CacheDefinitionError for a bound that is not a positive
 * integer. Every method that takes a key throws CacheKeyError for a key of the wrong shape.
 *
 * @example
 * ```ts
 * import { CacheRegistry } from 'slotstream';
 * const caches = new CacheRegistry();
 * const todosOf = caches.define<[owner: string], string[]>('todosOf', { max: 10_000, keyLength: 1 });
 * // a miss runs the loader (db: the service's knex); concurrent callers share it, later ones hit
 * const mine = await todosOf.getOrLoad(['alice'], () => db('todos').where('owner', 'alice').pluck('title'));
 * todosOf.invalidate(['alice']); // 1: the entry removed; the next getOrLoad reads again
 * ```
 */
export class TupleCache<K extends CacheKey, V> {
  readonly max: number;
  readonly keyLength: number | undefined;
  readonly #lru: LRUCache<string, Entry<K, V>>;
  /** Every cached tuple, by prefix; the value is the tuple's encoding, the LRU's key. */
  readonly #index = new PrefixTree<string>();
  /** Loads in flight, by prefix, so a prefix invalidation reaches them without scanning every load. */
  readonly #loads = new PrefixTree<Load<V>>();
  #generation = 0;
  /** Loads answer but are not stored (see CacheRegistry.suspend). */
  #suspended = false;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;
  #updates = 0;
  #evictions = 0;
  #staleLoads = 0;

  constructor(
    readonly name: string,
    options: CacheOptions,
  ) {
    if (!Number.isSafeInteger(options.max) || options.max < 1) {
      throw new CacheDefinitionError(name, `max must be a positive integer, not ${options.max}`);
    }
    if (
      options.keyLength !== undefined &&
      (!Number.isSafeInteger(options.keyLength) || options.keyLength < 1)
    ) {
      throw new CacheDefinitionError(name, `keyLength must be a positive integer, not ${options.keyLength}`);
    }
    this.max = options.max;
    this.keyLength = options.keyLength;
    this.#lru = new LRUCache<string, Entry<K, V>>({
      max: options.max,
      // Keeps the prefix index exactly in step with the LRU, whatever removed the entry. 'set' means the
      // value under a key was replaced: the key stays, and so does its index entry. (With only `max`
      // configured, 'set' is never the oversize-entry deletion that lru-cache also reports as 'set'.)
      dispose: (entry, _encoded, reason) => {
        if (reason === 'set') return;
        this.#index.delete(entry.key);
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /** The cached value, or `undefined` (also a possible value: use `getOrLoad` for caches that store it). */
  get(key: K): V | undefined {
    checkKey(this.name, key, this.keyLength, 'key');
    const entry = this.#lru.get(encodeKey(key));
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return entry.value;
  }

  /**
   * The cached value, else the result of the load in flight for this key, else a new load by `loader`.
   * Concurrent callers share one load. A load overtaken by an invalidation of its key still answers its
   * callers (it was right when it read) but is not stored, and later callers start a fresh one.
   */
  getOrLoad(key: K, loader: () => Promise<V> | V): Promise<V> {
    checkKey(this.name, key, this.keyLength, 'key');
    const entry = this.#lru.get(encodeKey(key));
    if (entry !== undefined) {
      this.#hits++;
      return Promise.resolve(entry.value);
    }
    const pending = this.#loads.get(key);
    if (pending !== undefined) {
      this.#hits++;
      return pending.promise;
    }
    this.#misses++;
    // The loader runs a microtask later, once the load is registered: an invalidation is never missed by a
    // loader that reads synchronously, and a loader that throws synchronously rejects like any other.
    const load: Load<V> = {
      generation: this.#generation,
      invalidated: false,
      promise: Promise.resolve()
        .then(loader)
        .then(
          (value) => this.#loaded(key, load, value),
          (error: unknown) => {
            this.#forget(key, load);
            throw error;
          },
        ),
    };
    this.#loads.set(key, load);
    return load.promise;
  }

  /** Removes exactly `key` and disowns its load in flight. Returns the entries removed (0 or 1). */
  invalidate(key: K): number {
    checkKey(this.name, key, this.keyLength, 'key');
    const load = this.#loads.get(key);
    if (load !== undefined) {
      load.invalidated = true;
      this.#loads.delete(key);
    }
    if (!this.#lru.delete(encodeKey(key))) return 0;
    this.#invalidations++;
    return 1;
  }

  /**
   * Removes every entry whose key starts with `prefix` (`['!room:x']` clears every `['!room:x', *]`) and
   * disowns their loads in flight, in time proportional to those entries. The empty prefix is everything.
   * Returns the entries removed.
   */
  invalidatePrefix(prefix: CacheKey): number {
    checkKey(this.name, prefix, this.keyLength, 'prefix');
    if (prefix.length === 0) return this.invalidateAll();
    for (const load of this.#loads.take(prefix)) load.invalidated = true;
    // Detached from the index first; the deletes' dispose calls then find nothing left to remove there.
    const encoded = this.#index.take(prefix);
    for (const key of encoded) this.#lru.delete(key);
    this.#invalidations += encoded.length;
    return encoded.length;
  }

  /**
   * Changes in place every entry whose key starts with `prefix` (the empty prefix: every entry):
   * `update(value, key)` returns the entry's new value, or `undefined` to invalidate it. Loads in flight
   * under the prefix are disowned, as by `invalidatePrefix`: they may have read before the change, and
   * their result cannot be updated because it is not there yet. `update` must return a new value, never
   * change the one it is given: callers may still hold it. Should `update` throw for an entry, that entry is
   * invalidated, the others are still updated, and the first error is thrown at the end. Returns the entries
   * updated (not those invalidated).
   */
  updatePrefix(prefix: CacheKey, update: (value: V, key: K) => V | undefined): number {
    checkKey(this.name, prefix, this.keyLength, 'prefix');
    if (prefix.length === 0) {
      this.#generation++;
      this.#loads.clear();
    } else for (const load of this.#loads.take(prefix)) load.invalidated = true;
    let updated = 0;
    let failure: { error: unknown } | undefined;
    for (const encoded of this.#index.values(prefix)) {
      const entry = this.#lru.peek(encoded) as Entry<K, V>; // the index holds exactly the LRU's keys
      let value: V | undefined;
      try {
        value = update(entry.value, entry.key);
      } catch (error) {
        failure ??= { error };
      }
      if (value === undefined) {
        this.#lru.delete(encoded);
        this.#invalidations++;
      } else {
        this.#lru.set(encoded, { key: entry.key, value });
        updated++;
      }
    }
    this.#updates += updated;
    if (failure !== undefined) throw failure.error;
    return updated;
  }

  /** Removes everything and disowns every load in flight (a reset). Returns the entries removed. */
  invalidateAll(): number {
    // One step of the generation disowns every load in flight at once, without visiting them.
    this.#generation++;
    this.#loads.clear();
    const removed = this.#lru.size;
    this.#lru.clear();
    this.#index.clear();
    this.#invalidations += removed;
    return removed;
  }

  /** Empties the cache and stores no load until `resume()`; loads still answer their callers. */
  suspend(): void {
    this.invalidateAll();
    this.#suspended = true;
  }

  /** Stores loads again. */
  resume(): void {
    this.#suspended = false;
  }

  /** Entries held now. */
  get size(): number {
    return this.#lru.size;
  }

  /** A snapshot of the counters: a new object each time, which later activity does not change. */
  get stats(): CacheStats {
    return {
      size: this.#lru.size,
      hits: this.#hits,
      misses: this.#misses,
      invalidations: this.#invalidations,
      updates: this.#updates,
      evictions: this.#evictions,
      staleLoads: this.#staleLoads,
      loading: this.#loads.size,
      indexNodes: this.#index.nodes,
    };
  }

  #loaded(key: K, load: Load<V>, value: V): V {
    this.#forget(key, load);
    if (load.invalidated || load.generation !== this.#generation) {
      this.#staleLoads++;
      return value;
    }
    if (this.#suspended) return value;
    // No other load of this key can have stored meanwhile: a second load starts only once this one is
    // forgotten, which before now happens only by invalidating it.
    this.#lru.set(encodeKey(key), { key, value });
    this.#index.set(key, encodeKey(key));
    return value;
  }

  /** Unregisters a finished load, unless an invalidation already did and a newer load took its place. */
  #forget(key: K, load: Load<V>): void {
    if (this.#loads.get(key) === load) this.#loads.delete(key);
  }
}
