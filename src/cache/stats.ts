/**
 * One cache's counters and gauges, as plain numbers so a metrics endpoint can export them as they are
 * (counters: hits, misses, invalidations, updates, evictions, staleLoads; gauges: size, loading,
 * indexNodes).
 */
export interface CacheStats {
  /** Entries held now. */
  size: number;
  /** Lookups answered from the cache, or by joining a load already in flight. */
  hits: number;
  /** Lookups that found nothing (`get`) or started a load (`getOrLoad`). */
  misses: number;
  /** Entries removed by invalidation (exact, prefix or all, or an update that could not be applied). */
  invalidations: number;
  /** Entries changed in place by `updatePrefix` (an update rule) instead of being removed and read again. */
  updates: number;
  /** Entries removed by the LRU bound. */
  evictions: number;
  /** Loads whose result was returned but not stored because an invalidation overtook them. */
  staleLoads: number;
  /** Loads in flight now. */
  loading: number;
  /** Nodes of the prefix index; follows `size` (0 when the cache is empty), so a leak shows here. */
  indexNodes: number;
}
