/**
 * The reference deployment end to end, as its users see it: the real `slotstream writer` and two
 * `slotstream reader` processes (each on its own slot, given --writer-url), driven over HTTP with fetch.
 * Issue 4's "done means": messages reach /sync on every reader and wake exactly the long-polls they concern;
 * read-your-writes through /wait with warm caches; membership moving rooms in and out of /sync; typing and
 * its timeout; to-device delivered exactly once across readers (and deleted once delivered); tokens valid on
 * every reader (nothing lost, nothing repeated, in order), also on a reader made to lag (its way to PostgreSQL
 * held), which waits for the token or answers 503; a reader killed with SIGKILL and restarted on its slot; and
 * bad input answered 400/404 `{error, message}`.
 *
 * Nothing here is timed: that a poll is waiting, was woken or was not, is read from the readers' own gauges
 * and counters (/metrics), after the position concerned is applied. Bounds only turn a wait that never ends
 * into a failure naming it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeToken } from '../../src/streams/token.ts';
import {
  AppDeployment,
  type AppProcess,
  call,
  enc,
  metric,
  ok,
  qs,
  untilMetric,
  WriterClient,
  within,
} from '../support/app-processes.ts';
import { EndpointProxy } from '../support/endpoint-proxy.ts';
import { query } from '../support/pg.ts';
import { seeded } from '../support/prng.ts';
import { waitFor } from '../support/replication.ts';

/** Pauses between bursts of writes: varied from run to run, replayable from the printed seed. */
const pauses = seeded('app-e2e pauses');

const app = await AppDeployment.create('app_e2e');
/** Reader 2's way to PostgreSQL (and reader 3's): held, it makes them lag behind reader 1. */
const lagging = await EndpointProxy.start(app.databaseUrl);
after(() => lagging.close());
const writerProc = await app.writer();
const writer = new WriterClient(() => writerProc.url);
const readers: AppProcess[] = await Promise.all([
  app.reader(app.slot('e2e_r1'), { writerUrl: writerProc.url }),
  app.reader(app.slot('e2e_r2'), { writerUrl: writerProc.url, databaseUrl: lagging.url(app.databaseUrl) }),
]);
const [r1, r2] = readers as [AppProcess, AppProcess];

interface EventJson {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  content: Record<string, unknown>;
  state_key?: string;
  origin_server_ts: number;
  stream_ordering: string;
}

interface JoinedRoom {
  timeline: { events: EventJson[] };
  receipts: unknown[];
  typing: string[];
}

interface ToDevice {
  device_id: string;
  sender?: string;
  type: string;
  content: Record<string, unknown>;
  stream_id: string;
}

interface SyncBody {
  next_batch: string;
  rooms: { join: Record<string, JoinedRoom>; leave: Record<string, { timeline: { events: EventJson[] } }> };
  account_data: { type: string; content: Record<string, unknown> }[];
  to_device: ToDevice[];
}

interface Synced extends SyncBody {
  /** When it was answered (performance.now()). */
  at: number;
}

/** GET /sync on `reader` as `user`; must answer 200. */
async function sync(reader: AppProcess, user: string, since?: string, timeout?: number): Promise<Synced> {
  const route = `/sync?${qs({ user_id: user, since, timeout })}`;
  const answer = await call(reader.url, 'GET', route, undefined, await writer.token(user));
  assert.equal(answer.status, 200, `${reader.name} /sync for ${user}: ${JSON.stringify(answer.body)}`);
  const body = answer.body as unknown as SyncBody;
  assert.equal(typeof body.next_batch, 'string');
  return { ...body, at: performance.now() };
}

/** Every event of a sync answer, joined and left rooms alike. */
function eventsOf(body: SyncBody): EventJson[] {
  return [
    ...Object.values(body.rooms.join).flatMap((r) => r.timeline.events),
    ...Object.values(body.rooms.leave).flatMap((r) => r.timeline.events),
  ];
}

function isEmptySync(body: SyncBody): boolean {
  return (
    Object.keys(body.rooms.join).length === 0 &&
    Object.keys(body.rooms.leave).length === 0 &&
    body.account_data.length === 0 &&
    body.to_device.length === 0
  );
}

/** Read-your-writes on every reader: each has applied writer position `position`. */
async function applied(position: string, on: readonly AppProcess[] = readers): Promise<void> {
  await Promise.all(on.map((r) => ok(r.url, 'GET', `/wait?${qs({ position, timeout: 20_000 })}`)));
}

