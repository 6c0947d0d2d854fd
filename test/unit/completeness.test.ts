/** The reader's proof of completeness: a writer transaction's counts against the changes that arrived. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChangeTally, IncompleteTransactionError } from '../../src/reader/completeness.ts';
import type { CommitMessage, Relation } from '../../src/replication/pgoutput/types.ts';
import { tableStream } from '../../src/streams/define.ts';
import { StreamMessageError } from '../../src/streams/errors.ts';
import { parseCountsMessage } from '../../src/streams/protocol.ts';
import { StreamSet } from '../../src/streams/stream-set.ts';

const todos = tableStream({
  name: 'todos',
  position: 'position',
  columns: { id: 'text', position: 'int8' },
  keys: () => [],
});
const relation = (name: string): Relation => ({
  oid: 1,
  schema: 'public',
  name,
  replicaIdentity: 'd',
  columns: [],
});
const commit = { tag: 'commit', commitLsn: 0x10n, endLsn: 0x20n } as unknown as CommitMessage;
const counts = (value: unknown) => Buffer.from(JSON.stringify(value));

test('counts messages parse to per-table counts; anything else is a StreamMessageError', () => {
  assert.deepEqual([...parseCountsMessage(counts({ 'public.todos': 3 }))], [['public.todos', 3]]);
  for (const bad of ['[]', 'null', '{"public.todos":-1}', '{"public.todos":1.5}', 'nope'])
    assert.throws(() => parseCountsMessage(Buffer.from(bad)), StreamMessageError);
});

test('fewer changes than counted is an IncompleteTransactionError naming the table; as many, or more, is whole', () => {
  const tally = new ChangeTally(new StreamSet([todos]));
  tally.announced(counts({ 'public.todos': 2, 'public.other': 5 }));
  tally.saw(relation('todos'));
  const error = tally.check(commit, 7, 'todo');
  assert.ok(error instanceof IncompleteTransactionError);
  assert.deepEqual(error.missing, [{ table: 'public.todos', expected: 2, received: 1 }]);
  assert.match(error.message, /public\.todos 1 of 2 changes.*slotstream migrate/s);

  tally.clear();
  tally.announced(counts({ 'public.todos': 1 }));
  tally.saw(relation('todos'));
  tally.saw(relation('todos'));
  assert.equal(tally.check(commit, 8, 'todo'), undefined);
  assert.equal(tally.checked, 2);
});

test('a transaction without counts is not checked', () => {
  const tally = new ChangeTally(new StreamSet([todos]));
  assert.equal(tally.check(commit, 9, 'todo'), undefined);
  assert.equal(tally.checked, 0);
});
