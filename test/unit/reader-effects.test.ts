import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CacheUpdater } from '../../src/reader/cache-rules.ts';
import { TransactionEffects } from '../../src/reader/transaction-effects.ts';
import type { RowUpdate } from '../../src/streams/define.ts';

test('invalidations are coalesced per cache, and widen to the whole cache past the cap', () => {
  const effects = new TransactionEffects({ invalidationsPerCache: 3, updateRowsPerCache: 3, wakeKeys: 10 });
  effects.invalidate('a', ['x']);
  effects.invalidate('a', ['x']);
  effects.invalidate('a', ['y', 'z']);
  effects.invalidate('b', ['x']);
  const a = effects.invalidations.get('a');
  assert.equal(a?.all, false);
  assert.deepEqual(a?.all === false ? [...a.keys.values()] : [], [['x'], ['y', 'z']]);
  effects.invalidate('a', ['1']);
  effects.invalidate('a', ['2']);
  assert.deepEqual(effects.invalidations.get('a'), { all: true });
  assert.equal(effects.coalesced, 1);
  effects.invalidate('a', ['3']);
  assert.deepEqual(effects.invalidations.get('a'), { all: true }, 'stays whole');
  assert.equal(effects.invalidations.get('b')?.all, false, 'other caches unaffected');
});

test('a null or empty prefix is the whole cache at once', () => {
  const effects = new TransactionEffects();
  effects.invalidate('a', ['x']);
  effects.invalidate('a', null);
  assert.deepEqual(effects.invalidations.get('a'), { all: true });
  effects.invalidate('b', []);
  assert.deepEqual(effects.invalidations.get('b'), { all: true });
});

test('wake keys are a set, widened to everyone past the cap', () => {
  const effects = new TransactionEffects({ invalidationsPerCache: 10, updateRowsPerCache: 10, wakeKeys: 2 });
  for (let i = 0; i < 1000; i++) effects.wake(`!r${i % 2}`);
  assert.deepEqual([...effects.wakeKeys], ['!r0', '!r1']);
  assert.equal(effects.wakeAll, false);
  effects.wake('!r2');
  assert.equal(effects.wakeAll, true);
  assert.equal(effects.wakeKeys.size, 0, 'the set is dropped: memory stays bounded');
});

test("the transaction's position is the writer's announcement, else its highest row", () => {
  const effects = new TransactionEffects();
  assert.equal(effects.position, undefined);
  effects.sawRow('events', 7n);
  effects.sawRow('events', 5n);
  effects.sawRow('receipts', 6n);
  assert.equal(effects.position, 7n);
  assert.deepEqual(effects.streams.get('events'), { updates: 2, position: 7n });
  effects.announced = 9n;
  assert.equal(effects.position, 9n);
  effects.clear();
  assert.equal(effects.position, undefined);
  assert.equal(effects.streams.size, 0);
});

/** An update rule bound to cache `c`, for the effects to hold updates of. */
const updater = (): CacheUpdater => ({ cache: 'c', keys: () => [], apply: () => 0 });
const insert = (position: number): RowUpdate<Record<string, unknown>> => ({
  stream: 'events',
  op: 'insert',
  position: BigInt(position),
  row: { n: position },
  old: null,
});
const held = (effects: TransactionEffects, rule: CacheUpdater) =>
  [...(effects.updates.get(rule)?.prefixes.values() ?? [])].map(({ prefix, updates }) => [
    prefix,
    updates.map((u) => u.position),
  ]);

test('an update rule holds its updates per key prefix, in the order they came', () => {
  const effects = new TransactionEffects();
  const rule = updater();
  effects.update(rule, ['!a'], insert(3));
  effects.update(rule, ['!b'], insert(4));
  effects.update(rule, ['!a'], insert(2));
  assert.deepEqual(held(effects, rule), [
    [['!a'], [3n, 2n]],
    [['!b'], [4n]],
  ]);
  assert.equal(effects.invalidations.size, 0);
  assert.equal(effects.isEmpty, false);
  effects.clear();
  assert.equal(effects.updates.size, 0);
});

test('prefixes of different lengths could overlap: the rule invalidates them all instead', () => {
  const effects = new TransactionEffects();
  const rule = updater();
  effects.update(rule, ['!a'], insert(1));
  effects.update(rule, [], insert(2));
  effects.update(rule, ['!b'], insert(3)); // and so on for the rest of the transaction
  assert.deepEqual(held(effects, rule), []);
  assert.deepEqual(effects.invalidations.get('c'), { all: true }, 'the empty prefix is the whole cache');
  assert.equal(effects.coalesced, 0, 'no cap was hit');
});

test('past the cap, an update rule invalidates its prefixes instead of holding more rows', () => {
  const effects = new TransactionEffects({ invalidationsPerCache: 3, updateRowsPerCache: 3, wakeKeys: 10 });
  const rule = updater();
  for (let n = 1; n <= 3; n++) effects.update(rule, [`!r${n % 2}`], insert(n));
  assert.equal(effects.invalidations.size, 0);
  effects.update(rule, ['!r2'], insert(4));
  effects.update(rule, ['!r0'], insert(5));
  assert.deepEqual(held(effects, rule), []);
  const pending = effects.invalidations.get('c');
  assert.deepEqual(pending?.all === false ? [...pending.keys.values()] : pending, [
    ['!r1'],
    ['!r0'],
    ['!r2'],
  ]);
  assert.equal(effects.coalesced, 1);
});
