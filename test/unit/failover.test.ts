/** Which slots are failover slots (PostgreSQL 17+), decided before anything is created. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailoverUnsupportedError } from '../../src/replication/errors.ts';
import { decideFailover } from '../../src/replication/failover.ts';

const primary17 = { versionNum: 170010, inRecovery: false };

test('17+ on a primary: failover by default, and false when asked', () => {
  assert.equal(decideFailover('r', undefined, primary17, false), true);
  assert.equal(decideFailover('r', true, primary17, false), true);
  assert.equal(decideFailover('r', false, primary17, false), false);
});

test('where the flag does not apply, the default is an ordinary slot left as it is', () => {
  for (const [server, temporary] of [
    [{ versionNum: 150013, inRecovery: false }, false],
    [{ versionNum: 160014, inRecovery: true }, false],
    [primary17, true],
    [{ ...primary17, inRecovery: true }, false],
  ] as const) {
    assert.equal(decideFailover('r', undefined, server, temporary), undefined);
    assert.equal(decideFailover('r', false, server, temporary), undefined);
  }
});

test('failover: true where the server cannot make one is a FailoverUnsupportedError saying why', () => {
  const refused = (server: { versionNum: number; inRecovery: boolean }, temporary: boolean) => {
    try {
      decideFailover('reader_1', true, server, temporary);
    } catch (error) {
      assert.ok(error instanceof FailoverUnsupportedError);
      assert.equal(error.slot, 'reader_1');
      return error;
    }
    assert.fail('no error');
  };
  const old = refused({ versionNum: 160014, inRecovery: false }, false);
  assert.equal(old.reason, 'version');
  assert.match(
    old.message,
    /^replication slot "reader_1" cannot be a failover slot: failover slots need PostgreSQL 17 or later, and this server runs 16\. Nothing was created or changed\. Leave `failover` unset/,
  );
  assert.equal(refused(primary17, true).reason, 'temporary');
  assert.equal(refused({ ...primary17, inRecovery: true }, false).reason, 'standby');
});
