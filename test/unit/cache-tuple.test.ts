import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheDefinitionError, CacheKeyError } from '../../src/cache/errors.ts';
import { TupleCache } from '../../src/cache/tuple-cache.ts';

type Key = readonly [room: string, event: string];

/** Fills `cache` with a value per key through the loading path, the only way in. */
async function fill(cache: TupleCache<Key, string>, keys: Key[]): Promise<void> {
  for (const key of keys) await cache.getOrLoad(key, () => key.join('/'));
}

const roomKeys = (room: string, n: number): Key[] => Array.from({ length: n }, (_, i) => [room, `$e${i}`]);

test('getOrLoad stores; get reads back', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 10 });
  let calls = 0;
  const load = async () => {
    calls++;
    return 'v';
  };
  assert.equal(cache.get(['!r', '$e']), undefined);
  assert.equal(await cache.getOrLoad(['!r', '$e'], load), 'v');
  assert.equal(await cache.getOrLoad(['!r', '$e'], load), 'v');
  assert.equal(calls, 1);
  assert.equal(cache.get(['!r', '$e']), 'v');
  assert.equal(cache.size, 1);
});

test('exact invalidation removes only its key', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 10 });
  await fill(cache, [...roomKeys('!a', 2), ...roomKeys('!b', 1)]);
  assert.equal(cache.invalidate(['!a', '$e0']), 1);
  assert.equal(cache.invalidate(['!a', '$e0']), 0, 'already gone');
  assert.equal(cache.get(['!a', '$e0']), undefined);
  assert.equal(cache.get(['!a', '$e1']), '!a/$e1');
  assert.equal(cache.get(['!b', '$e0']), '!b/$e0');
});

test('prefix invalidation removes every key under the prefix and nothing else', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 100 });
  await fill(cache, [...roomKeys('!room:x', 5), ...roomKeys('!room:xy', 2), ...roomKeys('!room:y', 3)]);
  assert.equal(cache.invalidatePrefix(['!room:x']), 5);
  assert.equal(cache.size, 5);
  for (const key of roomKeys('!room:x', 5)) assert.equal(cache.get(key), undefined);
  for (const key of [...roomKeys('!room:xy', 2), ...roomKeys('!room:y', 3)]) {
    assert.equal(cache.get(key), key.join('/'), 'a neighbour survives');
  }
  assert.equal(cache.invalidatePrefix(['!room:y', '$e1']), 1, 'a full key as a prefix is exact');
  assert.equal(cache.invalidatePrefix(['!nowhere']), 0);
  assert.equal(cache.invalidatePrefix([]), 4, 'the empty prefix is everything');
  assert.equal(cache.stats.indexNodes, 0);
});

test('invalidateAll empties the cache and its index', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 100 });
  await fill(cache, [...roomKeys('!a', 3), ...roomKeys('!b', 3)]);
  assert.equal(cache.invalidateAll(), 6);
  assert.deepEqual([cache.size, cache.stats.indexNodes], [0, 0]);
  await fill(cache, roomKeys('!a', 1));
  assert.equal(cache.get(['!a', '$e0']), '!a/$e0', 'usable afterwards');
});

test('the LRU bound holds and eviction keeps the prefix index in step (no leak)', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 4 });
  await fill(cache, roomKeys('!a', 4));
  assert.equal(cache.get(['!a', '$e0']), '!a/$e0'); // most recently used now
  await fill(cache, roomKeys('!b', 3)); // evicts !a $e1, $e2, $e3
  assert.equal(cache.size, 4);
  assert.equal(cache.stats.evictions, 3);
  assert.equal(cache.get(['!a', '$e0']), '!a/$e0', 'the recently used entry survived');
  assert.equal(cache.get(['!a', '$e1']), undefined);
  assert.equal(cache.stats.indexNodes, 2 + 4, 'two rooms, four keys');
  assert.equal(cache.invalidatePrefix(['!a']), 1, 'the index knew the evicted keys were gone');

  await fill(cache, roomKeys('!c', 50)); // evicts everything else, many times over
  assert.equal(cache.size, 4);
  assert.equal(cache.stats.indexNodes, 1 + 4, 'only room !c remains indexed');
  assert.equal(cache.invalidatePrefix(['!b']), 0);
  assert.equal(cache.invalidatePrefix(['!c']), 4);
  assert.deepEqual([cache.size, cache.stats.indexNodes], [0, 0]);
});

