import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidTokenError } from '../../src/streams/errors.ts';
import { decodePosition, decodeToken, encodeToken, maxToken } from '../../src/streams/token.ts';

test('tokens round-trip, including the extremes of both position spaces', () => {
  for (const token of [
    { position: 0n, ephemeral: 0n },
    { position: 42n, ephemeral: 0x16b3748n },
    { position: 0x7fff_ffff_ffff_ffffn, ephemeral: 0xffff_ffff_ffff_ffffn },
  ]) {
    const text = encodeToken(token);
    assert.match(text, /^s\d+_\d+$/);
    assert.deepEqual(decodeToken(text), token);
  }
  assert.equal(encodeToken({ position: 7n, ephemeral: 9n }), 's7_9');
});

test('anything else is an InvalidTokenError, never a guess', () => {
  for (const bad of [
    '',
    's',
    's1',
    's1_',
    '_1',
    '1_2',
    'S1_2',
    's01_2',
    's1_02',
    's-1_2',
    's1_2_3',
    's1.5_2',
    's 1_2',
    's1_2 ',
    's９_1',
    `s${'9'.repeat(21)}_1`,
    's9223372036854775808_0', // above int8
    's0_18446744073709551616', // above 2^64 - 1
  ]) {
    assert.throws(() => decodeToken(bad), InvalidTokenError, JSON.stringify(bad));
  }
});

test('maxToken takes each component separately', () => {
  assert.deepEqual(maxToken({ position: 5n, ephemeral: 1n }, { position: 3n, ephemeral: 8n }), {
    position: 5n,
    ephemeral: 8n,
  });
});

test('writer positions are plain decimals within int8', () => {
  assert.equal(decodePosition('0'), 0n);
  assert.equal(decodePosition('9223372036854775807'), 0x7fff_ffff_ffff_ffffn);
  for (const bad of ['', '-1', '01', '1e3', 's1_2', '9223372036854775808', ' 1']) {
    assert.throws(() => decodePosition(bad), InvalidTokenError, JSON.stringify(bad));
  }
});
