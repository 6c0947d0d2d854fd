/** waitForPosition: read-your-writes (GET /wait), resolved as notify applies positions. */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Notifier, WaitTimeoutError } from '../../src/notifier/index.ts';
import { PositionHeap } from '../../src/notifier/position-heap.ts';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('a position already applied resolves at once with the current position', async () => {
  const n = new Notifier({ position: 7n });
  assert.equal(await n.waitForPosition(7n, 1000), 7n);
  assert.equal(await n.waitForPosition(3n, 0), 7n);
  assert.equal(n.stats.positionWaiters, 0);
});

test('an applied position resolves exactly the waiters at or below it, lowest target first', async () => {
  const n = new Notifier();
  const order: bigint[] = [];
  const targets = [50n, 10n, 30n, 20n, 40n, 30n, 60n];
  const all = targets.map((target) =>
    n.waitForPosition(target, 60_000).then((position) => {
      order.push(target);
      return position;
    }),
  );
  n.notify([], 25n); // a transaction that touched no key still applies its position
  await settle();
  assert.deepEqual(order, [10n, 20n]);
  n.notify([], 24n); // lower: a redelivery, ignored
  assert.equal(n.currentPosition, 25n);
  n.notify([], 45n);
  await settle();
  assert.deepEqual(order, [10n, 20n, 30n, 30n, 40n]);
  assert.equal(n.stats.positionWaiters, 2);
  // One that touched keys the same: an update at 60 is applied, so 60 is readable.
  n.notify(['!a'], 60n);
  assert.deepEqual(await Promise.all(all), [60n, 25n, 45n, 25n, 45n, 45n, 60n]);
  assert.deepEqual(order, [10n, 20n, 30n, 30n, 40n, 50n, 60n]);
  assert.equal(n.stats.positionWaiters, 0);
  assert.equal(n.stats.positionResolved, 7);
});

test('a position not reached in time rejects with WaitTimeoutError naming both positions', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const n = new Notifier({ position: 3n });
  const late = n.waitForPosition(9n, 10_000);
  const kept = n.waitForPosition(5n, 20_000);
  mock.timers.tick(10_000);
  await assert.rejects(late, (error: unknown) => {
    assert.ok(error instanceof WaitTimeoutError);
    assert.equal(error.name, 'WaitTimeoutError');
    assert.equal(error.target, 9n);
    assert.equal(error.position, 3n);
    assert.match(error.message, /10000 ms waiting for position 9; this reader has applied up to 3/);
    return true;
  });
  assert.equal(n.stats.positionWaiters, 1);
  n.notify([], 5n);
  assert.equal(await kept, 5n);
  await assert.rejects(n.waitForPosition(6n, 0), WaitTimeoutError);
  assert.equal(n.stats.positionTimeouts, 2);
  assert.equal(n.stats.positionWaiters, 0);
});

test('abort rejects with the reason and leaves the heap consistent for the others', async () => {
  const n = new Notifier();
  const controllers = Array.from({ length: 100 }, () => new AbortController());
  const waits = controllers.map((c, i) => n.waitForPosition(BigInt(i + 1), 60_000, c.signal));
  // Abort every third one, from the middle of the heap as well as its top.
  for (let i = 0; i < 100; i += 3) controllers[i]?.abort(new Error(`gone ${i}`));
  assert.equal(n.stats.positionWaiters, 66);
  n.notify([], 100n);
  const outcomes = await Promise.allSettled(waits);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    outcomes.map((_, i) => (i % 3 === 0 ? 'rejected' : 'fulfilled')),
  );
  assert.equal(n.stats.positionWaiters, 0);
  assert.equal(n.stats.positionAborts, 34);
});

test('PositionHeap keeps heap order under random pushes and removals', () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const heap = new PositionHeap<{ target: bigint; heapIndex: number }>();
  const live = new Set<{ target: bigint; heapIndex: number }>();
  for (let step = 0; step < 20_000; step++) {
    const r = random();
    if (r < 0.5 || live.size === 0) {
      const entry = { target: BigInt(Math.floor(random() * 1000)), heapIndex: -1 };
      heap.push(entry);
      live.add(entry);
    } else if (r < 0.8) {
      const entry = [...live][Math.floor(random() * live.size)];
      if (entry === undefined) continue;
      heap.remove(entry);
      heap.remove(entry); // twice: a no-op
      live.delete(entry);
    } else {
      const min = [...live].reduce((m, e) => (e.target < m ? e.target : m), 1n << 62n);
      const top = heap.pop();
      assert.equal(top?.target, min);
      if (top) live.delete(top);
    }
    assert.equal(heap.size, live.size);
  }
});
