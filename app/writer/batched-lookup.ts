/**
 * Reads that many concurrent requests make, one query per batch instead of one each. Every send authenticates
 * its token and checks its sender's membership: at 32 concurrent clients those two reads were most of the
 * writer's round trips, and a round trip costs the database about what a whole batched write does. The
 * answers stay fresh (each comes from a query issued after its request arrived); nothing is cached.
 *
 * One query is in flight at a time: keys asked for meanwhile wait for it to finish and then go together.
 * A lone request is sent at once, so at one client a lookup costs what it did; under load, batches grow
 * with the round trip's length, as StreamWriter's do.
 */
export class BatchedLookup<K, V> {
  #waiting = new Map<string, { key: K; settle: Array<{ resolve(v: V): void; reject(e: unknown): void }> }>();
  #inFlight = false;

  /**
   * @param fetch answers every key of a batch: the returned function gives each key's value (a key the
   *   query did not find included: the caller decides what "absent" means).
   * @param id identifies a key: two requests for the same key share one place in the query.
   */
  constructor(
    private readonly fetch: (keys: K[]) => Promise<(key: K) => V>,
    private readonly id: (key: K) => string,
  ) {}

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const id = this.id(key);
      const entry = this.#waiting.get(id);
      if (entry) entry.settle.push({ resolve, reject });
      else this.#waiting.set(id, { key, settle: [{ resolve, reject }] });
      if (!this.#inFlight) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#inFlight = true;
    while (this.#waiting.size > 0) {
      const batch = [...this.#waiting.values()];
      this.#waiting.clear();
      try {
        const answer = await this.fetch(batch.map((entry) => entry.key));
        for (const entry of batch) {
          const value = answer(entry.key);
          for (const s of entry.settle) s.resolve(value);
        }
      } catch (error) {
        // The query failed for the whole batch (the database is unreachable, say): every request in it
        // gets the error, as it would have from a query of its own.
        for (const entry of batch) for (const s of entry.settle) s.reject(error);
      }
    }
    this.#inFlight = false;
  }
}