/** Positions (decimal strings or bigints) strictly increasing. */
function assertIncreasing(values: readonly (string | bigint)[], what: string): void {
  const list = values.map((v) => BigInt(v));
  list.forEach((v, i) => {
    if (i > 0) assert.ok((list[i - 1] as bigint) < v, `${what}: ${list[i - 1]} then ${v} (#${i})`);
  });
}

/**
 * A long-poll timeout no test waits out (the API's longest): such a poll answers only when woken, so an
 * answer is a wake, not a timeout.
 */
const UNTIL_WOKEN = 300_000;
/** How long to wait for what a write sets off before failing: a bound that names the wait, not a measure. */
const BOUND_MS = 30_000;

/** Position `token` (a next_batch) is at. */
const positionOf = (token: string) => decodeToken(token).position;

const log = (line: string) => console.log(`# ${line}`);

test('a message posted on the writer is in /sync on both readers; it wakes the long-polls of its room only', {
  timeout: 60_000,
}, async () => {
  const room = '!lobby:test';
  const elsewhere = '!elsewhere:test';
  const [alice, bob, carol] = ['@alice:test', '@bob:test', '@carol:test'];
  await writer.join(room, alice);
  await writer.join(room, bob);
  const last = await writer.join(elsewhere, carol);
  await applied(last.position);

  // Initial syncs (no since): each user's joined rooms, on either reader.
  const first = new Map<string, Synced>();
  for (const [user, reader] of [
    [alice, r1],
    [bob, r2],
    [carol, r1],
  ] as const) {
    const initial = await sync(reader, user);
    first.set(user, initial);
  }
  assert.deepEqual(Object.keys(first.get(alice)?.rooms.join ?? {}), [room]);
  assert.deepEqual(Object.keys(first.get(carol)?.rooms.join ?? {}), [elsewhere]);
  const aliceTimeline = first.get(alice)?.rooms.join[room]?.timeline.events ?? [];
  assert.deepEqual(
    aliceTimeline.map((e) => [e.type, e.state_key, e.content.membership]),
    [
      ['m.room.member', alice, 'join'],
      ['m.room.member', bob, 'join'],
    ],
  );

  const token = (user: string) => first.get(user)?.next_batch as string;
  // Long-polls on both readers that only a wake answers: alice and bob (in the room), carol (elsewhere).
  const woken = [
    sync(r1, alice, token(alice), UNTIL_WOKEN),
    sync(r2, alice, token(alice), UNTIL_WOKEN),
    sync(r1, bob, token(bob), UNTIL_WOKEN),
    sync(r2, bob, token(bob), UNTIL_WOKEN),
  ];
  const quiet = [sync(r1, carol, token(carol), UNTIL_WOKEN), sync(r2, carol, token(carol), UNTIL_WOKEN)];
  for (const reader of readers)
    await untilMetric(reader.url, 'slotstream_waiters', 3, `the three long-polls to wait on ${reader.name}`);
  const wakesBefore = await Promise.all(readers.map((r) => metric(r.url, 'slotstream_wakes_total')));
  const sent = await writer.send(room, alice, { body: 'hello, lobby' });

  const answers = await within(Promise.all(woken), BOUND_MS, 'the message to wake the polls of its room');
  for (const answer of answers) {
    const events = answer.rooms.join[room]?.timeline.events ?? [];
    assert.deepEqual(
      events.map((e) => e.event_id),
      [sent.event_id],
      `the poll got the message: ${JSON.stringify(answer)}`,
    );
    const [event] = events;
    assert.deepEqual(event, {
      event_id: sent.event_id,
      room_id: room,
      sender: alice,
      type: 'm.room.message',
      content: { body: 'hello, lobby' },
      origin_server_ts: event?.origin_server_ts,
      stream_ordering: sent.stream_ordering,
    });
    assert.equal(typeof event?.origin_server_ts, 'number');
  }

  // Carol's polls were not woken: with the message applied, each reader counts two wakes (alice's and bob's
  // polls) and carol's poll still waiting. (A wake happens as the position is applied.)
  await applied(sent.position);
  for (const [i, reader] of readers.entries()) {
    const wakes = (await metric(reader.url, 'slotstream_wakes_total')) - (wakesBefore[i] as number);
    assert.equal(wakes, 2, `${reader.name} woke the room's two polls, and no other`);
    assert.equal(
      await metric(reader.url, 'slotstream_waiters'),
      1,
      `carol's poll still waits on ${reader.name}`,
    );
  }
  // A message of her own room wakes them: it alone, nothing of the lobby.
  const hers = await writer.send(elsewhere, carol, { body: 'anyone here?' });
  for (const answer of await within(
    Promise.all(quiet),
    BOUND_MS,
    "carol's room's message to wake her polls",
  )) {
    assert.deepEqual(
      eventsOf(answer).map((e) => e.event_id),
      [hers.event_id],
      `carol's poll has her room's message only: ${JSON.stringify(answer)}`,
    );
  }

  // The point reads agree on both readers.
  const asAlice = await writer.token(alice);
  for (const reader of readers) {
    assert.deepEqual(
      await ok(reader.url, 'GET', `/events/${enc(sent.event_id)}`, undefined, asAlice),
      answers[0]?.rooms.join[room]?.timeline.events[0] as unknown,
    );
    const route = `/rooms/${enc(room)}/messages?limit=3`;
    const { chunk } = (await ok(reader.url, 'GET', route, undefined, asAlice)) as {
      chunk: EventJson[];
    };
    assert.deepEqual(
      chunk.map((e) => e.type),
      ['m.room.message', 'm.room.member', 'm.room.member'],
      'newest first',
    );
    assert.equal(chunk[0]?.event_id, sent.event_id);
  }
});

