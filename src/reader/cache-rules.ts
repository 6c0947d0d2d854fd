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
 * How updates of one stream change one cache's entries in place instead of invalidating them (made by
 * `updateOn`): `keys` names the key prefixes an update concerns, and `apply` computes an entry's new value
 * from its old one and the transaction's updates under its prefix, or answers `undefined` to invalidate it.
 */
export interface UpdateRule<K extends CacheKey = CacheKey, V = unknown> {
  readonly stream: string;
  readonly keys: (update: RowUpdate<Record<string, unknown>>) => Iterable<CacheKey>;
  // A method, so that a rule for one cache's value type is also an UpdateRule of unknown values.
  apply(value: V, updates: ReadonlyArray<RowUpdate<Record<string, unknown>>>, key: K): V | undefined;
}

/**
 * An update rule bound to the cache `CacheRules.define` made for it: what the reader calls, once per key
 * prefix a transaction's updates named, with those updates in commit order.
 */
export interface CacheUpdater {
  readonly cache: string;
  readonly keys: UpdateRule['keys'];
  /** Applies one transaction's `updates` to the entries under `prefix`; returns the entries updated. */
  readonly apply: (prefix: CacheKey, updates: ReadonlyArray<RowUpdate<Record<string, unknown>>>) => number;
}

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
 * An update rule for a cache (for `CacheRules.define`, beside or instead of `on` rules): a change of
 * `stream` that concerns the key prefixes `keys` returns is applied to the entries under them by `apply`,
 * which returns an entry's new value, or `undefined` to invalidate it. The reader applies it with the
 * transaction, where an invalidation would go, so what it guarantees holds for updates too: loads in flight
 * under those prefixes are disowned and the position moves only afterwards.
 *
 * `apply(value, updates, key)` gets the updates of one transaction under the entry's prefix, in commit
 * order. It must answer `undefined` whenever it cannot produce exactly the value a load would read after
 * the transaction: for a change it does not model (an update, a delete), and when `value` may already
 * include the transaction. A load reads the database "now", which can be ahead of the stream: a value
 * loaded just before the reader applied a transaction may contain that transaction's rows. What `value`
 * does vouch for is everything applied before it was stored (any later change either reached it through
 * this rule or removed it), so a rule over positions can check that the newest position in `value` is
 * below the lowest of `updates`. It must return a new value, never change `value`: callers may hold it.
 *
 * Within one transaction, a rule's updates are kept up to `EffectLimits.updateRowsPerCache` rows; past
 * that, or when its key prefixes differ in length (one entry could then fall under two of them), its
 * prefixes are invalidated instead. A truncate of the stream invalidates the whole cache. A cache's
 * invalidations apply before its updates, and its update rules one after another.
 *
 * @example
 * ```ts
 * import { updateOn } from 'slotstream';
 * // todosOf([owner]): an owner's todo titles, oldest first. A new todo is appended when the cached list
 * // does not hold it yet; any other change (or a list that may already hold it) invalidates.
 * const appendTodos = updateOn(todos, {
 *   keys: (u) => { const owner = (u.row ?? u.old).owner; return owner === undefined ? [[]] : [[owner]]; },
 *   apply: (titles: string[], updates) => {
 *     if (updates.some((u) => u.op !== 'insert' || titles.includes(u.row.title))) return undefined;
 *     return [...titles, ...updates.map((u) => u.row.title)];
 *   },
 * });
 * rules.define<[owner: string], string[]>('todosOf', { max: 10_000, keyLength: 1 }, appendTodos);
 * ```
 */
export function updateOn<C extends TableStream, K extends CacheKey, V>(
  stream: C,
  rule: {
    keys: (update: RowUpdate<RowOf<C['columns']>>) => Iterable<CacheKey>;
    apply: (value: V, updates: ReadonlyArray<RowUpdate<RowOf<C['columns']>>>, key: K) => V | undefined;
  },
): UpdateRule<K, V> {
  return {
    stream: stream.name,
    keys: rule.keys as UpdateRule['keys'],
    apply: rule.apply as UpdateRule<K, V>['apply'],
  };
}

/**
 * Caches and the rules that keep them fresh, declared together: `define(name, options, ...rules)` creates
 * the cache in the registry and records which stream updates invalidate which of its keys (or, with
 * `updateOn` rules, change its entries in place); `changes(name, options, ...rules)` creates a change cache
 * and records which updates change which of its entities. The reader asks `rulesFor(stream)`,
 * `updatersFor(stream)` and `changeRulesFor(stream)` for each update. Give it to `StreamReader.start` as
 * `caches`.
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
  readonly #updatersByStream = new Map<string, CacheUpdater[]>();
  readonly #changes = new Map<string, StreamChangeCache>();
  readonly #changesByStream = new Map<string, Array<{ cache: StreamChangeCache; rule: ChangeRule }>>();

  constructor(registry: CacheRegistry) {
    this.registry = registry;
  }

  /**
   * Creates cache `name` in the registry (see `CacheRegistry.define`, whose CacheDefinitionError it throws)
   * and records `rules`: the stream updates that invalidate its keys (`on`), or change its entries in place
   * (`updateOn`).
   */
  define<K extends CacheKey, V>(
    name: string,
    options: CacheOptions,
    ...rules: Array<InvalidationRule | UpdateRule<K, V>>
  ): TupleCache<K, V> {
    const cache = this.registry.define<K, V>(name, options);
    for (const rule of rules) {
      if ('apply' in rule) {
        append(this.#updatersByStream, rule.stream, {
          cache: name,
          keys: rule.keys,
          apply: (prefix, updates) =>
            cache.updatePrefix(prefix, (value, key) => rule.apply(value, updates, key)),
        });
      } else append(this.#byStream, rule.stream, { cache: name, rule });
    }
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

  /** The update rules of a stream's updates, each bound to its cache. */
  updatersFor(stream: string): readonly CacheUpdater[] {
    return this.#updatersByStream.get(stream) ?? NONE;
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
