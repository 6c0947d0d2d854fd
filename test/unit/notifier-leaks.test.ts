/**
 * No leaks on any path: 10,000 waiters that time out, abort or are woken leave no index entry, no timer
 * and no abort listener behind (a disconnecting client must free its waiter).
 */
import assert from 'node:assert/strict';
import { getEventListeners, setMaxListeners } from 'node:events';
import { test } from 'node:test';
import { Notifier } from '../../src/notifier/index.ts';

const N = 10_000;
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

function assertEmpty(n: Notifier): void {
  const { waiters, indexedKeys, positionWaiters } = n.stats;
  assert.deepEqual(
    { waiters, indexedKeys, positionWaiters },
    { waiters: 0, indexedKeys: 0, positionWaiters: 0 },
  );
}

test('10,000 waiters that time out leave nothing behind', async () => {
  const before = timers();
  const n = new Notifier();
  const waits = Array.from({ length: N }, (_, i) =>
    n.wait({ keys: [`!r${i}`, `@u${i % 100}`], after: 0n, timeoutMs: 20 }),
  );
  const positions = Array.from({ length: N }, (_, i) =>
    n.waitForPosition(BigInt(i + 1), 20).catch(() => 'late'),
  );
  assert.equal(timers(), before + 2 * N);
  const results = await Promise.all(waits);
  assert.ok(results.every((r) => r.kind === 'timeout'));
  assert.ok((await Promise.all(positions)).every((p) => p === 'late'));
  assertEmpty(n);
  assert.equal(n.stats.timeouts, N);
  assert.equal(n.stats.positionTimeouts, N);
  assert.equal(timers(), before);
});

test('10,000 waiters that abort leave nothing behind', async () => {
  const before = timers();
  const n = new Notifier();
  const controllers = Array.from({ length: N }, () => new AbortController());
  const waits = controllers.map((c, i) =>
    n.wait({ keys: [`!r${i}`, '!shared'], after: 0n, timeoutMs: 60_000, signal: c.signal }).catch((e) => e),
  );
  const positions = controllers.map((c, i) =>
    n.waitForPosition(BigInt(i + 1), 60_000, c.signal).catch((e) => e),
  );
  for (const c of controllers) assert.equal(getEventListeners(c.signal, 'abort').length, 2);
  for (const c of controllers) c.abort('gone');
  assert.ok((await Promise.all([...waits, ...positions])).every((e) => e === 'gone'));
  assertEmpty(n);
  assert.equal(timers(), before);
  for (const c of controllers) assert.equal(getEventListeners(c.signal, 'abort').length, 0);
});

test('10,000 waiters woken by updates, positions and a resync leave nothing behind, even on a shared signal', async () => {
  const before = timers();
  const n = new Notifier();
  // One long-lived signal (say, server shutdown) shared by every wait: woken waits must unhook from it.
  const shutdown = new AbortController();
  const signal = shutdown.signal;
  setMaxListeners(0, signal); // thousands of listeners on purpose; Node would warn of a leak otherwise
  const woken = Array.from({ length: N }, (_, i) =>
    n.wait({ keys: [`!r${i}`], after: 0n, timeoutMs: 60_000, signal }),
  );
  const resynced = Array.from({ length: N }, (_, i) =>
    n.wait({ keys: [`!s${i}`], after: 0n, timeoutMs: 60_000, signal }),
  );
  const positions = Array.from({ length: N }, (_, i) => n.waitForPosition(BigInt(i + 1), 60_000, signal));
  assert.equal(getEventListeners(signal, 'abort').length, 3 * N);
  const keys = Array.from({ length: N }, (_, i) => `!r${i}`);
  n.notify(keys, BigInt(N));
  assert.ok((await Promise.all(woken)).every((r) => r.kind === 'updated'));
  assert.equal((await Promise.all(positions)).length, N);
  n.resync(BigInt(N + 1));
  assert.ok((await Promise.all(resynced)).every((r) => r.kind === 'resync'));
  assertEmpty(n);
  assert.equal(getEventListeners(signal, 'abort').length, 0);
  assert.equal(timers(), before);
});
