import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TypingState } from '../../app/reader/typing-state.ts';

const row = (user: string, typing: boolean, ts: number, timeout_ms = 1000) => ({
  room_id: '!r:x',
  user_id: user,
  typing,
  timeout_ms,
  ts,
});

test('typing starts, stops, and expires by itself past its timeout', () => {
  let now = 10_000;
  const state = new TypingState(() => now);
  state.apply(row('@b:x', true, now), 100n);
  state.apply(row('@a:x', true, now), 101n);
  assert.deepEqual(state.typing('!r:x'), ['@a:x', '@b:x']);
  state.apply(row('@b:x', false, now), 102n);
  assert.deepEqual(state.typing('!r:x'), ['@a:x']);
  now += 1000;
  assert.deepEqual(state.typing('!r:x'), [], 'expired: a writer that died cannot leave anyone typing');
  assert.deepEqual(state.typing('!other:x'), []);
});

test('changedBetween reports the last change in (after, upto] of the ephemeral position', () => {
  const state = new TypingState(() => 0);
  assert.equal(state.changedBetween('!r:x', 0n, 1000n), false);
  state.apply(row('@a:x', true, 0), 500n);
  assert.equal(state.changedBetween('!r:x', 499n, 500n), true);
  assert.equal(state.changedBetween('!r:x', 500n, 1000n), false);
  assert.equal(state.changedBetween('!r:x', 0n, 499n), false, 'not yet visible to a token before it');
  state.apply(row('@a:x', false, 0), 400n); // a redelivered, older message does not move the change back
  assert.equal(state.changedBetween('!r:x', 499n, 500n), true);
  state.clear();
  assert.equal(state.changedBetween('!r:x', 0n, 1000n), false);
});