test('account data: PUT on the writer, /wait on a reader, GET gives the new value even with a warm cache', {
  timeout: 60_000,
}, async () => {
  const user = '@dana:test';
  const type = 'org.example.settings';
  const route = `/users/${enc(user)}/account_data/${enc(type)}`;
  const token = await writer.token(user);
  for (const reader of readers) {
    const missing = await call(reader.url, 'GET', route, undefined, token);
    assert.equal(missing.status, 404, JSON.stringify(missing.body));
    assert.equal(missing.body.error, 'M_NOT_FOUND');
  }
  for (let version = 1; version <= 8; version++) {
    // Warm both caches with the value before this PUT (or its absence).
    for (const reader of readers) {
      const before = await call(reader.url, 'GET', route, undefined, token);
      if (version === 1) assert.equal(before.status, 404);
      else assert.deepEqual(before.body, { version: version - 1, theme: `theme-${version - 1}` });
    }
    const { position } = await writer.accountData(user, type, { version, theme: `theme-${version}` });
    // Alternate which reader is asked first, so one of them is read right after its own /wait.
    for (const reader of version % 2 === 0 ? readers : [...readers].reverse()) {
      const waited = await ok(reader.url, 'GET', `/wait?${qs({ position, timeout: 10_000 })}`);
      assert.ok(BigInt(waited.position as string) >= BigInt(position));
      assert.deepEqual(
        await ok(reader.url, 'GET', route, undefined, token),
        { version, theme: `theme-${version}` },
        `${reader.name} after /wait ${position}`,
      );
    }
  }
  // The same key in /sync: the latest value, once, after a token taken before it changed.
  const start = await sync(r1, user);
  assert.deepEqual(start.account_data, [{ type, content: { version: 8, theme: 'theme-8' } }]);
  await writer.accountData(user, type, { version: 9, theme: 'theme-9' });
  const next = await sync(r2, user, start.next_batch, 10_000);
  assert.deepEqual(next.account_data, [{ type, content: { version: 9, theme: 'theme-9' } }]);
});

