/** FrameQueue: the session's read buffer, bounded in bytes rather than in frames. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameQueue, readBufferLimit } from '../../src/replication/frame-queue.ts';
import { subscribe } from '../../src/replication/subscribe.ts';

const frame = (bytes: number, fill = 0) => Buffer.alloc(bytes, fill);

test('counts bytes, not frames: full once the frames queued reach the bound', () => {
  const q = new FrameQueue(100);
  assert.equal(q.push(frame(18)), true, 'a keepalive');
  assert.equal(q.push(frame(60)), true);
  assert.equal(q.push(frame(22)), false, 'at the bound: pause reading');
  assert.deepEqual([q.length, q.bytes], [3, 100]);
});

test('a frame bigger than the whole bound is still queued (it has been read): one message is not capped', () => {
  const q = new FrameQueue(100);
  assert.equal(q.push(frame(1_000)), false);
  assert.equal(q.bytes, 1_000);
  assert.equal(q.take().length, 1);
});

test('take hands over every frame, oldest first, and empties the queue (room again)', () => {
  const q = new FrameQueue(10);
  const frames = [frame(4, 1), frame(4, 2), frame(4, 3)];
  assert.deepEqual(
    frames.map((f) => q.push(f)),
    [true, true, false],
  );
  const taken = q.take();
  assert.deepEqual(taken, frames);
  assert.equal(taken[0], frames[0], 'the frames themselves, not copies');
  assert.deepEqual([q.length, q.bytes], [0, 0]);
  assert.equal(q.push(frame(4)), true, 'room again');
  q.take();
  assert.deepEqual(q.take(), [], 'nothing queued');
  q.push(frame(4));
  assert.equal(taken.length, 3, 'a batch taken is not changed by later pushes');
});

test('clear forgets what is queued', () => {
  const q = new FrameQueue(10);
  q.push(frame(20));
  q.clear();
  assert.deepEqual([q.length, q.bytes], [0, 0]);
});

test('the bound must be a positive whole number of bytes; the default is a few MB', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
    assert.throws(() => new FrameQueue(bad), RangeError, String(bad));
  assert.equal(readBufferLimit(), 4 << 20);
});

test('subscribe() refuses a bad read buffer at once, before it connects', () => {
  const options = { connectionString: 'postgres://nowhere.invalid/x', slot: 's', publication: 'p' };
  assert.throws(() => subscribe({ ...options, readBufferBytes: 0 }), RangeError);
  assert.throws(() => subscribe({ ...options, readBufferBytes: 2.5 }), RangeError);
  assert.doesNotThrow(() => subscribe({ ...options, readBufferBytes: 64 << 10 }));
});
