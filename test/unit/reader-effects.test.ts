import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TransactionEffects } from '../../src/reader/transaction-effects.ts';

test('invalidations are coalesced per cache, and widen to the whole cache past the cap', () => {
  const effects = new TransactionEffects({ invalidationsPerCache: 3, wakeKeys: 10 });
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
  const effects = new TransactionEffects({ invalidationsPerCache: 10, wakeKeys: 2 });
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