test('join and leave move a room in and out of /sync (rooms.join, rooms.leave) and /users/:id/rooms', {
  timeout: 60_000,
}, async () => {
  const dave = '@dave:test';
  const erin = '@erin:test';
  const room = '!club:test';
  const roomsOf = async (reader: AppProcess) =>
    (
      (await ok(reader.url, 'GET', `/users/${enc(dave)}/rooms`, undefined, await writer.token(dave))) as {
        joined: string[];
      }
    ).joined;

  await writer.join(room, erin);
  const start = await sync(r1, dave);
  assert.deepEqual(start.rooms.join, {});
  for (const reader of readers) assert.deepEqual(await roomsOf(reader), []); // cached: empty

  const joined = await writer.join(room, dave);
  const afterJoin = await sync(r2, dave, start.next_batch, 10_000);
  assert.deepEqual(Object.keys(afterJoin.rooms.join), [room]);
  assert.deepEqual(afterJoin.rooms.leave, {});
  assert.deepEqual(
    afterJoin.rooms.join[room]?.timeline.events.map((e) => [e.event_id, e.state_key, e.content.membership]),
    [[joined.event_id, dave, 'join']],
  );
  await applied(joined.position);
  for (const reader of readers) assert.deepEqual(await roomsOf(reader), [room], reader.name);

  const hello = await writer.send(room, erin, { body: 'welcome, dave' });
  const afterHello = await sync(r1, dave, afterJoin.next_batch, 10_000);
  assert.deepEqual(
    afterHello.rooms.join[room]?.timeline.events.map((e) => e.event_id),
    [hello.event_id],
  );

  const left = await writer.leave(room, dave);
  const afterLeave = await sync(r2, dave, afterHello.next_batch, 10_000);
  assert.deepEqual(afterLeave.rooms.join, {}, 'a room left is not under join');
  assert.deepEqual(Object.keys(afterLeave.rooms.leave), [room]);
  assert.deepEqual(
    afterLeave.rooms.leave[room]?.timeline.events.map((e) => [e.event_id, e.state_key, e.content.membership]),
    [[left.event_id, dave, 'leave']],
  );
  await applied(left.position);
  for (const reader of readers) assert.deepEqual(await roomsOf(reader), [], reader.name);

  // After leaving: the room's messages are no longer dave's, and an initial sync has no such room.
  const after = await writer.send(room, erin, { body: 'dave has gone' });
  await applied(after.position);
  // Applied: the window holds all it ever will, so no long-poll (timeout 0).
  const quiet = await sync(r1, dave, afterLeave.next_batch, 0);
  assert.ok(isEmptySync(quiet), `nothing for dave after he left: ${JSON.stringify(quiet)}`);
  for (const reader of readers) assert.deepEqual((await sync(reader, dave)).rooms.join, {});

  // And back in.
  const again = await writer.join(room, dave);
  const rejoined = await sync(r2, dave, quiet.next_batch, 10_000);
  assert.deepEqual(Object.keys(rejoined.rooms.join), [room]);
  assert.deepEqual(rejoined.rooms.leave, {});
  assert.deepEqual(
    rejoined.rooms.join[room]?.timeline.events.map((e) => e.event_id),
    [again.event_id],
  );
  await applied(again.position);
  for (const reader of readers) assert.deepEqual(await roomsOf(reader), [room], reader.name);
});

test('typing shows up on both readers, wakes long-polls, and stops by itself after its timeout', {
  timeout: 60_000,
}, async () => {
  const room = '!typing:test';
  const [typist, watcher] = ['@tess:test', '@walt:test'];
  await writer.join(room, typist);
  const last = await writer.join(room, watcher);
  await applied(last.position);
  const start = await sync(r1, watcher);
  assert.deepEqual(start.rooms.join[room]?.typing, []);

  const polls = readers.map((r) => sync(r, watcher, start.next_batch, UNTIL_WOKEN));
  for (const reader of readers)
    await untilMetric(reader.url, 'slotstream_waiters', 1, `the watcher's poll to wait on ${reader.name}`);
  const putAt = performance.now();
  await writer.typing(room, typist, true, 500);
  const started = await within(Promise.all(polls), BOUND_MS, 'the typing to wake the polls');
  for (const [i, answer] of started.entries()) {
    assert.deepEqual(
      answer.rooms.join[room]?.typing,
      [typist],
      `${readers[i]?.name}: ${JSON.stringify(answer)}`,
    );
  }

  // Each client polls again from its own next_batch: the writer's stop (timeout 500 ms) wakes it.
  const stops = await within(
    Promise.all(readers.map((r, i) => sync(r, watcher, started[i]?.next_batch, UNTIL_WOKEN))),
    BOUND_MS,
    'the typing to stop and wake the polls',
  );
  for (const [i, answer] of stops.entries()) {
    assert.deepEqual(answer.rooms.join[room]?.typing, [], `${readers[i]?.name}: ${JSON.stringify(answer)}`);
    // A lower bound only, on the writer's timer (load can only make it later): not before its timeout.
    const sincePut = answer.at - putAt;
    assert.ok(sincePut >= 450, `typing stopped ${Math.round(sincePut)} ms after the PUT, before its timeout`);
  }

  // And it stays stopped: an initial sync on either reader shows nobody typing.
  for (const reader of readers) assert.deepEqual((await sync(reader, watcher)).rooms.join[room]?.typing, []);
});

