/** Notifier.wait / notify / resync: who is woken, when, with what (wake-ups and resets, docs/design.md). */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import {
  InvalidTimeoutError,
  Notifier,
  NotifierClosedError,
  type WaitResult,
} from '../../src/notifier/index.ts';

/** Lets resolved promises run their callbacks. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Tracks a promise's outcome without awaiting it. */
function watch<T>(promise: Promise<T>): { result?: T; error?: unknown; done: boolean } {
  const state: { result?: T; error?: unknown; done: boolean } = { done: false };
  promise.then(
    (result) => Object.assign(state, { result, done: true }),
    (error: unknown) => Object.assign(state, { error, done: true }),
  );
  return state;
}

test('a key that already changed after the token answers at once, naming the keys that fired', async () => {
  const n = new Notifier();
  n.notify(['!a', '!b'], 5n);
  n.notify(['@u'], 7n);
  assert.deepEqual(await n.wait({ keys: ['!a', '!c', '@u'], after: 5n, timeoutMs: 1000 }), {
    kind: 'updated',
    position: 7n,
    keys: ['@u'],
  });
  assert.deepEqual(await n.wait({ keys: ['!a', '!b', '!a'], after: 4n, timeoutMs: 1000 }), {
    kind: 'updated',
    position: 7n,
    keys: ['!a', '!b'],
  });
  assert.equal(n.stats.immediate, 2);
  assert.equal(n.stats.waiters, 0);
});

test('timeoutMs 0 is a probe: answers from history and never registers', async () => {
  const n = new Notifier({ position: 10n });
  n.notify(['k'], 11n);
  assert.deepEqual(await n.wait({ keys: ['j'], after: 10n, timeoutMs: 0 }), {
    kind: 'timeout',
    position: 11n,
  });
  assert.equal((await n.wait({ keys: ['k'], after: 10n, timeoutMs: 0 })).kind, 'updated');
  assert.equal(n.stats.waiters, 0);
});

test('a token older than where the reader started is answered conservatively', async () => {
  // The reader started at 100: updates at or below it were never seen here, so it cannot vouch for them.
  const n = new Notifier({ position: 100n });
  assert.deepEqual(await n.wait({ keys: ['!room'], after: 50n, timeoutMs: 0 }), {
    kind: 'updated',
    position: 100n,
    keys: ['!room'],
  });
  // A token at the start position is exact: nothing happened to the key since.
  assert.equal((await n.wait({ keys: ['!room'], after: 100n, timeoutMs: 0 })).kind, 'timeout');
});

test('10,000 waiters on distinct keys: an update to one key wakes exactly its waiters', async () => {
  const n = new Notifier();
  const waits = Array.from({ length: 10_000 }, (_, i) =>
    watch(n.wait({ keys: [`!room${i}`], after: 0n, timeoutMs: Number.POSITIVE_INFINITY })),
  );
  const second = watch(n.wait({ keys: ['!room4242'], after: 0n, timeoutMs: Number.POSITIVE_INFINITY }));
  await settle();
  assert.equal(n.stats.waiters, 10_001);

  n.notify(['!room4242'], 1n);
  await settle();
  const woken = waits.flatMap((w, i) => (w.done ? [i] : []));
  assert.deepEqual(woken, [4242]);
  assert.deepEqual(waits[4242]?.result, { kind: 'updated', position: 1n, keys: ['!room4242'] });
  assert.deepEqual(second.result, { kind: 'updated', position: 1n, keys: ['!room4242'] });
  assert.equal(n.stats.waiters, 9_999);
  assert.equal(n.stats.wakes, 2);

  n.resync(2n);
  await settle();
  assert.ok(waits.every((w, i) => i === 4242 || (w.result as WaitResult).kind === 'resync'));
  assert.equal(n.stats.waiters, 0);
});

test('a waiter on several keys is woken once and hears every key the batch touched', async () => {
  const n = new Notifier();
  const multi = watch(n.wait({ keys: ['@u', '!a', '!b', '!c'], after: 0n, timeoutMs: 60_000 }));
  const onA = watch(n.wait({ keys: ['!a'], after: 0n, timeoutMs: 60_000 }));
  // One transaction touching !a many times and !b once: each key wakes its waiters once.
  function* keys() {
    for (let i = 0; i < 1_000; i++) yield '!a';
    yield '!b';
    yield '!z';
  }
  n.notify(keys(), 3n);
  await settle();
  assert.deepEqual(multi.result, { kind: 'updated', position: 3n, keys: ['!a', '!b'] });
  assert.deepEqual(onA.result, { kind: 'updated', position: 3n, keys: ['!a'] });
  assert.equal(n.stats.wakes, 2);
  assert.equal(n.stats.waiters, 0);
  assert.equal(n.stats.indexedKeys, 0);
  n.notify(['!c'], 4n); // nobody left to wake, nothing thrown
  assert.equal(n.stats.wakes, 2);
});

