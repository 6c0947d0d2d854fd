import { CacheDefinitionError } from './errors.ts';
import { KeyHistory } from './key-history.ts';

export interface ChangeCacheOptions {
  /** The most entities remembered; past it the least recently changed is forgotten (see `earliestKnown`). */
  max: number;
}

/** A change cache's numbers, for metrics. Counters (hits, misses) only rise; `size` is current. */
export interface ChangeCacheStats {
  /** Entities whose last change is remembered now. */
  size: number;
  /** Questions answered from what it remembers: changed, or certainly not. */
  hits: number;
  /** Questions about a position below the earliest known one (or before a reader started it): "maybe". */
  misses: number;
}

/**
 * Per stream, the position at which each entity (a room, a user, …) last changed, so that a reader can
 * answer "has this changed since position P?" from memory and query only what did: Synapse's
 * StreamChangeCache. Made by `CacheRules.changes`, which declares the stream updates that change which
 * entities; the `StreamReader` given those rules keeps it, in step with everything else it applies.
 *
 * **Never a wrong "unchanged".** The reader records a transaction's changes (at the transaction's
 * position) before it advances its position and wakes waiters, so a client that has seen position P finds
 * every change at or below P here. Memory is bounded by `max`: forgetting an entity raises the earliest
 * known position to its last change, and about anything older the answer is "maybe changed" (true). The
 * same holds from where the reader started (nothing before it was seen), and after a reset or a
 * transaction too big to track entity by entity (`reset`): everything below that position is "maybe".
 * Until a reader starts it, it knows nothing, and every answer is "maybe".
 *
 * @example
 * ```ts
 * import { CacheRegistry, CacheRules, on } from 'slotstream';
 * const rules = new CacheRules(new CacheRegistry());
 * // todos: a tableStream; a change to a todo changes its owner's list
 * const lists = rules.changes('todoLists', { max: 100_000 }, on(todos, (u) => {
 *   const owner = (u.row ?? u.old).owner;
 *   return owner === undefined ? [] : [owner];
 * }));
 * // then StreamReader.start({ …, caches: rules }) keeps it; a long-poll or sync handler asks:
 * if (!lists.hasEntityChanged('alice', since.position)) return nothing; // no query
 * ```
 */
export class StreamChangeCache {
  readonly name: string;
  readonly max: number;
  readonly #history: KeyHistory;
  /** Whether a reader has said where its knowledge starts (`reset`); before that nothing is known. */
  #started = false;
  /** The highest position recorded, for `hasAnyEntityChanged`. */
  #latest = 0n;
  #hits = 0;
  #misses = 0;

  constructor(name: string, options: ChangeCacheOptions) {
    if (!Number.isSafeInteger(options.max) || options.max < 1) {
      throw new CacheDefinitionError(name, `max must be a positive integer, not ${options.max}`);
    }
    this.name = name;
    this.max = options.max;
    this.#history = new KeyHistory(0n, options.max);
  }

  /**
   * Every change at or below this position may have been forgotten: questions about an older position
   * are answered "maybe changed". Undefined until a reader starts the cache.
   */
  get earliestKnown(): bigint | undefined {
    return this.#started ? this.#history.floor : undefined;
  }

  /** Entities remembered now (at most `max`). */
  get size(): number {
    return this.#history.size;
  }

  get stats(): ChangeCacheStats {
    return { size: this.#history.size, hits: this.#hits, misses: this.#misses };
  }

  /**
   * Records that `entity` changed at `position` (the reader calls this for each entity its rules name,
   * before its position reaches `position`). Ignored until the cache is started.
   */
  entityChanged(entity: string, position: bigint): void {
    if (!this.#started) return;
    this.#history.record(entity, position);
    if (position > this.#latest) this.#latest = position;
  }

  /**
   * Forgets every entity: anything at or below `position` (or below a change it remembered) may have
   * changed. The reader calls it when it starts, at its starting position; after a reset, at its new
   * position; and for a transaction that changed more entities than it tracks one by one, or truncated
   * the stream's table, at that transaction's position.
   */
  reset(position: bigint): void {
    this.#started = true;
    // Never below a change being forgotten: questions between the two would get a wrong "unchanged".
    this.#history.reset(position > this.#latest ? position : this.#latest);
  }

  /** Whether `entity` may have changed after position `since`: false only when it certainly did not. */
  hasEntityChanged(entity: string, since: bigint): boolean {
    if (!this.#known(since)) return true;
    return this.#history.changedSince(entity, since);
  }

  /**
   * Those of `entities` that may have changed after `since`, in their order: every one of them when
   * `since` is older than what the cache knows.
   */
  getEntitiesChangedSince(entities: readonly string[], since: bigint): string[] {
    if (!this.#known(since)) return [...entities];
    return entities.filter((entity) => this.#history.changedSince(entity, since));
  }

  /** Whether any entity may have changed after `since`. */
  hasAnyEntityChanged(since: bigint): boolean {
    return !this.#known(since) || this.#latest > since;
  }

  /** Whether questions about `since` can be answered exactly, counted as a hit or a miss. */
  #known(since: bigint): boolean {
    const known = this.#started && since >= this.#history.floor;
    if (known) this.#hits++;
    else this.#misses++;
    return known;
  }
}
