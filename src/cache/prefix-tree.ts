import type { CacheKey } from './key.ts';

interface Node<T> {
  children: Map<string, Node<T>> | undefined;
  /** Whether a value is stored at exactly this key (it may be `undefined` itself). */
  has: boolean;
  value: T | undefined;
}

/**
 * A map from tuple keys to values that can hand over everything under a prefix in time proportional to what
 * is under it, not to the whole map. Nodes exist only on the paths to stored keys: deleting a key prunes the
 * nodes it alone needed, so the tree's size follows the number of keys and never leaks. `TupleCache` keeps
 * its prefix index in one; it is exported for code that needs the same over its own values.
 *
 * @example
 * ```ts
 * import { PrefixTree } from 'slotstream';
 * const tree = new PrefixTree<number>();
 * tree.set(['!room:x', '$a'], 1);
 * tree.set(['!room:x', '$b'], 2);
 * tree.take(['!room:x']); // [2, 1]: everything under the prefix, now removed (tree.size is 0)
 * ```
 */
export class PrefixTree<T> {
  #root: Node<T> = emptyNode();
  #size = 0;
  #nodes = 0;

  /** Stored keys. */
  get size(): number {
    return this.#size;
  }

  /** Nodes below the root; 0 whenever the tree is empty. */
  get nodes(): number {
    return this.#nodes;
  }

  /** The value stored at exactly `key`, or undefined. */
  get(key: CacheKey): T | undefined {
    return this.#find(key)?.value;
  }

  /** Stores `value` at `key`, replacing what was there, and creates the nodes on its path. */
  set(key: CacheKey, value: T): void {
    let node = this.#root;
    for (const part of key) {
      node.children ??= new Map();
      let child = node.children.get(part);
      if (child === undefined) {
        child = emptyNode();
        node.children.set(part, child);
        this.#nodes++;
      }
      node = child;
    }
    if (!node.has) this.#size++;
    node.has = true;
    node.value = value;
  }

  /** Removes exactly `key` (not what lies below it); returns whether it was there. */
  delete(key: CacheKey): boolean {
    const path: Node<T>[] = [this.#root];
    for (const part of key) {
      const child = path[path.length - 1]?.children?.get(part);
      if (child === undefined) return false;
      path.push(child);
    }
    const node = path[path.length - 1] as Node<T>;
    if (!node.has) return false;
    node.has = false;
    node.value = undefined;
    this.#size--;
    // Prune upwards every node left with neither a value nor children.
    for (let depth = key.length; depth > 0; depth--) {
      const current = path[depth] as Node<T>;
      if (current.has || (current.children?.size ?? 0) > 0) break;
      const parent = path[depth - 1] as Node<T>;
      parent.children?.delete(key[depth - 1] as string);
      if (parent.children?.size === 0) parent.children = undefined;
      this.#nodes--;
    }
    return true;
  }

  /**
   * Detaches everything at or under `prefix` and returns the values; the empty prefix takes all. Costs the
   * size of that subtree plus the prefix length.
   */
  take(prefix: CacheKey): T[] {
    if (prefix.length === 0) {
      const all = this.#collect(this.#root).values;
      this.clear();
      return all;
    }
    const path: Node<T>[] = [this.#root];
    for (const part of prefix) {
      const child = path[path.length - 1]?.children?.get(part);
      if (child === undefined) return [];
      path.push(child);
    }
    const { values, nodes } = this.#collect(path[path.length - 1] as Node<T>);
    this.#size -= values.length;
    this.#nodes -= nodes;
    // Cut the subtree off, then prune the ancestors it leaves empty (as in delete).
    for (let depth = prefix.length; depth > 0; depth--) {
      const current = path[depth] as Node<T>;
      if (depth < prefix.length && (current.has || (current.children?.size ?? 0) > 0)) break;
      const parent = path[depth - 1] as Node<T>;
      parent.children?.delete(prefix[depth - 1] as string);
      if (parent.children?.size === 0) parent.children = undefined;
      if (depth < prefix.length) this.#nodes--;
    }
    return values;
  }

  /**
   * The values at or under `prefix` (the empty prefix: all), left in place. Costs the size of that subtree
   * plus the prefix length, like `take`.
   */
  values(prefix: CacheKey): T[] {
    let node: Node<T> | undefined = this.#root;
    for (const part of prefix) {
      node = node.children?.get(part);
      if (node === undefined) return [];
    }
    return this.#collect(node).values;
  }

  /** Removes every key. */
  clear(): void {
    this.#root = emptyNode();
    this.#size = 0;
    this.#nodes = 0;
  }

  #find(key: CacheKey): Node<T> | undefined {
    let node: Node<T> | undefined = this.#root;
    for (const part of key) {
      node = node.children?.get(part);
      if (node === undefined) return undefined;
    }
    return node.has ? node : undefined;
  }

  /** The values at and under `top`, and how many nodes lie under it (`top` itself included). */
  #collect(top: Node<T>): { values: T[]; nodes: number } {
    const values: T[] = [];
    let nodes = 0;
    // An explicit stack: key depth is small, but a recursion per node is needless for wide trees.
    const stack: Node<T>[] = [top];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      nodes++;
      if (node.has) values.push(node.value as T);
      if (node.children) for (const child of node.children.values()) stack.push(child);
    }
    return { values, nodes: top === this.#root ? nodes - 1 : nodes };
  }
}

function emptyNode<T>(): Node<T> {
  return { children: undefined, has: false, value: undefined };
}
