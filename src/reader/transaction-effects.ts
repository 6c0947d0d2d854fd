import type { CacheKey } from '../cache/key.ts';
import { encodeKey } from '../cache/key.ts';
import type { StreamChangeCache } from '../cache/stream-change-cache.ts';
import type { RowUpdate } from '../streams/define.ts';
import type { CacheUpdater } from './cache-rules.ts';

export interface EffectLimits {
  /**
   * Distinct key prefixes remembered per cache, and entities per change cache, within one transaction; past
   * it, the whole cache goes (a change cache forgets every entity: all "maybe changed" up to the transaction).
   */
  invalidationsPerCache: number;
  /**
   * Rows an update rule holds within one transaction; past it, its prefixes are invalidated instead. Held
   * rows are whole rows, so this bounds a big transaction's memory; and past a few hundred new rows a
   * reload costs no more than applying them would.
   */
  updateRowsPerCache: number;
  /** Distinct notifier keys remembered within one transaction; past it, every waiter is woken. */
  wakeKeys: number;
}

export const DEFAULT_EFFECT_LIMITS: EffectLimits = {
  invalidationsPerCache: 10_000,
  updateRowsPerCache: 1_000,
  wakeKeys: 100_000,
};

/**
 * A cache's pending effect: some keys, each under its encoding, or everything. For a cache, the key
 * prefixes to invalidate; for a change cache, the entities changed.
 */
type Pending<K> = { all: true } | { all: false; keys: Map<string, K> };

/**
 * An update rule's pending work: per key prefix (under its encoding), the transaction's updates there in
 * commit order. `invalidating` once its prefixes went to the invalidations instead (see `update`).
 */
interface PendingUpdates {
  readonly prefixes: Map<string, { prefix: CacheKey; updates: Array<RowUpdate<Record<string, unknown>>> }>;
  /** The length of every prefix held: prefixes of one length cannot overlap. */
  readonly length: number;
  rows: number;
  invalidating: boolean;
}

/**
 * What one transaction will do once it commits, coalesced so that memory stays bounded whatever its size
 * (bounded memory, docs/design.md): key prefixes per cache, entities per change cache and notifier keys as
 * sets, each with a cap past which it becomes "everything", and update rules' rows, up to a cap past which
 * they become invalidations. A million-row transaction over a thousand rooms holds a thousand room keys, not
 * a million updates. `StreamReader` keeps one for the transaction it is reading; it is exported for code that applies
 * transactions its own way.
 *
 * @example
 * ```ts
 * import { TransactionEffects } from 'slotstream';
 * const effects = new TransactionEffects({ invalidationsPerCache: 2, updateRowsPerCache: 2, wakeKeys: 100_000 });
 * for (const id of ['$a', '$b', '$c']) effects.invalidate('getEvent', [id]);
 * effects.invalidations.get('getEvent'); // { all: true }: past the cap, the whole cache goes
 * effects.clear(); // the next transaction
 * ```
 */
export class TransactionEffects {
  readonly #limits: EffectLimits;
  readonly invalidations = new Map<string, Pending<CacheKey>>();
  readonly changes = new Map<StreamChangeCache, Pending<string>>();
  readonly updates = new Map<CacheUpdater, PendingUpdates>();
  readonly wakeKeys = new Set<string>();
  wakeAll = false;
  /** The transaction's xid, from its Begin. */
  xid: number | undefined;
  /** The position the writer's message announced for this transaction, if it came from the writer. */
  announced: bigint | undefined;
  /** The highest row position seen (for transactions written without the writer API). */
  highestRow: bigint | undefined;
  /** Per stream, the number of updates and the highest row position seen (none for messages, truncates). */
  readonly streams = new Map<string, { updates: number; position: bigint | undefined }>();
  coalesced = 0;

  constructor(limits: EffectLimits = DEFAULT_EFFECT_LIMITS) {
    this.#limits = limits;
  }

  /** Forgets everything: a new transaction, or one cut off mid-way. */
  clear(): void {
    this.xid = undefined;
    this.invalidations.clear();
    this.changes.clear();
    this.updates.clear();
    this.wakeKeys.clear();
    this.wakeAll = false;
    this.announced = undefined;
    this.highestRow = undefined;
    this.streams.clear();
  }

