import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheDefinitionError } from '../../src/cache/errors.ts';
import { CacheRegistry } from '../../src/cache/registry.ts';
import { StreamChangeCache } from '../../src/cache/stream-change-cache.ts';
import { CacheRules, on } from '../../src/reader/cache-rules.ts';
import { TransactionEffects } from '../../src/reader/transaction-effects.ts';
import { tableStream } from '../../src/streams/define.ts';
import { prng } from '../support/prng.ts';

test('StreamChangeCache: "maybe" until started, then exact from the start on', () => {
  const cache = new StreamChangeCache('rooms', { max: 10 });
  assert.equal(cache.earliestKnown, undefined);
  cache.entityChanged('!a', 5n); // before a reader started it: nothing is known, so nothing is kept
  assert.equal(cache.hasEntityChanged('!b', 100n), true, 'unstarted: everything may have changed');
  assert.equal(cache.hasAnyEntityChanged(100n), true);
  assert.deepEqual(cache.getEntitiesChangedSince(['!a', '!b'], 100n), ['!a', '!b']);

  cache.reset(10n); // a reader starts at position 10
  assert.equal(cache.earliestKnown, 10n);
  assert.equal(cache.size, 0);
  assert.equal(cache.hasEntityChanged('!a', 9n), true, 'before the start: maybe');
  assert.equal(cache.hasEntityChanged('!a', 10n), false);
  assert.equal(cache.hasAnyEntityChanged(10n), false);

  cache.entityChanged('!a', 12n);
  cache.entityChanged('!b', 14n);
  assert.equal(cache.hasEntityChanged('!a', 11n), true);
  assert.equal(cache.hasEntityChanged('!a', 12n), false, 'a change at P is not after P');
  assert.equal(cache.hasEntityChanged('!c', 10n), false);
  assert.deepEqual(cache.getEntitiesChangedSince(['!c', '!b', '!a'], 12n), ['!b']);
  assert.deepEqual(cache.getEntitiesChangedSince(['!c', '!b', '!a'], 9n), ['!c', '!b', '!a']);
  assert.equal(cache.hasAnyEntityChanged(13n), true);
  assert.equal(cache.hasAnyEntityChanged(14n), false);
  assert.deepEqual(cache.stats, { size: 2, hits: 8, misses: 5 });
});

test('StreamChangeCache: bounded; a forgotten entity raises the earliest known position to its change', () => {
  const cache = new StreamChangeCache('users', { max: 2 });
  cache.reset(0n);
  cache.entityChanged('@a', 1n);
  cache.entityChanged('@b', 2n);
  cache.entityChanged('@c', 3n); // @a is forgotten
  assert.equal(cache.size, 2);
  assert.equal(cache.earliestKnown, 1n);
  assert.equal(cache.hasEntityChanged('@a', 0n), true, 'forgotten, and the question is older: maybe');
  assert.equal(cache.hasEntityChanged('@a', 1n), false, 'its change was at 1, not after');
  assert.equal(cache.hasEntityChanged('@b', 2n), false);
  assert.equal(cache.hasEntityChanged('@c', 2n), true);
  assert.throws(() => new StreamChangeCache('x', { max: 0 }), CacheDefinitionError);
});

test('StreamChangeCache: a reset never goes below a change it forgets', () => {
  const cache = new StreamChangeCache('rooms', { max: 10 });
  cache.reset(0n);
  cache.entityChanged('!a', 8n);
  cache.reset(5n); // e.g. a truncate applied at a position below the last change seen
  assert.equal(cache.earliestKnown, 8n);
  assert.equal(cache.hasEntityChanged('!a', 7n), true);
  assert.equal(cache.hasEntityChanged('!a', 8n), false);
  cache.reset(20n);
  assert.equal(cache.earliestKnown, 20n);
  assert.equal(cache.hasEntityChanged('!z', 19n), true, 'everything below the reset: maybe');
  assert.equal(cache.hasAnyEntityChanged(20n), false);
});

test('CacheRules.changes: named change caches with their rules, by stream', () => {
  const stream = tableStream({
    name: 'notes',
    position: 'pos',
    columns: { id: 'text', owner: 'text', pos: 'int8' },
    keys: () => [],
  });
  const rules = new CacheRules(new CacheRegistry());
  const owners = rules.changes(
    'owners',
    { max: 100 },
    on(stream, (u) => {
      const owner = (u.row ?? u.old).owner;
      return owner === undefined ? [] : [owner];
    }),
  );
  assert.ok(owners instanceof StreamChangeCache);
  assert.deepEqual(
    rules.changeRulesFor('notes').map((r) => r.cache),
    [owners],
  );
  assert.deepEqual(rules.changeRulesFor('other'), []);
  assert.deepEqual(rules.rulesFor('notes'), [], 'no cache is invalidated by it');
  const [rule] = rules.changeRulesFor('notes');
  const row = { id: 'n1', owner: 'alice', pos: 3n };
  assert.deepEqual(
    [...(rule?.rule.keys({ stream: 'notes', op: 'insert', position: 3n, row, old: null }) ?? [])],
    ['alice'],
  );
  assert.throws(() => rules.changes('owners', { max: 1 }), CacheDefinitionError);
  assert.throws(() => rules.changes('', { max: 1 }), CacheDefinitionError);

  rules.resetChanges(7n);
  assert.equal(owners.earliestKnown, 7n);
  assert.deepEqual(rules.changeCaches, [owners]);
});

