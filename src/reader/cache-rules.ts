import type { CacheKey } from '../cache/key.ts';
import type { CacheRegistry } from '../cache/registry.ts';
import type { CacheOptions, TupleCache } from '../cache/tuple-cache.ts';
import type { RowOf } from '../streams/columns.ts';
import type { RowUpdate, TableStream } from '../streams/define.ts';

/** How updates of one stream invalidate one cache: the key prefixes an update makes stale. */
export interface InvalidationRule {
  readonly stream: string;
  readonly keys: (update: RowUpdate<Record<string, unknown>>) => Iterable<CacheKey>;
}

/**
 * A rule for `cache`: updates of `stream` make the returned key prefixes stale. For example, an events row
 * invalidates `getEvent([event_id])` and, as a prefix, `getRoomTimeline([room_id])`.
 */
export function on<C extends TableStream>(
  stream: C,
  keys: (update: RowUpdate<RowOf<C['columns']>>) => Iterable<CacheKey>,
): InvalidationRule {
  return { stream: stream.name, keys: keys as InvalidationRule['keys'] };
}

/**
 * Caches and the rules that keep them fresh, declared together: `define(name, options, ...rules)` creates
 * the cache in the registry and records which stream updates invalidate which of its keys. The reader asks
 * `rulesFor(stream)` for each update.
 */
export class CacheRules {
  readonly registry: CacheRegistry;
  readonly #byStream = new Map<string, Array<{ cache: string; rule: InvalidationRule }>>();

  constructor(registry: CacheRegistry) {
    this.registry = registry;
  }

  define<K extends CacheKey, V>(
    name: string,
    options: CacheOptions,
    ...rules: InvalidationRule[]
  ): TupleCache<K, V> {
    const cache = this.registry.define<K, V>(name, options);
    for (const rule of rules) {
      const list = this.#byStream.get(rule.stream) ?? [];
      list.push({ cache: name, rule });
      this.#byStream.set(rule.stream, list);
    }
    return cache;
  }

  /** The caches a stream's updates invalidate, each with its rule. */
  rulesFor(stream: string): ReadonlyArray<{ cache: string; rule: InvalidationRule }> {
    return this.#byStream.get(stream) ?? NONE;
  }
}

const NONE: ReadonlyArray<{ cache: string; rule: InvalidationRule }> = [];