test('to-device: ~50 messages in bursts, a client alternating readers gets each exactly once; delivered ones are deleted', {
  timeout: 90_000,
}, async () => {
  const user = '@gina:test';
  const COUNT = 50;
  /** The `n` of each message still in the user's inbox, in stream order. */
  const inbox = async () =>
    (
      await query<{ n: number }>(
        app.databaseUrl,
        "SELECT (content->>'n')::int AS n FROM device_inbox WHERE user_id = $1 ORDER BY stream_id",
        [user],
      )
    ).map((row) => row.n);

  let token = (await sync(r1, user)).next_batch;
  let sending = true;
  const sender = (async () => {
    for (let burst = 0; burst < 5; burst++) {
      await Promise.all(
        Array.from({ length: COUNT / 5 }, (_, i) =>
          writer.toDevice(user, `DEV${i % 3}`, 'm.test', { n: burst * (COUNT / 5) + i }),
        ),
      );
      await sleep(100 + pauses() * 200); // pacing only: syncs come between the bursts; it guards nothing
    }
  })().finally(() => {
    sending = false;
  });

  const seen: ToDevice[] = [];
  let syncs = 0;
  const take = async (timeout: number) => {
    const answer = await sync(readers[syncs++ % 2] as AppProcess, user, token, timeout);
    seen.push(...answer.to_device);
    token = answer.next_batch;
  };
  // While the bursts go on: the long-poll's timeout only paces the client, whatever it gets counts.
  while (sending) await take(2_000);
  await sender;
  // Both readers have applied the last message: one sync gets whatever is left, and then there is nothing.
  await applied(await lastPosition());
  await take(0);
  for (const reader of readers) {
    const answer = await sync(reader, user, token, 0);
    assert.deepEqual(answer.to_device, [], `${reader.name}: nothing left to deliver`);
    token = answer.next_batch;
  }

  const ns = seen.map((m) => m.content.n as number).sort((a, b) => a - b);
  assert.deepEqual(
    ns,
    Array.from({ length: COUNT }, (_, i) => i),
    'every message exactly once',
  );
  for (const m of seen) {
    assert.equal(m.type, 'm.test');
    assert.match(m.device_id, /^DEV[0-2]$/);
  }
  assertIncreasing(
    seen.map((m) => m.stream_id),
    'stream_id increases across syncs',
  );
  log(`to-device: ${COUNT} messages over ${syncs} syncs alternating readers`);

  // The client's last since covered everything: the readers told the writer, which deleted them all.
  await waitFor(
    'the writer to delete the delivered to-device messages',
    async () => (await inbox()).length === 0,
    15_000,
  );

  // Only delivered messages go: a since proves delivery up to itself, not up to what its reader has applied.
  // A client starting over gets one more message in its initial sync (which, having no since, proves
  // nothing); from that next_batch, on a reader that has applied another message since, it gets that one.
  // That since proves the first delivered and not the second: the writer deletes the first only.
  const delivered = await writer.toDevice(user, 'DEV0', 'm.test', { n: COUNT });
  await applied(delivered.position, [r1]);
  const restart = await sync(r1, user);
  assert.deepEqual(
    restart.to_device.map((m) => m.content),
    [{ n: COUNT }],
  );
  const extra = await writer.toDevice(user, 'DEV0', 'm.test', { n: COUNT + 1 });
  await applied(extra.position, [r2]);
  const last = await sync(r2, user, restart.next_batch, 0);
  assert.deepEqual(
    last.to_device.map((m) => m.content),
    [{ n: COUNT + 1 }],
  );
  // One DELETE up to the since takes the first: once it is gone, what stays is what the since did not prove.
  await waitFor(
    'the writer to delete the message the since proves delivered',
    async () => !(await inbox()).includes(COUNT),
    15_000,
  );
  assert.deepEqual(await inbox(), [COUNT + 1], 'an undelivered message is not deleted');
  await sync(r1, user, last.next_batch, 0);
  await waitFor('the last message to be deleted', async () => (await inbox()).length === 0, 15_000);
});

