import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accountDataStream, eventsStream, typingStream } from '../../app/streams.ts';
import type { Relation } from '../../src/replication/pgoutput/types.ts';
import { UNCHANGED_TOAST } from '../../src/replication/pgoutput/values.ts';
import { conversionFor, NotRepresentable } from '../../src/streams/conversions.ts';
import { tableStream } from '../../src/streams/define.ts';
import {
  type ColumnConversionWarning,
  StreamDefinitionError,
  StreamMessageError,
  StreamSchemaError,
} from '../../src/streams/errors.ts';
import { cachesStream, parsePositionMessage } from '../../src/streams/protocol.ts';
import { StreamSet } from '../../src/streams/stream-set.ts';

const col = (name: string, typeOid: number, isKey = false) => ({ name, typeOid, typeMod: -1, isKey });

function accountDataRelation(overrides: Partial<Relation> = {}): Relation {
  return {
    oid: 16400,
    schema: 'public',
    name: 'account_data',
    replicaIdentity: 'f',
    columns: [col('user_id', 25, true), col('type', 25, true), col('content', 3802), col('stream_id', 20)],
    ...overrides,
  };
}

test('a change to a stream table becomes a typed update with its row position', () => {
  const streams = new StreamSet([accountDataStream]);
  const relation = accountDataRelation();
  const row = { user_id: '@a:x', type: 'm.push_rules', content: { a: 1 }, stream_id: 12n };
  assert.deepEqual(streams.toUpdate({ tag: 'insert', xid: undefined, relation, new: row }), {
    stream: 'account_data',
    op: 'insert',
    position: 12n,
    row,
    old: null,
  });
  const old = { ...row, stream_id: 10n };
  const deleted = streams.toUpdate({ tag: 'delete', xid: undefined, relation, key: null, old });
  assert.equal(deleted?.op, 'delete');
  assert.equal(deleted?.position, 10n, "a delete is placed at the deleted row's position");
});

test('unchanged TOAST values of an update are filled in from the full old row', () => {
  const streams = new StreamSet([accountDataStream]);
  const relation = accountDataRelation();
  const old = { user_id: '@a:x', type: 't', content: { big: 'x'.repeat(10) }, stream_id: 1n };
  const updated = streams.toUpdate({
    tag: 'update',
    xid: undefined,
    relation,
    key: null,
    old,
    new: { user_id: '@a:x', type: 't', content: UNCHANGED_TOAST, stream_id: 2n },
  });
  assert.deepEqual(updated?.row, { ...old, stream_id: 2n });
  assert.equal(updated?.position, 2n);
});

test('tables that are not streams are ignored; each Relation is checked once', () => {
  const streams = new StreamSet([accountDataStream]);
  const other = accountDataRelation({ name: 'other' });
  assert.equal(streams.toUpdate({ tag: 'insert', xid: undefined, relation: other, new: {} }), undefined);
  assert.equal(streams.streamOf(accountDataRelation()), accountDataStream);
});

test('a schema that disagrees with the declaration names table and column', () => {
  const streams = new StreamSet([accountDataStream]);
  const missing = accountDataRelation({
    columns: [col('user_id', 25, true), col('type', 25, true), col('stream_id', 20)],
  });
  assert.throws(
    () => streams.streamOf(missing),
    (error: unknown) => {
      assert.ok(error instanceof StreamSchemaError);
      assert.equal(error.table, 'public.account_data');
      assert.equal(error.column, 'content');
      assert.match(error.message, /declares it \(jsonb\)/);
      return true;
    },
  );
  const wrongType = accountDataRelation({
    columns: [col('user_id', 25, true), col('type', 25, true), col('content', 25), col('stream_id', 20)],
  });
  assert.throws(
    () => streams.streamOf(wrongType),
    /column "content": declared jsonb, but the table's column is text, which jsonb cannot hold/,
  );
  const noIdentity = accountDataRelation({ replicaIdentity: 'd' });
  assert.throws(() => streams.streamOf(noIdentity), /REPLICA IDENTITY FULL/);
});

test('declarations are checked: position type, duplicate names, tables and prefixes', () => {
  assert.throws(
    // @ts-expect-error the position column must be declared int8
    () => tableStream({ name: 'x', position: 'a', columns: { a: 'text' } }),
    StreamDefinitionError,
  );
  assert.throws(() => new StreamSet([eventsStream, eventsStream]), /declared twice/);
  assert.throws(
    () =>
      new StreamSet([
        eventsStream,
        tableStream({ name: 'copy', table: 'events', position: 'p', columns: { p: 'int8' } }),
      ]),
    /already backs another stream/,
  );
});

