/**
 * EventIterator: a subscription's events, one settled promise each, from a control loop that steps once per
 * batch and a synchronous `drain` between its steps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ControlStep, DRAIN, EventIterator } from '../../src/replication/event-iterator.ts';
import type { ReplicationEvent } from '../../src/replication/events.ts';

/** An event that names itself (an Origin message is the simplest ReplicationEvent). */
const ev = (name: string): ReplicationEvent => ({ tag: 'origin', originLsn: 0n, originName: name });
const nameOf = (e: ReplicationEvent) => (e.tag === 'origin' ? e.originName : e.tag);

/** A drain over `batches`: each DRAIN of the control loop moves to the next batch. */
function batches(...all: string[][]) {
  let current: string[] = [];
  let next = 0;
  const calls: string[] = [];
  return {
    calls,
    load() {
      current = all.shift() ?? [];
      next = 0;
    },
    drain(): ReplicationEvent | undefined {
      const name = current[next++];
      calls.push(name ?? '(dry)');
      if (name === 'boom') throw new Error('malformed');
      return name === undefined ? undefined : ev(name);
    },
  };
}

async function collect(it: AsyncIterator<ReplicationEvent>): Promise<string[]> {
  const names: string[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) names.push(nameOf(r.value));
  return names;
}

test("the control loop's own events and each batch's events come in order, the batch decoded as pulled", async () => {
  const b = batches(['1', '2', '3'], [], ['4']);
  async function* control(): AsyncGenerator<ControlStep> {
    yield ev('reset');
    for (let i = 0; i < 3; i++) {
      b.load();
      yield DRAIN;
    }
    yield ev('incomplete');
  }
  const it = new EventIterator(control(), b.drain);
  const first = await it.next();
  assert.equal(first.done === false && nameOf(first.value), 'reset');
  const second = await it.next();
  assert.equal(second.done === false && nameOf(second.value), '1');
  assert.deepEqual(b.calls, ['1'], 'nothing decoded ahead of the consumer');
  assert.deepEqual(await collect(it), ['2', '3', '4', 'incomplete']);
  assert.deepEqual(b.calls, ['1', '2', '3', '(dry)', '(dry)', '4', '(dry)']);
});

test('an error from drain is thrown into the control loop at its DRAIN, where failures are handled', async () => {
  const b = batches(['1', 'boom', 'lost'], ['2']);
  const seen: string[] = [];
  async function* control(): AsyncGenerator<ControlStep> {
    for (let session = 0; session < 2; session++) {
      try {
        b.load();
        yield DRAIN;
      } catch (error) {
        seen.push((error as Error).message);
        yield ev('cut');
      }
    }
  }
  assert.deepEqual(await collect(new EventIterator(control(), b.drain)), ['1', 'cut', '2']);
  assert.deepEqual(seen, ['malformed']);
});

test('an error the control loop does not handle rejects next()', async () => {
  const b = batches(['boom']);
  async function* control(): AsyncGenerator<ControlStep> {
    b.load();
    yield DRAIN;
  }
  const it = new EventIterator(control(), b.drain);
  await assert.rejects(it.next(), /malformed/);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
});

test('a next() waiting behind one that fails goes on after it: the error is reported once', async () => {
  const b = batches(['boom']);
  async function* control(): AsyncGenerator<ControlStep> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    b.load();
    yield DRAIN;
  }
  const it = new EventIterator(control(), b.drain);
  const [first, second] = await Promise.allSettled([it.next(), it.next()]);
  assert.equal(first.status, 'rejected');
  assert.deepEqual(second, { status: 'fulfilled', value: { value: undefined, done: true } });
});

test('return() ends the control loop (its finally runs), as breaking out of for-await does', async () => {
  const b = batches(['1', '2', '3']);
  let closed = false;
  async function* control(): AsyncGenerator<ControlStep> {
    try {
      b.load();
      yield DRAIN;
      yield ev('never');
    } finally {
      closed = true;
    }
  }
  const it = new EventIterator(control(), b.drain);
  const names: string[] = [];
  for await (const e of it) {
    names.push(nameOf(e));
    if (names.length === 2) break;
  }
  assert.deepEqual(names, ['1', '2']);
  assert.equal(closed, true);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
});

test('next() called again before the last one settled keeps the order', async () => {
  const b = batches(['1', '2'], ['3']);
  async function* control(): AsyncGenerator<ControlStep> {
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5)); // waiting for the server
      b.load();
      yield DRAIN;
    }
  }
  const it = new EventIterator(control(), b.drain);
  const results = await Promise.all([it.next(), it.next(), it.next(), it.next()]);
  assert.deepEqual(
    results.map((r) => (r.done ? 'done' : nameOf(r.value))),
    ['1', '2', '3', 'done'],
  );
});
