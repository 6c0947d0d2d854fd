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
 * invalidates `getEvent([event_id])` and, as a prefix, `getRoomTimeline([room_id])`. It goes to
 * `CacheRules.define`, as one of the cache's rules.
 *
 * @example
 * ```ts
 * import { on } from 'slotstream';
 * // todos: a tableStream; `old` is Partial (a key-only old row may lack a column), hence the check
 * const byOwner = on(todos, (u) => {
 *   const owner = (u.row ?? u.old).owner;
 *   return owner === undefined ? [[]] : [[owner]]; // the empty prefix: the whole cache
 * });
 * rules.define<[owner: string], string[]>('todosOf', { max: 10_000, keyLength: 1 }, byOwner);
 * ```
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
 * `rulesFor(stream)` for each update. Give it to `StreamReader.start` as `caches`.
 *
 * @example
 * ```ts
 * import { CacheRegistry, CacheRules, on } from 'slotstream';
 * const rules = new CacheRules(new CacheRegistry());
 * // A change to a todo makes its owner's list stale; a delete (whose old row is Partial) clears them all.
 * const todosOf = rules.define<[owner: string], string[]>('todosOf', { max: 10_000, keyLength: 1 },
 *   on(todos, (u) => (u.op === 'delete' ? [[]] : [[u.row.owner]])));
 * // then StreamReader.start({ connectionString, slot, streams, caches: rules }) applies it
 * ```
 */
export class CacheRules {
  readonly registry: CacheRegistry;
  readonly #byStream = new Map<string, Array<{ cache: string; rule: InvalidationRule }>>();

  constructor(registry: CacheRegistry) {
    this.registry = registry;
  }

  /**
   * Creates cache `name` in the registry (see `CacheRegistry.define`, whose CacheDefinitionError it throws)
   * and records `rules`: the stream updates that invalidate its keys.
   */
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