test('a next_batch from one reader is good on the other: ~300 messages, each exactly once, in order', {
  timeout: 120_000,
}, async () => {
  const user = '@ivy:test';
  const rooms = ['!a:test', '!b:test', '!c:test'];
  const noise = '!noise:test';
  const poster = '@poster:test';
  for (const room of rooms) {
    await writer.join(room, user);
    await writer.join(room, poster);
  }
  await writer.join(noise, poster);
  // The joins applied first: the initial sync's token is past them, so the syncs below see only the posts.
  await applied(await lastPosition());
  let token = (await sync(r2, user)).next_batch;

  const COUNT = 300;
  const posted: { event_id: string; stream_ordering: bigint }[] = [];
  let sending = true;
  let next = 0;
  const workers = Array.from({ length: 4 }, async () => {
    while (next < COUNT) {
      const n = next++;
      const room = rooms[n % rooms.length] as string;
      const sent = await writer.send(room, poster, { body: `message ${n}`, n });
      posted.push({ event_id: sent.event_id, stream_ordering: BigInt(sent.stream_ordering) });
      if (n % 5 === 0) await writer.send(noise, poster, { body: `noise ${n}` });
      if (n % 25 === 0) await sleep(20); // pacing only: lets syncs fall between writes; it guards nothing
    }
  });
  const sender = Promise.all(workers).finally(() => {
    sending = false;
  });

  const responses: EventJson[][] = [];
  const seen = new Map<string, number>();
  let syncs = 0;
  const take = async (timeout: number) => {
    const answer = await sync(readers[syncs++ % 2] as AppProcess, user, token, timeout);
    assert.deepEqual(answer.rooms.leave, {});
    for (const [room, joined] of Object.entries(answer.rooms.join)) {
      assert.ok(rooms.includes(room), `an event of ${room}, not one of ivy's rooms`);
      assertIncreasing(
        joined.timeline.events.map((e) => e.stream_ordering),
        `${room}'s timeline in stream order`,
      );
    }
    const events = eventsOf(answer).sort((a, b) =>
      Number(BigInt(a.stream_ordering) - BigInt(b.stream_ordering)),
    );
    for (const e of events) seen.set(e.event_id, (seen.get(e.event_id) ?? 0) + 1);
    if (events.length > 0) responses.push(events);
    token = answer.next_batch;
  };
  // While the posts go on: the long-poll's timeout only paces the client, whatever it gets counts.
  while (sending) await take(3_000);
  await sender;
  // Both readers have applied the last post: one sync gets whatever is left, and then there is nothing.
  await applied(await lastPosition());
  await take(0);
  for (const reader of readers) {
    const answer = await sync(reader, user, token, 0);
    assert.ok(isEmptySync(answer), `${reader.name}: nothing after the last event: ${JSON.stringify(answer)}`);
  }

  const repeated = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(repeated, [], 'no event twice');
  assert.deepEqual(
    [...seen.keys()].sort(),
    posted.map((p) => p.event_id).sort(),
    'exactly the events posted into the rooms',
  );
  // Windows follow each other: everything in a response is after everything in the one before.
  const flat = responses.flat().map((e) => BigInt(e.stream_ordering));
  assertIncreasing(flat, 'stream_ordering order across syncs');
  assert.deepEqual(
    flat,
    posted.map((p) => p.stream_ordering).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  log(`tokens across readers: ${COUNT} events over ${syncs} syncs (${responses.length} non-empty)`);
});

/** Reader `proc`'s applied position, from its /metrics (which, unlike /health, asks PostgreSQL nothing). */
async function appliedOn(proc: AppProcess): Promise<bigint> {
  return BigInt(await metric(proc.url, 'slotstream_position'));
}

/** `/sync` as `user` from `since`, answered however it is (status and headers too). */
async function rawSync(reader: AppProcess, user: string, since: string, timeout: number) {
  const route = `/sync?${qs({ user_id: user, since, timeout })}`;
  return call(reader.url, 'GET', route, undefined, await writer.token(user));
}

test('a token from a reader ahead, on a reader held behind it: it waits, then answers exactly the window', {
  timeout: 60_000,
}, async () => {
  const user = '@kim:test';
  const room = '!lag:test';
  const poster = '@poster:test';
  await writer.join(room, poster);
  const joined = await writer.join(room, user);
  await applied(joined.position);
  const start = await sync(r1, user);
  await sync(r2, user); // reader 2 knows kim's token now: held, it still authenticates her from its cache

  lagging.hold();
  try {
    const m1 = await writer.send(room, poster, { body: 'while reader 2 is held, 1' });
    const ahead = await within(sync(r1, user, start.next_batch, UNTIL_WOKEN), BOUND_MS, 'reader 1 to wake');
    assert.deepEqual(
      eventsOf(ahead).map((e) => e.event_id),
      [m1.event_id],
    );
    const m2 = await writer.send(room, poster, { body: 'while reader 2 is held, 2' });
    let settled = false;
    const answer = rawSync(r2, user, ahead.next_batch, UNTIL_WOKEN).finally(() => {
      settled = true;
    });
    await untilMetric(r2.url, 'slotstream_position_waiters', 1, 'reader 2 to wait for the token’s position');
    // The lag is real: reader 1 has applied both messages, reader 2 neither, and its /sync is still waiting.
    await applied(m2.position, [r1]);
    const behind = await appliedOn(r2);
    assert.ok(
      behind < BigInt(m1.position) && behind < positionOf(ahead.next_batch),
      `reader 2 at ${behind}, behind the token's ${positionOf(ahead.next_batch)}`,
    );
    assert.equal(settled, false, 'reader 2 does not answer from behind the token');

    lagging.release();
    const caughtUp = await within(answer, BOUND_MS, 'reader 2 to answer once released');
    assert.equal(caughtUp.status, 200, JSON.stringify(caughtUp.body));
    assert.deepEqual(
      eventsOf(caughtUp.body as unknown as SyncBody).map((e) => e.event_id),
      [m2.event_id],
      'the window after the token: the second message, not the first again',
    );
  } finally {
    lagging.release();
  }
});

test('a reader held behind a token past its catch-up wait answers 503 M_NOT_CAUGHT_UP, and the window once it catches up', {
  timeout: 60_000,
}, async () => {
  // A reader of its own on the held path, with a short catch-up wait: the 503 without waiting out 10 s.
  const r3 = await app.reader(app.slot('e2e_r3'), {
    writerUrl: writerProc.url,
    databaseUrl: lagging.url(app.databaseUrl),
    catchUpTimeoutMs: 1_000,
  });
  const user = '@lee:test';
  const room = '!late:test';
  const poster = '@poster:test';
  await writer.join(room, poster);
  const joined = await writer.join(room, user);
  await applied(joined.position, [r1, r3]);
  const start = await sync(r1, user);
  await sync(r3, user); // its token cached on reader 3

  let sent: { event_id: string; position: string };
  let token: string;
  lagging.hold();
  try {
    sent = await writer.send(room, poster, { body: 'while reader 3 is held' });
    const ahead = await within(sync(r1, user, start.next_batch, UNTIL_WOKEN), BOUND_MS, 'reader 1 to wake');
    token = ahead.next_batch;
    const refused = await within(rawSync(r3, user, token, 0), BOUND_MS, 'reader 3 to give up on the token');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'M_NOT_CAUGHT_UP');
    assert.equal(refused.headers.get('retry-after'), '1');
    const behind = await appliedOn(r3);
    assert.ok(behind < positionOf(token), `reader 3 at ${behind}, behind the token's ${positionOf(token)}`);
  } finally {
    lagging.release();
  }
  // Released, it catches up: the client's retry is answered, and so is the window the token closed.
  await applied(sent.position, [r3]);
  assert.ok(isEmptySync(await sync(r3, user, token, 0)), 'nothing after the token');
  assert.deepEqual(
    eventsOf(await sync(r3, user, start.next_batch, 0)).map((e) => e.event_id),
    [sent.event_id],
  );
  await r3.kill();
});

