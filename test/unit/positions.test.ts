import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PositionTracker } from '../../src/replication/positions.ts';

test('flush covers only acknowledged transactions', () => {
  const p = new PositionTracker(100n);
  p.transactionOpened();
  p.observe(150n);
  p.transactionDelivered(200n);
  assert.equal(p.flush, 100n, 'delivery alone does not flush');
  assert.equal(p.acknowledge(200n), true);
  assert.equal(p.flush, 200n);
  assert.equal(p.acknowledge(150n), false, 'never goes backwards');
  assert.equal(p.flush, 200n);
});

test('an acknowledgement past what was delivered is clamped to the delivered end', () => {
  const p = new PositionTracker(0n);
  p.transactionOpened();
  p.transactionDelivered(300n);
  p.acknowledge(10_000n);
  assert.equal(p.flush, 300n);
});

test("a keepalive's wal_end is flushed only when nothing received is unprocessed", () => {
  const p = new PositionTracker(100n);
  assert.equal(p.keepalive(500n), true, 'idle: the keepalive position is safe');
  assert.equal(p.flush, 500n);

  p.transactionOpened(); // a transaction is arriving
  assert.equal(p.keepalive(900n), false, 'mid-transaction: not safe');
  assert.equal(p.flush, 500n);

  p.transactionDelivered(950n); // delivered, not yet acknowledged
  assert.equal(p.keepalive(1000n), false, 'delivered but unacknowledged: not safe');
  assert.equal(p.received, 1000n, 'still observed');

  p.acknowledge(950n);
  assert.equal(p.keepalive(1000n), true);
  assert.equal(p.flush, 1000n);
});

test('a dropped transaction (aborted stream, duplicate) no longer blocks keepalives', () => {
  const p = new PositionTracker(0n);
  p.transactionOpened();
  assert.equal(p.idle, false);
  p.transactionDropped();
  assert.equal(p.idle, true);
  assert.equal(p.keepalive(42n), true);
});

test('across a reconnect, a delivered but unacknowledged transaction still holds keepalives back', () => {
  const p = new PositionTracker(100n);
  p.transactionOpened();
  p.transactionDelivered(200n); // the consumer has it, and has not acknowledged it yet
  p.transactionOpened(); // the next one is arriving when the connection drops
  p.restart();
  // The server sends the first transaction again; we skip it as already delivered.
  p.transactionOpened();
  p.transactionDropped();
  assert.equal(p.keepalive(500n), false, 'the unacknowledged transaction blocks the keepalive');
  assert.equal(p.flush, 100n);
  assert.equal(p.acknowledge(200n), true, 'the late acknowledgement still lands');
  assert.equal(p.flush, 200n);
  assert.equal(p.keepalive(500n), true);
});

test('a new slot starts the bookkeeping over at its consistent point', () => {
  const p = new PositionTracker(100n);
  p.transactionOpened();
  p.transactionDelivered(200n);
  p.reset(1000n);
  assert.equal(p.flush, 1000n);
  assert.equal(p.acknowledge(200n), false, "an old slot's acknowledgement means nothing now");
  assert.equal(p.idle, true);
});
