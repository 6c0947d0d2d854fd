import type { CacheRegistry } from '../cache/registry.ts';
import type { TransactionEffects } from './transaction-effects.ts';

/**
 * A committed transaction's effects on the caches: its invalidations, then its update rules' updates. Both
 * disown the loads in flight they reach; a cache that an invalidation emptied whole has nothing left to
 * update. Whatever cannot be applied exactly (a key of the wrong shape, a rule that throws) empties the
 * cache rather than leave an entry stale, and goes to `warn`.
 */
export function applyCacheEffects(
  caches: CacheRegistry,
  effects: TransactionEffects,
  warn: (error: unknown) => void,
): void {
  for (const [name, pending] of effects.invalidations) {
    const cache = caches.get(name);
    if (cache === undefined) continue; // a cache this process does not keep, as in Synapse
    if (pending.all) {
      cache.invalidateAll();
      continue;
    }
    try {
      for (const prefix of pending.keys.values()) cache.invalidatePrefix(prefix);
    } catch (error) {
      // A key of the wrong shape (CacheKeyError) matches nothing: clear the cache instead of keeping stale entries.
      warn(error);
      cache.invalidateAll();
    }
  }
  for (const [updater, pending] of effects.updates) {
    if (effects.invalidations.get(updater.cache)?.all === true) continue;
    try {
      for (const { prefix, updates } of pending.prefixes.values()) updater.apply(prefix, updates);
    } catch (error) {
      warn(error);
      caches.get(updater.cache)?.invalidateAll();
    }
  }
}