test('kill -9 a reader, restart it on its slot: its clients resume from their tokens, nothing lost or repeated', {
  timeout: 120_000,
}, async () => {
  const user = '@jay:test';
  const room = '!crash:test';
  const poster = '@poster:test';
  await writer.join(room, poster);
  const joined = await writer.join(room, user);
  await applied(joined.position);
  const firstToken = (await sync(r2, user)).next_batch;

  const posted: string[] = [];
  const post = async (n: number) => posted.push((await writer.send(room, poster, { n })).event_id);

  // A client syncing on reader 2 throughout, retrying while it is down.
  let stopClient = false;
  let failures = 0;
  const received: EventJson[] = [];
  let clientToken = firstToken;
  const client = (async () => {
    while (!stopClient) {
      let answer: Synced;
      try {
        // The long-poll's timeout only paces the client: whatever it gets counts, and the end is checked below.
        answer = await sync(r2, user, clientToken, 2_000);
      } catch (error) {
        if (r2.running && !(error instanceof TypeError)) throw error; // not a network error: a real failure
        failures++;
        await sleep(100); // pacing only: a client's pause before retrying a reader that is down
        continue;
      }
      received.push(...eventsOf(answer));
      clientToken = answer.next_batch;
    }
  })();

  // Pauses between posts are pacing only, so that the client's syncs fall between them; they guard nothing.
  for (let n = 0; n < 15; n++) {
    await post(n);
    await sleep(20);
  }
  await untilMetric(r2.url, 'slotstream_waiters', 1, "the client's long-poll to wait on reader 2");
  assert.equal(await r2.kill('SIGKILL'), null, 'killed, not exited');
  const downAt = posted.length;
  for (let n = 15; n < 45; n++) await post(n); // committed while reader 2 is down
  await r2.start();
  log(`reader 2 restarted on ${r2.url} (slot ${r2.name}) after ${posted.length - downAt} messages`);
  for (let n = 45; n < 60; n++) {
    await post(n);
    await sleep(20);
  }
  await applied(await lastPosition(), [r2]);
  stopClient = true;
  await client;
  // Reader 2 has applied every post: one more sync from the client's token gets whatever is left.
  received.push(...eventsOf(await sync(r2, user, clientToken, 0)));

  assert.ok(failures > 0, 'the client saw reader 2 down');
  assert.deepEqual(
    received.map((e) => e.event_id),
    posted,
    'every message exactly once, in order',
  );
  // A client that slept through the crash resumes from its old token too: everything in one answer.
  const resumed = await sync(r2, user, firstToken, 0);
  assert.deepEqual(
    resumed.rooms.join[room]?.timeline.events.map((e) => e.event_id),
    posted,
  );
  // The restarted reader serves its slot and its fresh caches.
  const health = await ok(r2.url, 'GET', '/health');
  assert.equal(health.slot, r2.name);
  const route = `/rooms/${enc(room)}/messages?limit=1`;
  const { chunk } = (await ok(r2.url, 'GET', route, undefined, await writer.token(user))) as {
    chunk: EventJson[];
  };
  assert.equal(chunk[0]?.event_id, posted.at(-1));
  log(`kill -9: ${posted.length} messages, ${failures} failed requests while reader 2 was down`);
});

