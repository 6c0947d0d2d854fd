import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Notifier } from '../../src/notifier/notifier.ts';

test('one registration covers both position spaces; each space wakes only waiters below its update', async () => {
  const notifier = new Notifier({ position: 10n });
  const both = notifier.wait({ keys: ['!r'], after: 10n, afterEphemeral: 500n, timeoutMs: 5_000 });
  const orderedOnly = notifier.wait({ keys: ['!r'], after: 10n, timeoutMs: 5_000 });
  const ahead = notifier.wait({ keys: ['!r'], after: 10n, afterEphemeral: 700n, timeoutMs: 5_000 });
  assert.equal(notifier.stats.waiters, 3);
  assert.equal(notifier.stats.indexedKeys, 1);

  notifier.notifyEphemeral(['!r'], 600n);
  assert.deepEqual(await both, { kind: 'updated', position: 10n, keys: ['!r'] });
  assert.equal(notifier.currentPosition, 10n, 'an ephemeral update does not move the ordered position');
  assert.equal(notifier.stats.waiters, 2, 'the others stay: no ephemeral interest, or a token past it');

  notifier.notify(['!r'], 11n);
  assert.equal((await orderedOnly).kind, 'updated');
  assert.equal((await ahead).kind, 'updated');
  assert.equal(notifier.stats.waiters, 0);
});

test('an ephemeral change already past the token answers at once; a resync forgets both spaces', async () => {
  const notifier = new Notifier({ position: 10n });
  notifier.notifyEphemeral(['!r'], 600n);
  assert.equal(
    (await notifier.wait({ keys: ['!r'], after: 10n, afterEphemeral: 599n, timeoutMs: 0 })).kind,
    'updated',
  );
  assert.equal(
    (await notifier.wait({ keys: ['!r'], after: 10n, afterEphemeral: 600n, timeoutMs: 0 })).kind,
    'timeout',
  );
  assert.equal((await notifier.wait({ keys: ['!r'], after: 10n, timeoutMs: 0 })).kind, 'timeout');

  const waiting = notifier.wait({ keys: ['!x'], after: 10n, afterEphemeral: 600n, timeoutMs: 5_000 });
  notifier.resync(10n, 650n);
  assert.equal((await waiting).kind, 'resync');
  assert.equal(
    (await notifier.wait({ keys: ['!r'], after: 10n, afterEphemeral: 640n, timeoutMs: 0 })).kind,
    'updated',
    'below the ephemeral floor after a reset: counts as changed',
  );
});
