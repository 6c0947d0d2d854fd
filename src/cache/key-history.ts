/**
 * Per key, the position of its last update, so a waiter arriving with an old token learns at once that one
 * of its keys already changed. Memory is bounded: past `maxKeys` the least recently updated key is
 * forgotten and `floor` rises to its position. Every forgotten update is at or below `floor`, so
 *
 * - a known key changed after `after` iff its position is above `after` (exact);
 * - an unknown key may have changed after `after` only if `after < floor`; then we say it did. A spurious
 *   wake costs a client one empty sync; a missed one would leave it waiting while data sits there.
 *
 * `floor` also starts at the position the reader started from: updates before it were never seen here.
 * `Notifier` keeps one per position space, and `StreamChangeCache` one per stream; the constructor throws
 * RangeError unless `maxKeys` is a positive integer.
 *
 * @example
 * ```ts
 * import { KeyHistory } from 'slotstream';
 * const history = new KeyHistory(0n, 100_000); // the start position, and how many keys to remember
 * history.record('!room:x', 5n);
 * history.changedSince('!room:x', 4n); // true
 * history.changedSince('!room:y', 4n); // false: not updated since the start
 * ```
 */
export class KeyHistory {
  /** Insertion order is update order (a key moves to the end when updated): the first entry is evicted. */
  readonly #last = new Map<string, bigint>();
  #floor: bigint;

  constructor(
    start: bigint,
    readonly maxKeys: number,
  ) {
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) {
      throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
    }
    this.#floor = start;
  }

  /** Every update this history no longer remembers is at or below this position. */
  get floor(): bigint {
    return this.#floor;
  }

  /** Keys remembered now (at most `maxKeys`). */
  get size(): number {
    return this.#last.size;
  }

  /** The key's last known update, if still remembered. */
  get(key: string): bigint | undefined {
    return this.#last.get(key);
  }

  /**
   * Records an update of `key` at `position`. Returns false when the key is already known at `position` or
   * later (a repeat within one batch, or a redelivery): nothing new, so the caller need not look for waiters.
   */
  record(key: string, position: bigint): boolean {
    const known = this.#last.get(key);
    if (known !== undefined) {
      if (known >= position) return false;
      this.#last.delete(key);
    } else if (position <= this.#floor) {
      // The key may have been forgotten at a higher position (≤ floor): remembering this lower one would
      // answer "unchanged" to tokens between the two. Unknown below the floor already means "changed".
      // Registered waiters may still be due, so the caller looks for them.
      return true;
    }
    this.#last.set(key, position);
    if (this.#last.size > this.maxKeys) this.#evictOldest();
    return true;
  }

  /** Whether `key` changed after `after`, erring towards yes once its history was pruned. */
  changedSince(key: string, after: bigint): boolean {
    const known = this.#last.get(key);
    return known !== undefined ? known > after : after < this.#floor;
  }

  /** Forgets every key; nothing before `position` can be vouched for any more. */
  reset(position: bigint): void {
    this.#last.clear();
    if (position > this.#floor) this.#floor = position;
  }

  #evictOldest(): void {
    for (const [key, position] of this.#last) {
      this.#last.delete(key);
      // With positions out of order the first entry need not be the lowest; the floor only ever rises.
      if (position > this.#floor) this.#floor = position;
      return;
    }
  }
}
