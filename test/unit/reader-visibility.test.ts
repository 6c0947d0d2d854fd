import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endedBefore, parseSnapshot } from '../../src/reader/visibility.ts';

test('a snapshot is parsed from pg_current_snapshot() text', () => {
  assert.deepEqual(parseSnapshot('100:105:'), { xmax: 105n, xip: new Set() });
  assert.deepEqual(parseSnapshot('100:105:100,103'), { xmax: 105n, xip: new Set([100n, 103n]) });
  assert.throws(() => parseSnapshot('garbage'), SyntaxError);
});

test('a transaction has ended when it is below xmax and not in progress', () => {
  const snapshot = parseSnapshot('100:105:100,103');
  assert.equal(endedBefore(snapshot, 99), true);
  assert.equal(endedBefore(snapshot, 100), false, 'in progress');
  assert.equal(endedBefore(snapshot, 101), true);
  assert.equal(endedBefore(snapshot, 103), false, 'in progress');
  assert.equal(endedBefore(snapshot, 105), false, 'at xmax: not yet ended');
  assert.equal(endedBefore(snapshot, 106), false, 'after xmax');
});

test('32-bit xids are placed in the epoch nearest xmax, across wraparound', () => {
  const epoch = 1n << 32n;
  // xmax just past an epoch boundary: an xid near 2^32 belongs to the previous epoch and has ended.
  const afterWrap = { xmax: 3n * epoch + 10n, xip: new Set([3n * epoch + 5n]) };
  assert.equal(endedBefore(afterWrap, 0xffff_fff0), true);
  assert.equal(endedBefore(afterWrap, 5), false, 'in progress in the current epoch');
  assert.equal(endedBefore(afterWrap, 9), true);
  assert.equal(endedBefore(afterWrap, 10), false);
  // xmax just before a boundary: a small xid would be in the next epoch, i.e. after xmax.
  const beforeWrap = { xmax: 3n * epoch + 0xffff_fff0n, xip: new Set<bigint>() };
  assert.equal(endedBefore(beforeWrap, 3), false);
  assert.equal(endedBefore(beforeWrap, 0xffff_ffe0), true);
});
