import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventJson } from '../../app/event-json.ts';
import { byStreamOrdering, timelineWindow } from '../../app/reader/timeline-window.ts';

const event = (position: number): EventJson => ({
  event_id: `$e${position}`,
  room_id: '!r',
  sender: '@u',
  type: 'm.room.message',
  content: {},
  origin_server_ts: 0,
  stream_ordering: String(position),
});
/** A cached timeline: the given positions, newest first as the cache holds them. */
const timeline = (...positions: number[]) => positions.sort((a, b) => b - a).map(event);
const ids = (events: EventJson[] | undefined) => events?.map((e) => e.event_id);
const window = (after: number, upto: number) => ({ room_id: '!r', after: BigInt(after), upto: BigInt(upto) });

test('a full timeline covers a window it reaches back to; newer events are left out, order is stream order', () => {
  const cached = timeline(10, 12, 15, 20, 31); // the latest 5 of a busier room, 31 newer than the window
  assert.deepEqual(ids(timelineWindow(cached, 5, window(10, 30))), ['$e12', '$e15', '$e20']);
  assert.deepEqual(ids(timelineWindow(cached, 5, window(11, 12))), ['$e12']);
  assert.deepEqual(timelineWindow(cached, 5, window(20, 30)), [], 'covered, and nothing in it');
  assert.equal(timelineWindow(cached, 5, window(9, 30)), undefined, 'event 10 may have had older ones');
});

test('a timeline shorter than its limit is the whole room: it covers any window', () => {
  assert.deepEqual(ids(timelineWindow(timeline(3, 7), 5, window(0, 7))), ['$e3', '$e7']);
  assert.deepEqual(timelineWindow([], 5, window(0, 100)), []);
});

test('stream order compares positions as numbers, not as text', () => {
  const events = [event(100), event(9), event(10), event(99)];
  assert.deepEqual(ids(events.sort(byStreamOrdering)), ['$e9', '$e10', '$e99', '$e100']);
});
