import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeKey } from '../../src/cache/key.ts';
import { TupleCache } from '../../src/cache/tuple-cache.ts';
import { prng } from '../support/prng.ts';

/**
 * Randomized operations against a small "database" and a reference model of what the cache should hold.
 * Every database write is followed at once by an invalidation of what it changed (as a reader does), so a
 * cached value read before the last invalidation of its key is exactly a stale read.
 */

type Key = readonly [room: string, event: string];
interface Value {
  version: number;
  /** The operation during which the loader read the database. */
  readAt: number;
}

const ROOMS = ['!r0', '!r1', '!r2', '!r3'];
const EVENTS = ['$e0', '$e1', '$e2', '$e3'];
const KEYS: Key[] = ROOMS.flatMap((room) => EVENTS.map((event): Key => [room, event]));

interface PendingLoad {
  key: Key;
  /** Whether, per the reference, this load may still store its result: no invalidation since it started. */
  live: boolean;
  readAtStart: boolean;
  startValue: Value | undefined;
  resolve: (value: Value) => void;
  reject: (error: Error) => void;
}

async function run(seed: number, max: number, operations: number): Promise<void> {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const exact = max >= KEYS.length; // without evictions the reference knows the cache's exact contents
  const cache = new TupleCache<Key, Value>('model', { max, keyLength: 2 });

  let now = 0;
  const db = new Map<string, number>(KEYS.map((key) => [encodeKey(key), 0]));
  const lastInvalidation = new Map<string, number>(KEYS.map((key) => [encodeKey(key), 0]));
  const modelCache = new Map<string, Value>();
  const liveLoad = new Map<string, PendingLoad>();
  let pending: PendingLoad[] = [];
  const results: Promise<void>[] = [];

  const read = (key: Key): Value => ({ version: db.get(encodeKey(key)) as number, readAt: now });
  const invalidated = (keys: Key[]) => {
    for (const key of keys) {
      const k = encodeKey(key);
      db.set(k, now);
      lastInvalidation.set(k, now);
      modelCache.delete(k);
      const load = liveLoad.get(k);
      if (load) load.live = false;
      liveLoad.delete(k);
    }
  };
  const underRoom = (room: string) => KEYS.filter((key) => key[0] === room);
  const expectedEntries = (keys: Key[]) => keys.filter((key) => modelCache.has(encodeKey(key))).length;
  const checkFresh = (key: Key, value: Value, since: number, what: string) => {
    assert.ok(
      value.readAt > since,
      `seed ${seed} op ${now}: ${what} ${JSON.stringify(key)} returned a value read at ${value.readAt}, ` +
        `before its invalidation at ${since}`,
    );
  };

  for (now = 1; now <= operations; now++) {
    const dice = random();
    if (dice < 0.3) {
      // A reader asks; the loader may read at once or only when it finishes.
      const key = pick(KEYS);
      const k = encodeKey(key);
      const since = lastInvalidation.get(k) as number;
      let started: PendingLoad | undefined;
      const promise = cache.getOrLoad(key, () => {
        const readAtStart = random() < 0.5;
        return new Promise<Value>((resolve, reject) => {
          started = {
            key,
            live: true,
            readAtStart,
            startValue: readAtStart ? read(key) : undefined,
            resolve,
            reject,
          };
        });
      });
      await new Promise(setImmediate);
      // A live load is always joined; with neither a live load nor a cached value, a load must start. A value
      // the reference holds may have been evicted under a tight bound: then a load starts, and it is gone.
      if (liveLoad.has(k)) {
        assert.equal(started, undefined, `seed ${seed} op ${now}: did not join the live load`);
      } else if (exact || !modelCache.has(k)) {
        assert.equal(started !== undefined, !modelCache.has(k), `seed ${seed} op ${now}: loader call`);
      } else if (started) {
        modelCache.delete(k);
      }
      if (started) {
        pending.push(started);
        liveLoad.set(k, started);
      }
      results.push(
        promise.then(
          (value) => checkFresh(key, value, since, 'getOrLoad'),
          () => {},
        ),
      );
    } else if (dice < 0.55) {
      // A loader finishes (in any order), usually with a value, sometimes with an error.
      if (pending.length === 0) continue;
      const index = Math.floor(random() * pending.length);
      const load = pending[index] as PendingLoad;
      pending = pending.filter((_, i) => i !== index);
      const k = encodeKey(load.key);
      if (random() < 0.05) {
        load.reject(new Error('load failed'));
        if (load.live) liveLoad.delete(k);
      } else {
        const value = load.startValue ?? read(load.key);
        load.resolve(value);
        if (load.live) {
          liveLoad.delete(k);
          modelCache.set(k, value);
        }
      }
      await new Promise(setImmediate);
    } else if (dice < 0.75) {
      const key = pick(KEYS);
      const value = cache.get(key);
      const k = encodeKey(key);
      if (value !== undefined) {
        checkFresh(key, value, lastInvalidation.get(k) as number, 'get');
        assert.equal(value.version, db.get(k), 'a cached value is the current one');
      }
      // Without evictions the cache holds what the reference holds; with them, a subset of it.
      if (exact || value !== undefined) {
        assert.deepEqual(value, modelCache.get(k), `seed ${seed} op ${now}: get ${k}`);
      } else modelCache.delete(k);
    } else if (dice < 0.88) {
      const key = pick(KEYS);
      const expected = expectedEntries([key]);
      invalidated([key]);
      const removed = cache.invalidate(key);
      if (exact) assert.equal(removed, expected, `seed ${seed} op ${now}: invalidate`);
    } else if (dice < 0.99) {
      const room = pick(ROOMS);
      const expected = expectedEntries(underRoom(room));
      invalidated(underRoom(room));
      const removed = cache.invalidatePrefix([room]);
      if (exact) assert.equal(removed, expected, `seed ${seed} op ${now}: invalidatePrefix`);
    } else {
      const expected = modelCache.size;
      invalidated(KEYS);
      const removed = cache.invalidateAll();
      if (exact) assert.equal(removed, expected, `seed ${seed} op ${now}: invalidateAll`);
    }

    const stats = cache.stats;
    assert.ok(stats.size <= max, 'bounded');
    if (exact) assert.equal(stats.size, modelCache.size, `seed ${seed} op ${now}: size`);
    // Two-element keys: one node per indexed room plus one per key, so the index follows the cache exactly.
    // Checked now and then only, since reading every key refreshes its recency and flattens the LRU order.
    if (now % 50 !== 0) continue;
    const rooms = new Set<string>();
    for (const key of KEYS) if (cache.get(key) !== undefined) rooms.add(key[0]);
    assert.equal(stats.indexNodes, rooms.size + stats.size, `seed ${seed} op ${now}: index in step`);
  }

  for (const load of pending) load.resolve(load.startValue ?? read(load.key));
  await Promise.all(results);
  cache.invalidateAll();
  assert.deepEqual([cache.stats.size, cache.stats.indexNodes, cache.stats.loading], [0, 0, 0]);
}

for (const seed of [1, 2, 3]) {
  test(`random operations never leave a stale value, seed ${seed}, no eviction (exact reference)`, async () => {
    await run(seed, 64, 3000);
  });
  test(`random operations never leave a stale value, seed ${seed}, tight LRU bound`, async () => {
    await run(seed * 7919, 5, 3000);
  });
}
