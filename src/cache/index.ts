/**
 * # cache/ — named, bounded caches that invalidation can trust
 *
 * A reader keeps query results in `TupleCache`s, registered by name in a `CacheRegistry` so that explicit
 * invalidations from the writer (`{cache, keys | null}`) and invalidations derived from stream rows can find
 * them. Keys are tuples of strings, like Synapse's `@cached` arguments; values are anything.
 *
 * **Bounded.** Each cache is an LRU (`lru-cache`) with a fixed entry count (docs/design.md: bounded memory).
 *
 * **Prefix index.** `invalidatePrefix(['!room:x'])` clears every `['!room:x', *]` entry, as Synapse's
 * `tree=True` caches do. Scanning the LRU would cost the whole cache per invalidation; instead a tree of key
 * elements (`PrefixTree`) lists the keys under each prefix, so the cost is the entries removed. The tree is
 * updated from lru-cache's `dispose` hook, which sees every removal (eviction, delete, clear), so an evicted
 * entry never lingers in the index: the index holds exactly the LRU's keys, and its node count returns to 0
 * when the cache empties.
 *
 * **Generations: no stale load is ever stored** (docs/design.md: no stale cache). A load reads the database, then stores what it
 * read. If an invalidation of its key lands in between, storing the result would cache data older than the
 * invalidation, after the reader has reported the position that made it stale. So every load in flight is
 * registered under its key (in a second `PrefixTree`, so prefix invalidations reach loads as cheaply as
 * entries). An exact or prefix invalidation marks the affected loads invalidated and unregisters them; an
 * `invalidateAll` advances the cache's generation, which disowns every load started under an older one at
 * once. A finished load stores its result only if it is still registered-and-current; either way it returns
 * the result to its callers, since it was correct as of when it read. A `getOrLoad` after the invalidation
 * finds no registered load and starts a fresh one instead of joining the stale one. Nothing about an
 * invalidation outlives the loads it affects: no per-key generation history is kept.
 *
 * **Updates in place.** `updatePrefix(prefix, update)` gives every entry under a prefix a new value computed
 * from its old one (or invalidates it, when `update` answers undefined), so a reader can extend a cached
 * list from the rows it replicates instead of reading it again. Towards loads in flight it is an
 * invalidation: they are disowned, since what they read may predate the change.
 *
 * **Key encoding.** The LRU stores JSON-encoded tuples, which cannot collide (`['a|b']` vs `['a', 'b']`).
 *
 * **Change caches.** A `StreamChangeCache` holds no values: per stream, the position at which each entity
 * last changed, so "has this room changed since P?" is answered from memory, and conservatively ("maybe")
 * about whatever it has forgotten. `KeyHistory` is the bounded memory under it, and under the notifier.
 */
export { CacheDefinitionError, CacheKeyError } from './errors.ts';
export { type CacheKey, encodeKey } from './key.ts';
export { CacheRegistry, type RegisteredCache } from './registry.ts';
export type { CacheStats } from './stats.ts';
export {
  type ChangeCacheOptions,
  type ChangeCacheStats,
  StreamChangeCache,
} from './stream-change-cache.ts';
export { type CacheOptions, TupleCache } from './tuple-cache.ts';
