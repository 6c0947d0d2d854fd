import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventJson } from '../../app/event-json.ts';
import { extendTimeline } from '../../app/reader/timeline-extend.ts';
import type { EventRow } from '../../app/streams.ts';
import type { RowUpdate } from '../../src/streams/define.ts';

const row = (position: number, room = '!r'): EventRow => ({
  stream_ordering: BigInt(position),
  event_id: `$e${position}`,
  room_id: room,
  type: 'm.room.message',
  state_key: null,
  sender: '@u',
  content: { body: `m${position}` },
  origin_server_ts: 1000n + BigInt(position),
});
const json = (position: number): EventJson => ({
  event_id: `$e${position}`,
  room_id: '!r',
  sender: '@u',
  type: 'm.room.message',
  content: { body: `m${position}` },
  origin_server_ts: 1000 + position,
  stream_ordering: String(position),
});
const insert = (position: number, room = '!r'): RowUpdate<EventRow> => ({
  stream: 'events',
  op: 'insert',
  position: BigInt(position),
  row: row(position, room),
  old: null,
});
/** A cached timeline: the given positions, newest first as the cache holds them. */
const timeline = (...positions: number[]) => positions.sort((a, b) => b - a).map(json);
const ids = (events: EventJson[] | undefined) => events?.map((e) => e.event_id);

test('new events are added newest first, as a load would read them, and the timeline keeps its limit', () => {
  const cached = timeline(3, 5, 9);
  const extended = extendTimeline(cached, [insert(12), insert(10)], ['!r', '4']);
  assert.deepEqual(extended, [json(12), json(10), json(9), json(5)], 'whole events, in order, cut at 4');
  assert.deepEqual(ids(cached), ['$e9', '$e5', '$e3'], 'the cached value itself is left as it was');
  assert.deepEqual(ids(extendTimeline([], [insert(1)], ['!r', '50'])), ['$e1'], 'an empty room');
});

test('a timeline that may already hold the new events is not extended: it is reloaded', () => {
  assert.equal(extendTimeline(timeline(5, 10), [insert(10)], ['!r', '50']), undefined, 'the same event');
  assert.equal(
    extendTimeline(timeline(5, 11), [insert(10), insert(12)], ['!r', '50']),
    undefined,
    'a later one',
  );
});

test('any change but an insert into the room invalidates', () => {
  const cached = timeline(5);
  const edited: RowUpdate<EventRow> = {
    stream: 'events',
    op: 'update',
    position: 5n,
    row: { ...row(5), content: { body: 'edited' } },
    old: row(5),
  };
  const deleted: RowUpdate<EventRow> = {
    stream: 'events',
    op: 'delete',
    position: 5n,
    row: null,
    old: row(5),
  };
  assert.equal(extendTimeline(cached, [insert(6), edited], ['!r', '50']), undefined);
  assert.equal(extendTimeline(cached, [deleted], ['!r', '50']), undefined);
  assert.equal(extendTimeline(cached, [insert(6, '!elsewhere')], ['!r', '50']), undefined, 'another room');
  assert.equal(extendTimeline(cached, [insert(6)], ['!r', 'x']), undefined, 'a limit that is no number');
});
