import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CacheKey } from '../../src/cache/key.ts';
import { TupleCache } from '../../src/cache/tuple-cache.ts';

type Key = readonly [room: string, event: string];

/** A loader the test finishes by hand, so an invalidation can land exactly between its start and its end. */
function controlledLoader<V>() {
  let calls = 0;
  let resolve: (value: V) => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const loader = () => {
    calls++;
    return new Promise<V>((res, rej) => {
      resolve = res;
      reject = rej;
    });
  };
  return {
    loader,
    get calls() {
      return calls;
    },
    resolve: (value: V) => resolve(value),
    reject: (error: unknown) => reject(error),
  };
}

/** Lets queued microtasks (the loader's start) run. */
const tick = () => new Promise<void>(setImmediate);

const KEY: Key = ['!room:x', '$event'];

/** The three ways an invalidation can reach KEY, each run through every race below. */
const invalidations: Array<[string, (cache: TupleCache<Key, string>) => void]> = [
  ['exact', (cache) => cache.invalidate(KEY)],
  ['prefix', (cache) => cache.invalidatePrefix(['!room:x'] satisfies CacheKey)],
  ['all', (cache) => cache.invalidateAll()],
];

for (const [kind, invalidate] of invalidations) {
  test(`${kind}: a load overtaken by an invalidation returns its result but does not store it`, async () => {
    const cache = new TupleCache<Key, string>('events', { max: 10 });
    const old = controlledLoader<string>();
    const loading = cache.getOrLoad(KEY, old.loader);
    await tick();
    assert.equal(old.calls, 1, 'the loader is reading');
    invalidate(cache);
    old.resolve('read before the invalidation');
    assert.equal(await loading, 'read before the invalidation', 'its caller still gets it');
    assert.equal(cache.get(KEY), undefined, 'but it is not cached');
    assert.deepEqual([cache.size, cache.stats.staleLoads, cache.stats.indexNodes], [0, 1, 0]);

    const fresh = await cache.getOrLoad(KEY, () => 'read after the invalidation');
    assert.equal(fresh, 'read after the invalidation');
    assert.equal(cache.get(KEY), 'read after the invalidation', 'a load started afterwards is cached');
  });

  test(`${kind}: a load started after the invalidation does not join the stale one, and wins`, async () => {
    for (const staleFinishesFirst of [true, false]) {
      const cache = new TupleCache<Key, string>('events', { max: 10 });
      const old = controlledLoader<string>();
      const joinedOld = cache.getOrLoad(KEY, old.loader);
      const alsoOld = cache.getOrLoad(KEY, old.loader);
      await tick();
      invalidate(cache);

      const fresh = controlledLoader<string>();
      const loadingFresh = cache.getOrLoad(KEY, fresh.loader);
      assert.notEqual(loadingFresh, joinedOld);
      const joinedFresh = cache.getOrLoad(KEY, fresh.loader);
      assert.equal(joinedFresh, loadingFresh, 'later callers join the fresh load');
      await tick();
      assert.deepEqual([old.calls, fresh.calls], [1, 1]);

      if (staleFinishesFirst) {
        old.resolve('old');
        assert.equal(await joinedOld, 'old');
        assert.equal(cache.get(KEY), undefined);
        fresh.resolve('new');
      } else {
        fresh.resolve('new');
        assert.equal(await loadingFresh, 'new');
        old.resolve('old');
      }
      assert.deepEqual(await Promise.all([joinedOld, alsoOld, loadingFresh]), ['old', 'old', 'new']);
      assert.equal(cache.get(KEY), 'new', `stale finished ${staleFinishesFirst ? 'first' : 'last'}`);
      assert.equal(cache.stats.loading, 0);
    }
  });

  test(`${kind}: an invalidation before the loader even ran still disowns the load`, async () => {
    const cache = new TupleCache<Key, string>('events', { max: 10 });
    const loading = cache.getOrLoad(KEY, () => 'started before');
    invalidate(cache); // same tick: the loader has not been called yet
    assert.equal(await loading, 'started before');
    assert.equal(cache.get(KEY), undefined);
  });

  test(`${kind}: a stale load that fails leaves the fresh load registered`, async () => {
    const cache = new TupleCache<Key, string>('events', { max: 10 });
    const old = controlledLoader<string>();
    const loadingOld = cache.getOrLoad(KEY, old.loader);
    await tick();
    invalidate(cache);
    const fresh = controlledLoader<string>();
    const loadingFresh = cache.getOrLoad(KEY, fresh.loader);
    await tick();
    old.reject(new Error('late failure'));
    await assert.rejects(loadingOld, /late failure/);
    assert.equal(cache.getOrLoad(KEY, fresh.loader), loadingFresh, 'still joins the fresh load');
    fresh.resolve('new');
    assert.equal(await loadingFresh, 'new');
    assert.equal(fresh.calls, 1);
    assert.equal(cache.get(KEY), 'new');
  });
}

test('invalidations elsewhere do not disturb a load', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 10 });
  const load = controlledLoader<string>();
  const loading = cache.getOrLoad(KEY, load.loader);
  await tick();
  cache.invalidate(['!room:x', '$other']);
  cache.invalidatePrefix(['!room:xy']);
  cache.invalidatePrefix(['!room:y']);
  load.resolve('v');
  assert.equal(await loading, 'v');
  assert.equal(cache.get(KEY), 'v');
  assert.equal(cache.stats.staleLoads, 0);
});

test('a prefix invalidation disowns every load under it, and only those', async () => {
  const cache = new TupleCache<Key, string>('events', { max: 10 });
  const keys: Key[] = [
    ['!room:x', '$1'],
    ['!room:x', '$2'],
    ['!room:y', '$1'],
  ];
  const loaders = keys.map(() => controlledLoader<string>());
  const loading = keys.map((key, i) =>
    cache.getOrLoad(key, (loaders[i] as ReturnType<typeof controlledLoader<string>>).loader),
  );
  await tick();
  assert.equal(cache.stats.loading, 3);
  cache.invalidatePrefix(['!room:x']);
  assert.equal(cache.stats.loading, 1);
  loaders.forEach((l, i) => {
    l.resolve(`v${i}`);
  });
  assert.deepEqual(await Promise.all(loading), ['v0', 'v1', 'v2']);
  assert.deepEqual(
    keys.map((key) => cache.get(key)),
    [undefined, undefined, 'v2'],
  );
  assert.equal(cache.stats.staleLoads, 2);
});