  /** Records an invalidation of `prefix` in `cache` (null or the empty prefix: all of it), within the cap. */
  invalidate(cache: string, prefix: CacheKey | null): void {
    const whole = prefix === null || prefix.length === 0;
    this.#add(this.invalidations, cache, whole ? null : [encodeKey(prefix), prefix]);
  }

  /**
   * Records `update` for an update rule's entries under `prefix`. Falls back to invalidating the rule's
   * prefixes, for the rest of the transaction, when a prefix's length differs from the others' (an entry
   * under two overlapping prefixes would be given each one's updates apart, and out of order) or when the
   * rows held would pass the cap (memory stays bounded).
   */
  update(updater: CacheUpdater, prefix: CacheKey, update: RowUpdate<Record<string, unknown>>): void {
    let pending = this.updates.get(updater);
    if (pending === undefined) {
      pending = { prefixes: new Map(), length: prefix.length, rows: 0, invalidating: false };
      this.updates.set(updater, pending);
    }
    if (
      !pending.invalidating &&
      (prefix.length !== pending.length || pending.rows >= this.#limits.updateRowsPerCache)
    ) {
      if (pending.rows >= this.#limits.updateRowsPerCache) this.coalesced++;
      pending.invalidating = true;
      for (const held of pending.prefixes.values()) this.invalidate(updater.cache, held.prefix);
      pending.prefixes.clear();
    }
    if (pending.invalidating) {
      this.invalidate(updater.cache, prefix);
      return;
    }
    const encoded = encodeKey(prefix);
    const held = pending.prefixes.get(encoded);
    if (held === undefined) pending.prefixes.set(encoded, { prefix, updates: [update] });
    else held.updates.push(update);
    pending.rows++;
  }

  /** Records that `entity` of a change cache changed (null: every entity), within the cap. */
  changed(cache: StreamChangeCache, entity: string | null): void {
    this.#add(this.changes, cache, entity === null ? null : [entity, entity]);
  }

  /** A truncated stream table: who had what is unknown, so every waiter is woken. */
  wakeEveryone(): void {
    this.wakeAll = true;
    this.wakeKeys.clear();
  }

  /** Records a notifier key to wake, within the cap (past it, every waiter is woken). */
  wake(key: string): void {
    if (this.wakeAll) return;
    this.wakeKeys.add(key);
    if (this.wakeKeys.size > this.#limits.wakeKeys) {
      this.wakeAll = true;
      this.wakeKeys.clear();
      this.coalesced++;
    }
  }

  /** Adds a key, under its encoding, to a cache's pending set (null: everything); past the cap, everything. */
  #add<C, K>(pending: Map<C, Pending<K>>, cache: C, key: [encoded: string, key: K] | null): void {
    const current = pending.get(cache);
    if (current?.all === true) return;
    if (key === null) {
      pending.set(cache, { all: true });
      return;
    }
    if (current === undefined) {
      pending.set(cache, { all: false, keys: new Map([key]) });
      return;
    }
    current.keys.set(...key);
    if (current.keys.size > this.#limits.invalidationsPerCache) {
      pending.set(cache, { all: true });
      this.coalesced++;
    }
  }

  /** Counts a row update of `stream` at `position`: the transaction's position and the per-stream stats. */
  sawRow(stream: string, position: bigint): void {
    if (this.highestRow === undefined || position > this.highestRow) this.highestRow = position;
    const seen = this.streams.get(stream);
    if (seen === undefined) this.streams.set(stream, { updates: 1, position });
    else {
      seen.updates++;
      if (seen.position === undefined || position > seen.position) seen.position = position;
    }
  }

  /** An update without a row position of its own (a message, a truncate). */
  sawUpdate(stream: string): void {
    const seen = this.streams.get(stream);
    if (seen === undefined) this.streams.set(stream, { updates: 1, position: undefined });
    else seen.updates++;
  }

  /** Nothing to apply: no invalidation, no wake-up, no position (a transaction of other tables). */
  get isEmpty(): boolean {
    return (
      this.invalidations.size === 0 &&
      this.changes.size === 0 &&
      this.updates.size === 0 &&
      this.wakeKeys.size === 0 &&
      !this.wakeAll &&
      this.position === undefined
    );
  }

  /** The transaction's position: the writer's announcement, else its highest row. */
  get position(): bigint | undefined {
    return this.announced ?? this.highestRow;
  }
}
