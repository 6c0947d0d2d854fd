/**
 * Bytes a decoder cannot understand would come back the same after every reconnect, so they must stop a
 * subscription with MalformedMessageError, not pass for a dropped connection (a reconnect loop that never
 * ends). And when a reader stops on a handler's error, its subscription still ends: spool files and their
 * directory are removed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { eventsStream } from '../../app/streams.ts';
import { MalformedMessageError } from '../../src/replication/errors.ts';
import type { SubscriptionStatus } from '../../src/replication/subscribe.ts';
import { FrameInjector } from '../support/frame-injector.ts';
import { subscribeForTest } from '../support/replication.ts';
import { event, migratedDatabase, startReader, writerFor } from '../support/runtime.ts';

const url = await migratedDatabase('malformed_frames');
const writer = writerFor(url);

/**
 * Subscribes to a new slot through an injector that adds `frame` to the stream, and resolves with what the
 * iteration ended with. A reconnect, or a transaction delivered after the frame, ends it too, as a failure:
 * the frame was taken for a network drop, or ignored.
 */
async function subscribeWithFrame(slot: string, frame: Buffer): Promise<unknown> {
  const injector = await FrameInjector.start(url, frame);
  let retried: (error: Error) => void = () => {};
  const reconnecting = new Promise<never>((_, reject) => {
    retried = reject;
  });
  reconnecting.catch(() => {}); // settled after the race, if ever: not an unhandled rejection
  const { sub, connected } = subscribeForTest({
    connectionString: injector.url(url),
    slot,
    publication: 'slotstream',
    onStatus: (status: SubscriptionStatus) => {
      if (status.event === 'reconnecting')
        retried(new Error(`the frame was taken for a dropped connection: ${status.error.message}`));
    },
  });
  const iterating = (async () => {
    for await (const e of sub)
      if (e.tag === 'commit') throw new Error('a transaction was delivered after the frame: it was ignored');
  })();
  try {
    await Promise.race([connected, iterating]).catch(() => {});
    await writer.transaction((tx) => tx.insert(eventsStream, event('!malformed:test', 1)));
    return await Promise.race([iterating, reconnecting]).then(
      () => new Error('the subscription ended without an error'),
      (error: unknown) => error,
    );
  } finally {
    await sub.close();
    await injector.close();
    assert.equal(injector.injected, 1, 'the frame went out on the one replication stream');
  }
}

test('a keepalive frame shorter than its fields is fatal: MalformedMessageError, no reconnect', async () => {
  const error = await subscribeWithFrame('short_keepalive', Buffer.from([0x6b, 0, 0, 0]));
  assert.ok(error instanceof MalformedMessageError, String(error));
  assert.match(error.message, /'k' at offset 0: keepalive frame of 4 bytes, expected 18/);
});

test('an XLogData frame shorter than its header is fatal', async () => {
  const error = await subscribeWithFrame('short_xlogdata', Buffer.from([0x77, 0, 0, 0, 0, 0, 0, 0, 1]));
  assert.ok(error instanceof MalformedMessageError, String(error));
  assert.match(error.message, /'w' at offset 0: XLogData frame of 9 bytes/);
});

test('a frame of an unknown kind is fatal, not skipped', async () => {
  const error = await subscribeWithFrame(
    'unknown_frame',
    Buffer.concat([Buffer.from('x'), Buffer.alloc(24)]),
  );
  assert.ok(error instanceof MalformedMessageError, String(error));
  assert.match(error.message, /'x' at offset 0: a CopyData frame that is neither XLogData nor a keepalive/);
});

test("a reader stopped by its handler's error ends its subscription: the spool directory is removed", async (t) => {
  const parent = mkdtempSync(path.join(tmpdir(), 'slotstream-spool-parent-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const { reader } = await startReader(url, 'handler_throws', {
    subscription: { spoolDirectory: parent },
    onUpdate: () => {
      throw new Error('the handler failed');
    },
  });
  assert.equal(readdirSync(parent).length, 1, 'the running subscription has its spool directory');
  await writer.transaction((tx) => tx.insert(eventsStream, event('!malformed:test', 2)));
  await assert.rejects(reader.done, /the handler failed/);
  assert.deepEqual(readdirSync(parent), [], 'nothing left in the spool parent');
});
