import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheDefinitionError, CacheKeyError } from '../../src/cache/errors.ts';
import { CacheRegistry } from '../../src/cache/registry.ts';

async function setUp() {
  const registry = new CacheRegistry();
  const events = registry.define<readonly [eventId: string], { id: string }>('getEvent', {
    max: 100,
    keyLength: 1,
  });
  const timeline = registry.define<readonly [roomId: string, limit: string], string[]>('getRoomTimeline', {
    max: 100,
    keyLength: 2,
  });
  await events.getOrLoad(['$1'], () => ({ id: '$1' }));
  await events.getOrLoad(['$2'], () => ({ id: '$2' }));
  await timeline.getOrLoad(['!a', '10'], () => ['$1']);
  await timeline.getOrLoad(['!a', '20'], () => ['$1', '$2']);
  await timeline.getOrLoad(['!b', '10'], () => []);
  return { registry, events, timeline };
}

test('caches are found by name; names are unique and non-empty', async () => {
  const { registry, events } = await setUp();
  assert.equal(registry.get('getEvent'), events);
  assert.equal(registry.get('nope'), undefined);
  assert.deepEqual(registry.names, ['getEvent', 'getRoomTimeline']);
  assert.throws(() => registry.define('getEvent', { max: 1 }), CacheDefinitionError);
  assert.throws(() => registry.define('', { max: 1 }), /needs a name/);
});

test('an explicit invalidation by name: keys as a prefix, null for everything', async () => {
  const { registry, events, timeline } = await setUp();
  assert.equal(registry.invalidate('getRoomTimeline', ['!a']), true);
  assert.deepEqual([timeline.get(['!a', '10']), timeline.get(['!b', '10'])], [undefined, []]);
  assert.equal(registry.invalidate('getEvent', ['$1']), true);
  assert.deepEqual([events.get(['$1']), events.get(['$2'])], [undefined, { id: '$2' }]);
  assert.equal(registry.invalidate('getRoomTimeline', null), true);
  assert.equal(timeline.size, 0);
  assert.equal(events.size, 1, 'other caches untouched');
});

test('an invalidation for a cache this process does not have is reported, not thrown', async () => {
  const { registry, events, timeline } = await setUp();
  assert.equal(registry.invalidate('getUsersInRoom', ['!a']), false);
  assert.equal(registry.invalidate('getUsersInRoom', null), false);
  assert.deepEqual([events.size, timeline.size], [2, 3], 'nothing changed');
});

test('a wrongly shaped explicit invalidation is an error, not a silent miss', async () => {
  const { registry, events } = await setUp();
  assert.throws(() => registry.invalidate('getEvent', ['!a', '$1']), CacheKeyError);
  assert.throws(() => registry.invalidate('getEvent', [1] as unknown as string[]), CacheKeyError);
  assert.equal(events.size, 2);
});

test('invalidateAll flushes every cache (a reset), and stats name each cache', async () => {
  const { registry, events } = await setUp();
  events.get(['$1']);
  events.get(['$9']);
  registry.invalidateAll();
  assert.deepEqual(registry.stats, [
    {
      name: 'getEvent',
      size: 0,
      hits: 1,
      misses: 3,
      invalidations: 2,
      updates: 0,
      evictions: 0,
      staleLoads: 0,
      loading: 0,
      indexNodes: 0,
    },
    {
      name: 'getRoomTimeline',
      size: 0,
      hits: 0,
      misses: 3,
      invalidations: 3,
      updates: 0,
      evictions: 0,
      staleLoads: 0,
      loading: 0,
      indexNodes: 0,
    },
  ]);
});

test('suspended caches are emptied and store nothing, loads still answer; resumed, they store again', async () => {
  const { registry, events, timeline } = await setUp();
  registry.suspend();
  assert.equal(events.size + timeline.size, 0);
  let loads = 0;
  const load = () => events.getOrLoad(['$1'], () => ({ id: `$1 load ${++loads}` }));
  assert.deepEqual(await load(), { id: '$1 load 1' });
  assert.deepEqual(await load(), { id: '$1 load 2' }, 'read from the source again: nothing was kept');
  assert.equal(events.size, 0);
  registry.resume();
  assert.deepEqual(await load(), { id: '$1 load 3' });
  assert.deepEqual(await load(), { id: '$1 load 3' }, 'kept');
  assert.equal(events.size, 1);
});