test('an update at or below a waiter’s token does not wake it (the client already has it)', async () => {
  // A token from a reader that is ahead of this one.
  const n = new Notifier();
  const ahead = watch(n.wait({ keys: ['!a'], after: 10n, timeoutMs: 60_000 }));
  n.notify(['!a'], 9n);
  n.notify(['!a'], 10n);
  await settle();
  assert.equal(ahead.done, false);
  n.notify(['!a'], 11n);
  await settle();
  assert.deepEqual(ahead.result, { kind: 'updated', position: 11n, keys: ['!a'] });
});

test('timeout resolves with the current position and frees the waiter', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const n = new Notifier();
  n.notify([], 4n);
  const w = watch(n.wait({ keys: ['!a', '!b'], after: 4n, timeoutMs: 30_000 }));
  mock.timers.tick(29_999);
  await settle();
  assert.equal(w.done, false);
  n.notify(['!other'], 6n);
  mock.timers.tick(1);
  await settle();
  assert.deepEqual(w.result, { kind: 'timeout', position: 6n });
  assert.equal(n.stats.timeouts, 1);
  assert.equal(n.stats.waiters, 0);
  assert.equal(n.stats.indexedKeys, 0);
});

test('abort rejects with the signal’s reason and frees the waiter; an aborted signal rejects at once', async () => {
  const n = new Notifier();
  const controller = new AbortController();
  const pending = n.wait({ keys: ['!a'], after: 0n, timeoutMs: 60_000, signal: controller.signal });
  assert.equal(n.stats.waiters, 1);
  const reason = new Error('client went away');
  controller.abort(reason);
  await assert.rejects(pending, (error) => error === reason);
  assert.equal(n.stats.waiters, 0);
  assert.equal(n.stats.indexedKeys, 0);
  assert.equal(n.stats.aborts, 1);

  // Even when the answer is known, an aborted request gets no answer.
  n.notify(['!a'], 1n);
  await assert.rejects(
    n.wait({ keys: ['!a'], after: 0n, timeoutMs: 10, signal: controller.signal }),
    (e) => e === reason,
  );
  assert.equal(n.stats.waiters, 0);
});

test('resync wakes every waiter, forgets key history, and old tokens are answered at once after it', async () => {
  const n = new Notifier();
  n.notify(['!a'], 5n);
  const waits = [
    watch(n.wait({ keys: ['!a'], after: 5n, timeoutMs: 60_000 })),
    watch(n.wait({ keys: ['!b', '@u'], after: 5n, timeoutMs: 60_000 })),
    watch(n.wait({ keys: [], after: 5n, timeoutMs: 60_000 })),
  ];
  n.resync(20n);
  await settle();
  for (const w of waits) assert.deepEqual(w.result, { kind: 'resync', position: 20n });
  const { waiters, indexedKeys, trackedKeys, resyncs } = n.stats;
  assert.deepEqual(
    { waiters, indexedKeys, trackedKeys, resyncs },
    { waiters: 0, indexedKeys: 0, trackedKeys: 0, resyncs: 3 },
  );
  assert.equal(n.currentPosition, 20n);
  assert.equal((await n.wait({ keys: ['!zzz'], after: 19n, timeoutMs: 0 })).kind, 'updated');
  assert.equal((await n.wait({ keys: ['!zzz'], after: 20n, timeoutMs: 0 })).kind, 'timeout');
});

test('timeouts no timer can wait are refused with a named error', async () => {
  const n = new Notifier();
  for (const timeoutMs of [-1, Number.NaN, 2 ** 31, Number.NEGATIVE_INFINITY]) {
    await assert.rejects(n.wait({ keys: ['a'], after: 0n, timeoutMs }), InvalidTimeoutError);
    await assert.rejects(n.waitForPosition(1n, timeoutMs), InvalidTimeoutError);
  }
  assert.equal(n.stats.waiters, 0);
  assert.equal(n.stats.positionWaiters, 0);
});

test('close: pending key and position waits reject at once, later ones too, and nothing stays registered', async () => {
  const n = new Notifier({ position: 1n });
  const byKey = watch(n.wait({ keys: ['k'], after: 1n, timeoutMs: 60_000 }));
  const byPosition = watch(n.waitForPosition(5n, 60_000));
  await settle();
  assert.equal(byKey.done || byPosition.done, false);
  n.close();
  n.close(); // idempotent
  await settle();
  assert.ok(byKey.error instanceof NotifierClosedError, String(byKey.error));
  assert.ok(byPosition.error instanceof NotifierClosedError, String(byPosition.error));
  assert.equal(n.stats.waiters, 0);
  assert.equal(n.stats.positionWaiters, 0);
  await assert.rejects(n.wait({ keys: ['k'], after: 1n, timeoutMs: 1000 }), NotifierClosedError);
  await assert.rejects(n.waitForPosition(9n, 1000), NotifierClosedError);
});
