/**
 * Bounded key history never costs a wake: KeyHistory's rules, then a randomized run of the Notifier
 * (seeded, so a failure replays) against a reference model that remembers every update forever.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyHistory } from '../../src/cache/key-history.ts';
import { Notifier, type WaitResult } from '../../src/notifier/index.ts';
import { prng } from '../support/prng.ts';

test('KeyHistory: exact for known keys, conservative below the floor once keys are evicted', () => {
  const h = new KeyHistory(10n, 2);
  assert.equal(h.changedSince('a', 9n), true); // before the start: cannot vouch
  assert.equal(h.changedSince('a', 10n), false);
  assert.equal(h.record('a', 11n), true);
  assert.equal(h.record('a', 11n), false); // a repeat in the same batch
  assert.equal(h.record('a', 10n), false); // a redelivery
  h.record('b', 12n);
  h.record('a', 13n); // a moves behind b: b is now the least recently updated
  h.record('c', 14n); // evicts b at 12
  assert.equal(h.size, 2);
  assert.equal(h.get('b'), undefined);
  assert.equal(h.floor, 12n);
  assert.equal(h.changedSince('b', 11n), true); // it did (at 12)
  assert.equal(h.changedSince('never', 11n), true); // spurious, allowed
  assert.equal(h.changedSince('b', 12n), false); // exact again at or above the floor
  assert.equal(h.changedSince('a', 12n), true);
  assert.equal(h.changedSince('a', 13n), false);
  h.reset(20n);
  assert.equal(h.size, 0);
  assert.equal(h.floor, 20n);
  h.reset(5n);
  assert.equal(h.floor, 20n); // never goes back
  assert.throws(() => new KeyHistory(0n, 0), RangeError);
});

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Pending {
  keys: string[];
  after: bigint;
  outcome?: WaitResult;
}

/**
 * Returns how many answers were spurious ('updated' though the model knows no key changed after the token,
 * and the token is not older than the start, where the reader cannot know).
 */
async function run(seed: number, maxKeys: number, steps: number): Promise<number> {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const universe = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const pickKeys = (max: number) =>
    Array.from({ length: 1 + int(max) }, () => universe[int(universe.length)] as string);

  let start = BigInt(int(5));
  let position = start;
  const n = new Notifier({ position: start, maxKeys });
  /** The reference: every key's last update, never pruned. */
  let model = new Map<string, bigint>();
  const mustWake = (keys: readonly string[], after: bigint) =>
    keys.some((k) => (model.get(k) ?? -1n) > after);
  let pending: Pending[] = [];
  let spurious = 0;

  for (let step = 0; step < steps; step++) {
    const r = random();
    const where = `seed ${seed}, maxKeys ${maxKeys}, step ${step}`;
    if (r < 0.45) {
      // A client arrives with a token somewhere around the current position (sometimes ahead of it).
      const keys = pickKeys(3);
      const after = start - 3n + BigInt(int(Number(position - start) + 6));
      const probe = random() < 0.3;
      const w: Pending = { keys, after };
      n.wait({ keys, after, timeoutMs: probe ? 0 : Number.POSITIVE_INFINITY }).then((o) => {
        w.outcome = o;
      });
      await settle();
      const must = mustWake(keys, after);
      if (must) assert.equal(w.outcome?.kind, 'updated', `missed an immediate wake (${where})`);
      if (w.outcome?.kind === 'updated') {
        assert.ok(w.outcome.position >= position, where);
        if (!must && after >= start) spurious++;
        for (const k of keys) if ((model.get(k) ?? -1n) > after) assert.ok(w.outcome.keys.includes(k), where);
      } else if (probe) {
        assert.deepEqual(w.outcome, { kind: 'timeout', position }, where);
      } else {
        assert.equal(w.outcome, undefined, where);
        pending.push(w);
      }
    } else if (r < 0.97) {
      // One transaction; now and then a redelivery at or below the current position.
      const keys = pickKeys(6);
      const at = random() < 0.1 ? position - BigInt(int(3)) : position + 1n + BigInt(int(2));
      const due = pending.filter((w) => w.keys.some((k) => keys.includes(k) && at > w.after));
      for (const k of keys) if (at > (model.get(k) ?? -1n)) model.set(k, at);
      if (at > position) position = at;
      n.notify(keys, at);
      await settle();
      for (const w of pending) {
        if (due.includes(w)) {
          assert.equal(w.outcome?.kind, 'updated', `missed a wake (${where})`);
          assert.equal(w.outcome?.position, position, where);
        } else {
          // Registered waiters are indexed exactly: only a relevant update wakes them.
          assert.equal(w.outcome, undefined, `woke a waiter no update concerned (${where})`);
        }
      }
      pending = pending.filter((w) => w.outcome === undefined);
    } else {
      position += BigInt(int(3));
      start = position;
      model = new Map();
      n.resync(position);
      await settle();
      for (const w of pending) assert.deepEqual(w.outcome, { kind: 'resync', position }, where);
      pending = [];
    }
    assert.equal(n.stats.waiters, pending.length, where);
    assert.ok(n.stats.trackedKeys <= maxKeys, where);
  }
  n.resync(position);
  await settle();
  assert.equal(n.stats.indexedKeys, 0);
  return spurious;
}

test('randomized: pruning to 3 keys of 12 never misses a wake', async () => {
  let spurious = 0;
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) spurious += await run(seed, 3, 2_000);
  // Spurious wakes are the price of pruning; the run must have exercised them.
  assert.ok(spurious > 0);
});

test('randomized: with room for every key the answers are exact', async () => {
  for (const seed of [11, 12, 13, 14]) assert.equal(await run(seed, 100, 2_000), 0);
});

test('KeyHistory: a redelivery below the floor does not hide a forgotten later update', () => {
  const h = new KeyHistory(0n, 1);
  h.record('a', 10n);
  h.record('b', 11n); // evicts a at 10
  assert.equal(h.record('a', 8n), true); // redelivered: waiters may be due, but 8 is not remembered
  assert.equal(h.get('a'), undefined);
  assert.equal(h.changedSince('a', 9n), true); // a changed at 10
});