test('TransactionEffects: entities per change cache, widened to every entity past the cap', () => {
  const a = new StreamChangeCache('a', { max: 10 });
  const b = new StreamChangeCache('b', { max: 10 });
  const effects = new TransactionEffects({ invalidationsPerCache: 2, updateRowsPerCache: 2, wakeKeys: 10 });
  effects.changed(a, '!x');
  effects.changed(a, '!x');
  effects.changed(a, '!y');
  effects.changed(b, '!x');
  const pending = effects.changes.get(a);
  assert.deepEqual(pending?.all === false ? [...pending.keys.keys()] : [], ['!x', '!y']);
  effects.changed(a, '!z');
  assert.deepEqual(effects.changes.get(a), { all: true });
  assert.equal(effects.coalesced, 1);
  effects.changed(b, null);
  assert.deepEqual(effects.changes.get(b), { all: true }, 'null: every entity (a truncate)');
  assert.equal(effects.isEmpty, false);
  effects.clear();
  assert.equal(effects.changes.size, 0);
});

/**
 * Randomized transactions, resets and questions against a reference that remembers every change ever made
 * (including those the cache never hears of: what a reset skips). The cache must never answer "unchanged"
 * for an entity the reference saw change in (since, position]; with room for every entity and a question
 * no older than the last reset, it must be exact.
 */
function run(seed: number, max: number, operations: number): void {
  const random = prng(seed);
  const entities = Array.from({ length: 12 }, (_, i) => `!r${i}`);
  const pick = () => entities[Math.floor(random() * entities.length)] as string;
  const cache = new StreamChangeCache('model', { max });
  let position = BigInt(Math.floor(random() * 50));
  cache.reset(position);
  /** Every change, per entity, the skipped ones included. */
  const changes = new Map<string, bigint[]>(entities.map((e) => [e, []]));
  /** Questions older than this may be answered "maybe" whatever happened (a reset, a widened transaction). */
  let unknownBelow = position;
  const changedAfter = (entity: string, since: bigint) =>
    (changes.get(entity) as bigint[]).some((p) => p > since);

  for (let op = 0; op < operations; op++) {
    const dice = random();
    const where = `seed ${seed} op ${op}`;
    if (dice < 0.45) {
      // A transaction: one to four entities at its position, or (rarely) too many to track one by one.
      position += 1n + BigInt(Math.floor(random() * 3));
      const touched = Array.from({ length: 1 + Math.floor(random() * 4) }, pick);
      for (const entity of touched) (changes.get(entity) as bigint[]).push(position);
      if (random() < 0.03) {
        cache.reset(position);
        unknownBelow = position;
      } else for (const entity of touched) cache.entityChanged(entity, position);
    } else if (dice < 0.5) {
      // A reset: changes happened that the cache never hears of, and the position jumps past them.
      const to = position + BigInt(Math.floor(random() * 6));
      for (let p = position + 1n; p <= to; p++) (changes.get(pick()) as bigint[]).push(p);
      position = to;
      cache.reset(position);
      unknownBelow = position;
    } else {
      // A question about a window ending at the current position, from a random earlier token.
      const since = position - BigInt(Math.floor(random() * 30));
      const entity = pick();
      const truth = changedAfter(entity, since);
      const answer = cache.hasEntityChanged(entity, since);
      if (truth) assert.equal(answer, true, `${where}: ${entity} changed after ${since}, answered unchanged`);
      const exact = max >= entities.length && since >= unknownBelow;
      if (exact) assert.equal(answer, truth, `${where}: ${entity} since ${since} is known exactly`);
      const asked = entities.filter(() => random() < 0.5);
      const subset = cache.getEntitiesChangedSince(asked, since);
      for (const e of asked)
        if (changedAfter(e, since)) assert.ok(subset.includes(e), `${where}: ${e} missing from the subset`);
      if (exact)
        assert.deepEqual(
          subset,
          asked.filter((e) => changedAfter(e, since)),
          where,
        );
      const any = entities.some((e) => changedAfter(e, since));
      if (any) assert.equal(cache.hasAnyEntityChanged(since), true, `${where}: something changed`);
      if (exact) assert.equal(cache.hasAnyEntityChanged(since), any, where);
    }
    assert.ok(cache.size <= max, `${where}: bounded`);
  }
}

for (const seed of [1, 2, 3]) {
  test(`random changes, resets and questions: never a wrong "unchanged", seed ${seed}, room for all (exact)`, () => {
    run(seed, 64, 4000);
  });
  test(`random changes, resets and questions: never a wrong "unchanged", seed ${seed}, tight bound`, () => {
    run(seed * 7919, 3, 4000);
  });
}
