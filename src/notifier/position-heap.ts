/** An entry that knows where it sits, so it can be removed in O(log n) when its wait times out or aborts. */
export interface HeapEntry {
  readonly target: bigint;
  /** Maintained by the heap; -1 when not in it. */
  heapIndex: number;
}

/**
 * Binary min-heap by `target` with removal of any entry. `advance` pops only the entries it resolves, so
 * its cost follows the waiters woken, not the waiters waiting; true removal (not lazy tombstones) keeps
 * memory at the live waiters when far-future waits time out in bulk.
 */
export class PositionHeap<T extends HeapEntry> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(entry: T): void {
    entry.heapIndex = this.#items.length;
    this.#items.push(entry);
    this.#up(entry.heapIndex);
  }

  pop(): T | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(entry: T): void {
    const i = entry.heapIndex;
    if (i < 0 || this.#items[i] !== entry) return;
    const last = this.#items.pop() as T;
    entry.heapIndex = -1;
    if (last === entry) return;
    this.#items[i] = last;
    last.heapIndex = i;
    this.#up(i);
    this.#down(last.heapIndex);
  }

  #up(i: number): void {
    const items = this.#items;
    const entry = items[i] as T;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (parent.target <= entry.target) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = entry;
    entry.heapIndex = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const entry = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (items[r] as T).target < (items[l] as T).target) c = r;
      const child = items[c] as T;
      if (child.target >= entry.target) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = entry;
    entry.heapIndex = i;
  }
}
