import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheKeyError } from '../../src/cache/errors.ts';
import { PrefixTree } from '../../src/cache/prefix-tree.ts';
import { CacheRegistry } from '../../src/cache/registry.ts';
import { TupleCache } from '../../src/cache/tuple-cache.ts';
import { CacheRules, updateOn } from '../../src/reader/cache-rules.ts';
import type { RowUpdate } from '../../src/streams/define.ts';
import { tableStream } from '../../src/streams/define.ts';

type Key = readonly [room: string, limit: string];

/** Lets queued microtasks (a loader's start) run. */
const tick = () => new Promise<void>(setImmediate);

async function filled(): Promise<TupleCache<Key, string[]>> {
  const cache = new TupleCache<Key, string[]>('timeline', { max: 10, keyLength: 2 });
  await cache.getOrLoad(['!a', '10'], () => ['a1']);
  await cache.getOrLoad(['!a', '20'], () => ['a1', 'a0']);
  await cache.getOrLoad(['!b', '10'], () => ['b1']);
  return cache;
}

test('PrefixTree.values lists what lies under a prefix and leaves it there', () => {
  const tree = new PrefixTree<number>();
  tree.set(['!a', '1'], 1);
  tree.set(['!a', '2'], 2);
  tree.set(['!b', '1'], 3);
  assert.deepEqual(tree.values(['!a']).sort(), [1, 2]);
  assert.deepEqual(tree.values([]).sort(), [1, 2, 3]);
  assert.deepEqual(tree.values(['!c']), []);
  assert.deepEqual([tree.size, tree.nodes], [3, 5], 'nothing taken');
});

test('updatePrefix gives every entry under the prefix its new value, others untouched', async () => {
  const cache = await filled();
  const seen: Key[] = [];
  const updated = cache.updatePrefix(['!a'], (value, key) => {
    seen.push(key);
    return ['a2', ...value];
  });
  assert.equal(updated, 2);
  assert.deepEqual(seen.map((k) => k.join(' ')).sort(), ['!a 10', '!a 20']);
  assert.deepEqual(cache.get(['!a', '10']), ['a2', 'a1']);
  assert.deepEqual(cache.get(['!a', '20']), ['a2', 'a1', 'a0']);
  assert.deepEqual(cache.get(['!b', '10']), ['b1']);
  const { size, updates, invalidations, indexNodes } = cache.stats;
  assert.deepEqual(
    { size, updates, invalidations, indexNodes },
    { size: 3, updates: 2, invalidations: 0, indexNodes: 5 },
  );
});

test('an entry whose update answers undefined is invalidated; the empty prefix reaches every entry', async () => {
  const cache = await filled();
  assert.equal(
    cache.updatePrefix([], (value, [room]) => (room === '!b' ? undefined : value)),
    2,
  );
  assert.equal(cache.get(['!b', '10']), undefined);
  const { size, updates, invalidations, indexNodes } = cache.stats;
  assert.deepEqual(
    { size, updates, invalidations, indexNodes },
    { size: 2, updates: 2, invalidations: 1, indexNodes: 3 },
  );
});

test('a load in flight under the prefix is disowned: it answers its caller but is not stored', async () => {
  const cache = new TupleCache<Key, string[]>('timeline', { max: 10, keyLength: 2 });
  let finish: (value: string[]) => void = () => {};
  const loading = cache.getOrLoad(['!a', '10'], () => new Promise<string[]>((resolve) => (finish = resolve)));
  await tick();
  assert.equal(
    cache.updatePrefix(['!a'], (value) => ['new', ...value]),
    0,
    'nothing stored to update',
  );
  finish(['read before the update']);
  assert.deepEqual(await loading, ['read before the update']);
  assert.equal(cache.get(['!a', '10']), undefined, 'not cached: it may lack what the update brought');
  assert.equal(cache.stats.staleLoads, 1);
  assert.deepEqual(await cache.getOrLoad(['!a', '10'], () => ['fresh']), ['fresh'], 'a new load is stored');
  assert.deepEqual(cache.get(['!a', '10']), ['fresh']);
});

test('an update that throws invalidates its entry, updates the others, then throws', async () => {
  const cache = await filled();
  assert.throws(
    () =>
      cache.updatePrefix(['!a'], (value, [, limit]) => {
        if (limit === '10') throw new Error('cannot');
        return ['a2', ...value];
      }),
    /cannot/,
  );
  assert.equal(cache.get(['!a', '10']), undefined);
  assert.deepEqual(cache.get(['!a', '20']), ['a2', 'a1', 'a0']);
});

test('a prefix longer than the key is refused before anything changes', async () => {
  const cache = await filled();
  assert.throws(() => cache.updatePrefix(['!a', '10', 'x'], () => undefined), CacheKeyError);
  assert.equal(cache.size, 3);
});

test('CacheRules.define binds an updateOn rule to its cache: the reader gets it by stream', async () => {
  const todos = tableStream({
    name: 'todos',
    position: 'id',
    columns: { id: 'int8', owner: 'text', title: 'text' },
  });
  const rules = new CacheRules(new CacheRegistry());
  const todosOf = rules.define<[owner: string], string[]>(
    'todosOf',
    { max: 10, keyLength: 1 },
    updateOn(todos, {
      keys: (u) => [[(u.row ?? u.old).owner ?? '']],
      apply: (titles: string[], updates) =>
        updates.every((u) => u.op === 'insert')
          ? [...titles, ...updates.map((u) => u.row?.title ?? '')]
          : undefined,
    }),
  );
  assert.deepEqual(rules.rulesFor('todos'), [], 'not an invalidation rule');
  const [updater] = rules.updatersFor('todos');
  assert.equal(updater?.cache, 'todosOf');
  await todosOf.getOrLoad(['alice'], () => ['one']);
  const insert: RowUpdate = {
    stream: 'todos',
    op: 'insert',
    position: 2n,
    row: { id: 2n, owner: 'alice', title: 'two' },
    old: null,
  };
  assert.deepEqual([...(updater?.keys(insert) ?? [])], [['alice']]);
  assert.equal(updater?.apply(['alice'], [insert]), 1);
  assert.deepEqual(todosOf.get(['alice']), ['one', 'two']);
  const remove: RowUpdate = { ...insert, op: 'delete', row: null, old: insert.row };
  assert.equal(updater?.apply(['alice'], [remove]), 0);
  assert.equal(todosOf.get(['alice']), undefined, 'a change the rule does not model invalidates');
});