test('hit, miss, invalidation and eviction counters', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 2 });
  cache.get(['!a', '$1']); // miss
  await cache.getOrLoad(['!a', '$1'], () => 'x'); // miss, loads
  await cache.getOrLoad(['!a', '$1'], () => 'x'); // hit
  cache.get(['!a', '$1']); // hit
  await cache.getOrLoad(['!a', '$2'], () => 'y'); // miss
  await cache.getOrLoad(['!b', '$1'], () => 'z'); // miss, evicts !a $1
  cache.invalidate(['!a', '$2']); // 1
  cache.invalidate(['!a', '$2']); // nothing there: not counted
  cache.invalidateAll(); // 1 (!b $1)
  assert.deepEqual(cache.stats, {
    size: 0,
    hits: 2,
    misses: 4,
    invalidations: 2,
    updates: 0,
    evictions: 1,
    staleLoads: 0,
    loading: 0,
    indexNodes: 0,
  });
});

test('concurrent loads of one key share a single loader call', async () => {
  const cache = new TupleCache<Key, { n: number }>('events', { max: 10 });
  let calls = 0;
  let release = (_: { n: number }) => {};
  const loader = () => {
    calls++;
    return new Promise<{ n: number }>((resolve) => {
      release = resolve;
    });
  };
  const first = cache.getOrLoad(['!a', '$1'], loader);
  const second = cache.getOrLoad(['!a', '$1'], loader);
  const other = cache.getOrLoad(['!a', '$2'], async () => ({ n: 2 }));
  assert.equal(first, second, 'the very same promise');
  assert.equal(cache.stats.loading, 2);
  await new Promise(setImmediate);
  release({ n: 1 });
  const [a, b] = await Promise.all([first, second]);
  assert.equal(a, b);
  assert.equal(calls, 1);
  assert.deepEqual(await other, { n: 2 });
  assert.deepEqual(cache.stats, {
    size: 2,
    hits: 1,
    misses: 2,
    invalidations: 0,
    updates: 0,
    evictions: 0,
    staleLoads: 0,
    loading: 0,
    indexNodes: 3,
  });
});

test('a failed load rejects every caller, stores nothing, and the next call loads again', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 10 });
  const boom = new Error('database down');
  const first = cache.getOrLoad(['!a', '$1'], async () => {
    throw boom;
  });
  const joined = cache.getOrLoad(['!a', '$1'], () => 'unused');
  await assert.rejects(first, (error) => error === boom);
  await assert.rejects(joined, (error) => error === boom);
  assert.equal(cache.stats.loading, 0);
  await assert.rejects(
    cache.getOrLoad(['!a', '$1'], () => {
      throw boom; // a synchronous throw rejects the same way
    }),
    (error) => error === boom,
  );
  assert.equal(await cache.getOrLoad(['!a', '$1'], () => 'ok'), 'ok');
  assert.equal(cache.get(['!a', '$1']), 'ok');
});

test('undefined and null are cacheable results', async () => {
  const cache = new TupleCache<Key, string | null | undefined>('maybe', { max: 10 });
  let calls = 0;
  for (let i = 0; i < 3; i++) {
    assert.equal(
      await cache.getOrLoad(['!a', 'u'], () => {
        calls++;
        return undefined;
      }),
      undefined,
    );
    assert.equal(
      await cache.getOrLoad(['!a', 'n'], () => {
        calls++;
        return null;
      }),
      null,
    );
  }
  assert.equal(calls, 2);
  assert.equal(cache.size, 2);
});

test('a declared key length rejects wrongly shaped keys instead of silently missing', async () => {
  const cache = new TupleCache<readonly string[], string>('getEvent', { max: 10, keyLength: 1 });
  await cache.getOrLoad(['$e'], () => 'event');
  assert.throws(() => cache.get(['!room', '$e']), CacheKeyError);
  assert.throws(() => cache.invalidate(['!room', '$e']), CacheKeyError);
  assert.throws(() => cache.invalidatePrefix(['!room', '$e']), /would match nothing/);
  assert.throws(() => cache.getOrLoad([], () => 'x'), CacheKeyError);
  assert.equal(cache.invalidatePrefix(['$e']), 1);
});

test('bad definitions are refused', () => {
  assert.throws(() => new TupleCache('c', { max: 0 }), CacheDefinitionError);
  assert.throws(() => new TupleCache('c', { max: 1.5 }), /max must be a positive integer/);
  assert.throws(() => new TupleCache('c', { max: 1, keyLength: 0 }), /keyLength/);
});