test('message streams parse what their writer encodes, and refuse anything else', () => {
  const typing = { room_id: '!r:x', user_id: '@u:x', typing: true, timeout_ms: 30000, ts: 1 };
  assert.deepEqual(typingStream.parse(Buffer.from(typingStream.encode(typing))), typing);
  assert.deepEqual([...typingStream.keys(typing)], ['!r:x']);
  assert.throws(() => typingStream.parse(Buffer.from('{')), StreamMessageError);
  assert.throws(() => typingStream.parse(Buffer.from('{"room_id":"!r:x"}')), StreamMessageError);

  const inv = { cache: 'getEvent', keys: ['$e'] };
  assert.deepEqual(cachesStream.parse(Buffer.from(cachesStream.encode(inv))), inv);
  assert.deepEqual(cachesStream.parse(Buffer.from('{"cache":"c","keys":null}')), { cache: 'c', keys: null });
  assert.throws(() => cachesStream.parse(Buffer.from('{"cache":"c","keys":[1]}')), StreamMessageError);
  assert.throws(() => cachesStream.parse(Buffer.from('{"keys":null}')), StreamMessageError);

  assert.equal(parsePositionMessage(Buffer.from('123')), 123n);
  assert.throws(() => parsePositionMessage(Buffer.from('12a')), StreamMessageError);
});

test('notifier keys: an event concerns its room, a membership event its member too', () => {
  const base = { stream: 'events', position: 1n, old: null } as const;
  const row = {
    stream_ordering: 1n,
    event_id: '$e',
    room_id: '!r:x',
    type: 'm.room.member',
    state_key: '@u:x',
    sender: '@u:x',
    content: { membership: 'join' },
    origin_server_ts: 1n,
  };
  assert.deepEqual([...eventsStream.keys({ ...base, op: 'insert', row })], ['!r:x', '@u:x']);
  assert.deepEqual(
    [
      ...eventsStream.keys({
        ...base,
        op: 'insert',
        row: { ...row, type: 'm.room.message', state_key: null },
      }),
    ],
    ['!r:x'],
  );
});

test('a column of a type the declaration still holds is converted exactly, and warned about once', () => {
  const streams = new StreamSet([accountDataStream]);
  // stream_id (the int8 position) now numeric, user_id varchar: both convertible.
  const relation = accountDataRelation({
    columns: [
      col('user_id', 1043, true),
      col('type', 25, true),
      col('content', 3802),
      col('stream_id', 1700),
    ],
  });
  const warnings: ColumnConversionWarning[] = [];
  const insert = (stream_id: string) =>
    streams.toUpdate(
      {
        tag: 'insert',
        xid: undefined,
        relation,
        new: { user_id: '@a:x', type: 't', content: {}, stream_id },
      },
      (warning) => void warnings.push(warning),
    );
  assert.equal(insert('12')?.position, 12n);
  assert.deepEqual(insert('9223372036854775807')?.row, {
    user_id: '@a:x',
    type: 't',
    content: {},
    stream_id: 9223372036854775807n,
  });
  assert.deepEqual(
    warnings.map((w) => [w.column, w.actual, w.declared]),
    [
      ['user_id', 'varchar', 'text'],
      ['stream_id', 'numeric', 'int8'],
    ],
    'each changed column once, not per row',
  );
  for (const stream_id of ['1.5', '9223372036854775808', '-9223372036854775809']) {
    assert.throws(
      () => insert(stream_id),
      (error: unknown) =>
        error instanceof StreamSchemaError &&
        error.column === 'stream_id' &&
        error.message.includes(`now numeric, that int8 cannot hold: "${stream_id}" is not an int8`),
    );
  }
});

test('conversions go only where every value either fits exactly or is refused', () => {
  assert.equal(conversionFor('int8', 'int4')?.(7), 7n);
  assert.equal(conversionFor('int4', 'int8')?.(2147483647n), 2147483647);
  assert.throws(() => conversionFor('int4', 'int8')?.(2147483648n), NotRepresentable);
  assert.throws(() => conversionFor('int2', 'int4')?.(40000), NotRepresentable);
  assert.equal(conversionFor('numeric', 'int8')?.(-5n), '-5');
  assert.equal(conversionFor('float8', 'float4')?.(1.5), 1.5);
  assert.deepEqual(conversionFor('jsonb', 'json')?.({ a: [1] }), { a: [1] });
  // Lossy or ambiguous: not conversions at all, so the schema check fails as before.
  for (const [declared, actual] of [
    ['int8', 'float8'],
    ['int4', 'float4'],
    ['float4', 'float8'],
    ['timestamptz', 'timestamp'],
    ['int8', 'text'],
    ['uuid', 'text'],
  ] as const)
    assert.equal(conversionFor(declared, actual), undefined, `${actual} → ${declared}`);
});
