import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchedLookup } from '../../app/writer/batched-lookup.ts';

/** A lookup whose queries the test answers by hand, recording the keys each was asked. */
function manualLookup() {
  const queries: { keys: string[]; answer(values: Record<string, number>): void; fail(e: Error): void }[] =
    [];
  const lookup = new BatchedLookup<string, number | undefined>(
    (keys) =>
      new Promise((resolve, reject) =>
        queries.push({
          keys,
          answer: (values) => resolve((key) => values[key]),
          fail: reject,
        }),
      ),
    (key) => key,
  );
  return { lookup, queries };
}

test('a lone request is sent at once; requests made meanwhile wait and go together in the next query', async () => {
  const { lookup, queries } = manualLookup();
  const first = lookup.get('a');
  assert.deepEqual(
    queries.map((q) => q.keys),
    [['a']],
  );
  const later = [lookup.get('b'), lookup.get('c'), lookup.get('b')];
  assert.equal(queries.length, 1, 'nothing more is sent while a query is in flight');
  queries[0]?.answer({ a: 1 });
  assert.equal(await first, 1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(queries[1]?.keys, ['b', 'c'], 'one place per key, in arrival order');
  queries[1]?.answer({ b: 2 });
  assert.deepEqual(await Promise.all(later), [2, undefined, 2], 'a key the query did not find is absent');
  assert.equal(queries.length, 2);
});

test('a failed query fails every request of its batch, and the next batch is asked afresh', async () => {
  const { lookup, queries } = manualLookup();
  const first = lookup.get('a');
  const batched = [lookup.get('b'), lookup.get('c')];
  queries[0]?.fail(new Error('connection lost'));
  await assert.rejects(first, /connection lost/);
  await new Promise((resolve) => setImmediate(resolve));
  queries[1]?.fail(new Error('still down'));
  for (const request of batched) await assert.rejects(request, /still down/);
  const after = lookup.get('a');
  assert.deepEqual(queries[2]?.keys, ['a']);
  queries[2]?.answer({ a: 7 });
  assert.equal(await after, 7);
});