/** The writer's newest position (its /health). */
async function lastPosition(): Promise<string> {
  const health = await ok(writerProc.url, 'GET', '/health');
  return String(health.position);
}

test('bad input on reader endpoints: 400 {error, message}; unknown routes 404', {
  timeout: 30_000,
}, async () => {
  const cases: [string, number][] = [
    ['/sync?since=garbage', 400],
    ['/sync?user_id=', 400],
    ['/sync?user_id=alice', 400],
    ['/sync?user_id=%40Alice%3Atest', 400],
    ['/sync?user_id=%40alice%3Atest&user_id=%40bob%3Atest', 400],
    ['/sync?user_id=%40alice%3Atest&since=garbage', 400],
    ['/sync?user_id=%40alice%3Atest&since=s1', 400],
    ['/sync?user_id=%40alice%3Atest&since=s-1_0', 400],
    ['/sync?user_id=%40alice%3Atest&since=s99999999999999999999_0', 400],
    ['/sync?user_id=%40alice%3Atest&timeout=-1', 400],
    ['/sync?user_id=%40alice%3Atest&timeout=300001', 400],
    ['/sync?user_id=%40alice%3Atest&timeout=abc', 400],
    ['/sync?user_id=%40alice%3Atest&timeout=1e3', 400],
    ['/wait', 400],
    ['/wait?position=', 400],
    ['/wait?position=abc', 400],
    ['/wait?position=-1', 400],
    ['/wait?position=1.5', 400],
    ['/wait?position=99999999999999999999999', 400],
    ['/wait?position=1&timeout=-5', 400],
    ['/nope', 404],
    ['/sync/extra', 404],
    ['/users/%40alice%3Atest', 404],
  ];
  const asAlice = await writer.token('@alice:test');
  for (const reader of readers) {
    for (const [route, status] of cases) {
      const answer = await call(reader.url, 'GET', route, undefined, asAlice);
      assert.equal(answer.status, status, `${route}: ${JSON.stringify(answer.body)}`);
      assert.deepEqual(Object.keys(answer.body).sort(), ['error', 'message'], route);
      assert.equal(typeof answer.body.error, 'string');
      assert.ok(typeof answer.body.message === 'string' && answer.body.message.length > 0, route);
      if (status === 404) assert.equal(answer.body.error, 'M_NOT_FOUND', route);
      else assert.equal(answer.body.error, 'M_INVALID_PARAM', route);
    }
    // And the reader is none the worse.
    assert.equal((await ok(reader.url, 'GET', '/health')).status, 'ok');
  }
});
