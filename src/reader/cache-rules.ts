import { CacheDefinitionError } from '../cache/errors.ts';
import type { CacheKey } from '../cache/key.ts';
import type { CacheRegistry } from '../cache/registry.ts';
import { type ChangeCacheOptions, StreamChangeCache } from '../cache/stream-change-cache.ts';
import type { CacheOptions, TupleCache } from '../cache/tuple-cache.ts';
import type { RowOf } from '../streams/columns.ts';
import type { RowUpdate, TableStream } from '../streams/define.ts';

/** What updates of one stream concern: cache key prefixes they make stale, or entities they change. */
export interface StreamRule<K> {
  readonly stream: string;
  readonly keys: (update: RowUpdate<Record<string, unknown>>) => Iterable<K>;
}

/** How updates of one stream invalidate one cache: the key prefixes an update makes stale. */
export type InvalidationRule = StreamRule<CacheKey>;

/** How updates of one stream feed one change cache: the entities an update changes. */
export type ChangeRule = StreamRule<string>;

/**
 * A rule for a cache: updates of `stream` make the returned key prefixes stale (for `CacheRules.define`),
 * or change the returned entities (for `CacheRules.changes`). For example, an events row invalidates
 * `getEvent([event_id])` and, as a prefix, `getRoomTimeline([room_id])`, and changes the room `room_id`.
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
export function on<C extends TableStream, K extends CacheKey | string>(
  stream: C,
  keys: (update: RowUpdate<RowOf<C['columns']>>) => Iterable<K>,
): StreamRule<K> {
  return { stream: stream.name, keys: keys as StreamRule<K>['keys'] };
}

/**
 * Caches and the rules that keep them fresh, declared together: `define(name, options, ...rules)` creates
 * the cache in the registry and records which stream updates invalidate which of its keys;
 * `changes(name, options, ...rules)` creates a change cache and records which updates change which of its
 * entities. The reader asks `rulesFor(stream)` and `changeRulesFor(stream)` for each update. Give it to
 * `StreamReader.start` as `caches`.
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
  readonly #changes = new Map<string, StreamChangeCache>();
  readonly #changesByStream = new Map<string, Array<{ cache: StreamChangeCache; rule: ChangeRule }>>();

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
    for (const rule of rules) append(this.#byStream, rule.stream, { cache: name, rule });
    return cache;
  }

  /**
   * Creates change cache `name` and records `rules`: the stream updates that change its entities, each at
   * its transaction's position. Throws CacheDefinitionError for an empty or taken name (change caches have
   * names of their own, apart from the registry's), or a bound that is not a positive integer.
   */
  changes(name: string, options: ChangeCacheOptions, ...rules: ChangeRule[]): StreamChangeCache {
    if (name === '') throw new CacheDefinitionError(name, 'a change cache needs a name');
    if (this.#changes.has(name))
      throw new CacheDefinitionError(name, 'a change cache of that name already exists');
    const cache = new StreamChangeCache(name, options);
    this.#changes.set(name, cache);
    for (const rule of rules) append(this.#changesByStream, rule.stream, { cache, rule });
    return cache;
  }

  /** The caches a stream's updates invalidate, each with its rule. */
  rulesFor(stream: string): ReadonlyArray<{ cache: string; rule: InvalidationRule }> {
    return this.#byStream.get(stream) ?? NONE;
  }

  /** The change caches a stream's updates feed, each with its rule. */
  changeRulesFor(stream: string): ReadonlyArray<{ cache: StreamChangeCache; rule: ChangeRule }> {
    return this.#changesByStream.get(stream) ?? NONE;
  }

  /** The change caches, in definition order. */
  get changeCaches(): StreamChangeCache[] {
    return [...this.#changes.values()];
  }

  /** Every change cache forgets what it knew: nothing at or below `position` is vouched for (see `reset`). */
  resetChanges(position: bigint): void {
    for (const cache of this.#changes.values()) cache.reset(position);
  }
}

/** For streams without rules: one shared empty list rather than a new one per update. */
const NONE: readonly never[] = [];

function append<T>(byStream: Map<string, T[]>, stream: string, entry: T): void {
  const list = byStream.get(stream) ?? [];
  list.push(entry);
  byStream.set(stream, list);
}
