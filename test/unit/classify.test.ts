import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activePidFrom, classifyFailure } from '../../src/replication/classify.ts';
import { ServerError, sqlState } from '../../src/replication/errors.ts';

const serverError = (code: string, message = 'x') =>
  Object.assign(new Error(message), { code, severity: 'ERROR' });
const systemError = (code: string) =>
  Object.assign(new Error(`write ${code}`), { code, errno: -32, syscall: 'write' });

test('SQLSTATEs are told apart from Node system error codes of the same shape', () => {
  assert.equal(sqlState(serverError('57P01')), '57P01');
  assert.equal(sqlState(systemError('EPIPE')), undefined);
  assert.equal(sqlState(systemError('ECONNRESET')), undefined);
  assert.equal(new ServerError('streaming', systemError('EPIPE')).code, undefined);
  assert.doesNotMatch(new ServerError('streaming', systemError('EPIPE')).message, /SQLSTATE/);
  assert.equal(new ServerError('streaming', serverError('42704')).code, '42704');
});

test('failures: connection loss and server shutdowns retry, a held slot is in use, the rest is checked', () => {
  for (const e of [
    systemError('EPIPE'),
    new Error('Connection terminated unexpectedly'),
    serverError('57P01'),
    serverError('57P03'),
    serverError('08006'),
  ]) {
    assert.equal(classifyFailure(e), 'retry', e.message);
  }
  assert.equal(classifyFailure(new ServerError('connecting', systemError('ECONNREFUSED'))), 'retry');
  assert.equal(classifyFailure(serverError('55006')), 'in-use');
  assert.equal(classifyFailure(serverError('42710')), 'in-use');
  assert.equal(classifyFailure(serverError('55000')), 'check');
  assert.equal(classifyFailure(serverError('42704')), 'check');
  assert.equal(activePidFrom(serverError('55006', 'replication slot "r" is active for PID 4242')), 4242);
});
