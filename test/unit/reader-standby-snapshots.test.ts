/**
 * StandbySnapshots' rhythm, against a "primary" that refuses every connection (a local TCP server that
 * hangs up): it asks only while a connection is being made, tries again every interval until connected,
 * reports a failure once per connection attempt, and holds nothing after close().
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StandbySnapshotError, StandbySnapshots } from '../../src/reader/standby-snapshots.ts';

let attempts = 0;
const server: Server = createServer((socket) => {
  attempts++;
  socket.destroy();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
const address = server.address();
const url = `postgres://postgres@127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/postgres`;

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(20);
  assert.ok(check(), `timed out waiting for ${what}`);
}

test('asks while connecting, every interval, reporting an unreachable primary once per connection attempt', async () => {
  const errors: Error[] = [];
  const snapshots = new StandbySnapshots(url, (error) => errors.push(error));
  assert.equal(attempts, 0, 'nothing is asked before resume()');

  snapshots.resume();
  await until('three attempts', () => attempts >= 3);
  assert.equal(errors.length, 1, 'one report for the whole connection attempt');
  assert.ok(errors[0] instanceof StandbySnapshotError);
  assert.match(errors[0].message, /Check primaryConnectionString \(--primary-url\)/);

  // Connected: no more asking (but for an attempt already under way).
  snapshots.follow({ event: 'connected', slot: 's', startLsn: 0n, protoVersion: 4 });
  const stopped = attempts;
  await sleep(500); // more than two intervals: attempts would have come
  assert.ok(attempts <= stopped + 1, `${attempts - stopped} attempts after connecting`);

  // A reconnection: asking again, after its back-off delay, and a failure reported again.
  snapshots.follow({ event: 'reconnecting', slot: 's', delayMs: 100, error: new Error('gone') });
  await until('a second report', () => errors.length === 2);
  assert.ok(attempts > stopped);

  await snapshots.close();
  const closed = attempts;
  snapshots.resume(); // after close(): ignored
  await sleep(500);
  assert.equal(attempts, closed);
  assert.equal(snapshots.logged, 0);
});
