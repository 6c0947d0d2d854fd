/**
 * The reference deployment end to end, as its users see it: the real `slotstream writer` and two
 * `slotstream reader` processes (each on its own slot, given --writer-url), driven over HTTP with fetch.
 * Issue 4's "done means": messages reach /sync on every reader and wake exactly the long-polls they concern;
 * read-your-writes through /wait with warm caches; membership moving rooms in and out of /sync; typing and
 * its timeout; to-device delivered exactly once across readers (and deleted once delivered); tokens valid on
 * every reader (nothing lost, nothing repeated, in order); a reader killed with SIGKILL and restarted on its
 * slot; and bad input answered 400/404 `{error, message}`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppDeployment, type AppProcess, call, enc, ok, qs, WriterClient } from '../support/app-processes.ts';
import { query } from '../support/pg.ts';
import { seeded } from '../support/prng.ts';
import { waitFor } from '../support/replication.ts';

/** Pauses between bursts of writes: varied from run to run, replayable from the printed seed. */
const pauses = seeded('app-e2e pauses');

const app = await AppDeployment.create('app_e2e');
const writerProc = await app.writer();
const writer = new WriterClient(() => writerProc.url);
const readers: AppProcess[] = await Promise.all([
  app.reader(app.slot('e2e_r1'), { writerUrl: writerProc.url }),
  app.reader(app.slot('e2e_r2'), { writerUrl: writerProc.url }),
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
  /** How long the request took. */
  ms: number;
  /** When it was answered (performance.now()). */
  at: number;
}

/** GET /sync on `reader`; must answer 200. */
async function sync(reader: AppProcess, user: string, since?: string, timeout?: number): Promise<Synced> {
  const answer = await call(reader.url, 'GET', `/sync?${qs({ user_id: user, since, timeout })}`);
  assert.equal(answer.status, 200, `${reader.name} /sync for ${user}: ${JSON.stringify(answer.body)}`);
  const body = answer.body as unknown as SyncBody;
  assert.equal(typeof body.next_batch, 'string');
  return { ...body, ms: answer.ms, at: performance.now() };
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
 * How soon a long-poll must answer after the write that concerns it (the write's own round trip included):
 * far below the polls' 10 s timeout, with room for a loaded CI machine (typically 100–300 ms here).
 */
const PROMPT_MS = 3_000;

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
  // Long-polls on both readers: alice and bob (in the room) for 10 s, carol (elsewhere) for 3 s.
  const woken = [
    sync(r1, alice, token(alice), 10_000),
    sync(r2, alice, token(alice), 10_000),
    sync(r1, bob, token(bob), 10_000),
    sync(r2, bob, token(bob), 10_000),
  ];
  const quiet = [sync(r1, carol, token(carol), 3_000), sync(r2, carol, token(carol), 3_000)];
  await sleep(500); // the polls are waiting by now
  const postedAt = performance.now();
  const sent = await writer.send(room, alice, { body: 'hello, lobby' });

  const answers = await Promise.all(woken);
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
    assert.ok(
      answer.at - postedAt < PROMPT_MS,
      `woken ${Math.round(answer.at - postedAt)} ms after the post`,
    );
  }
  log(
    `long-polls woken ${answers.map((a) => Math.round(a.at - postedAt)).join(', ')} ms after the post (incl. the POST)`,
  );

  for (const answer of await Promise.all(quiet)) {
    assert.ok(isEmptySync(answer), `carol's poll stays empty: ${JSON.stringify(answer)}`);
    assert.ok(answer.ms >= 2_900, `carol's poll ran its 3 s out, answered after ${Math.round(answer.ms)} ms`);
  }

  // The point reads agree on both readers.
  for (const reader of readers) {
    assert.deepEqual(
      await ok(reader.url, 'GET', `/events/${enc(sent.event_id)}`),
      answers[0]?.rooms.join[room]?.timeline.events[0] as unknown,
    );
    const { chunk } = (await ok(reader.url, 'GET', `/rooms/${enc(room)}/messages?limit=3`)) as {
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
  for (const reader of readers) {
    const missing = await call(reader.url, 'GET', route);
    assert.equal(missing.status, 404, JSON.stringify(missing.body));
    assert.equal(missing.body.error, 'M_NOT_FOUND');
  }
  for (let version = 1; version <= 8; version++) {
    // Warm both caches with the value before this PUT (or its absence).
    for (const reader of readers) {
      const before = await call(reader.url, 'GET', route);
      if (version === 1) assert.equal(before.status, 404);
      else assert.deepEqual(before.body, { version: version - 1, theme: `theme-${version - 1}` });
    }
    const { position } = await writer.accountData(user, type, { version, theme: `theme-${version}` });
    // Alternate which reader is asked first, so one of them is read right after its own /wait.
    for (const reader of version % 2 === 0 ? readers : [...readers].reverse()) {
      const waited = await ok(reader.url, 'GET', `/wait?${qs({ position, timeout: 10_000 })}`);
      assert.ok(BigInt(waited.position as string) >= BigInt(position));
      assert.deepEqual(
        await ok(reader.url, 'GET', route),
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
    ((await ok(reader.url, 'GET', `/users/${enc(dave)}/rooms`)) as { joined: string[] }).joined;

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
  const quiet = await sync(r1, dave, afterLeave.next_batch, 1_000);
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

  const polls = readers.map((r) => sync(r, watcher, start.next_batch, 10_000));
  await sleep(300);
  const putAt = performance.now();
  await writer.typing(room, typist, true, 500);
  const started = await Promise.all(polls);
  for (const [i, answer] of started.entries()) {
    assert.deepEqual(
      answer.rooms.join[room]?.typing,
      [typist],
      `${readers[i]?.name}: ${JSON.stringify(answer)}`,
    );
    assert.ok(answer.at - putAt < PROMPT_MS, `woken ${Math.round(answer.at - putAt)} ms after the PUT`);
  }

  // Each client polls again from its own next_batch: the writer's stop (timeout 500 ms) wakes it.
  const stops = await Promise.all(readers.map((r, i) => sync(r, watcher, started[i]?.next_batch, 10_000)));
  for (const [i, answer] of stops.entries()) {
    assert.deepEqual(answer.rooms.join[room]?.typing, [], `${readers[i]?.name}: ${JSON.stringify(answer)}`);
    const sincePut = answer.at - putAt;
    assert.ok(sincePut >= 450, `typing stopped ${Math.round(sincePut)} ms after the PUT, before its timeout`);
    assert.ok(sincePut < 5_000, `the stop woke the poll ${Math.round(sincePut)} ms after the PUT`);
  }
  log(
    `typing: stop seen ${stops.map((a) => Math.round(a.at - putAt)).join(', ')} ms after the PUT (500 ms timeout)`,
  );

  // And it stays stopped: an initial sync on either reader shows nobody typing.
  for (const reader of readers) assert.deepEqual((await sync(reader, watcher)).rooms.join[room]?.typing, []);
});

test('to-device: ~50 messages in bursts, a client alternating readers gets each exactly once; delivered ones are deleted', {
  timeout: 90_000,
}, async () => {
  const user = '@gina:test';
  const COUNT = 50;
  const inbox = async () =>
    Number(
      (
        await query<{ n: string }>(
          app.databaseUrl,
          'SELECT count(*) AS n FROM device_inbox WHERE user_id = $1',
          [user],
        )
      )[0]?.n,
    );

  let token = (await sync(r1, user)).next_batch;
  let sending = true;
  const sender = (async () => {
    for (let burst = 0; burst < 5; burst++) {
      await Promise.all(
        Array.from({ length: COUNT / 5 }, (_, i) =>
          writer.toDevice(user, `DEV${i % 3}`, 'm.test', { n: burst * (COUNT / 5) + i }),
        ),
      );
      await sleep(100 + pauses() * 200);
    }
  })().finally(() => {
    sending = false;
  });

  const seen: ToDevice[] = [];
  const deadline = Date.now() + 60_000;
  let syncs = 0;
  while (sending || seen.length < COUNT) {
    assert.ok(Date.now() < deadline, `only ${seen.length} of ${COUNT} to-device messages after 60 s`);
    const answer = await sync(readers[syncs++ % 2] as AppProcess, user, token, 2_000);
    seen.push(...answer.to_device);
    token = answer.next_batch;
    if (seen.length > COUNT) break;
  }
  await sender;
  // Nothing more on either reader.
  for (const reader of readers) {
    const answer = await sync(reader, user, token, 300);
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
    async () => (await inbox()) === 0,
    15_000,
  );

  // Only delivered messages go: one not yet synced stays in the inbox until a since proves its delivery.
  const extra = await writer.toDevice(user, 'DEV0', 'm.test', { n: COUNT });
  await applied(extra.position);
  await sync(r2, user, token, 0); // `since` older than the message: proves nothing about it
  await sleep(600); // longer than the readers' coalescing of delete requests (200 ms)
  assert.equal(await inbox(), 1, 'an undelivered message is not deleted');
  const last = await sync(r1, user, token, 5_000);
  assert.deepEqual(
    last.to_device.map((m) => m.content),
    [{ n: COUNT }],
  );
  await sync(r2, user, last.next_batch, 0);
  await waitFor('the last message to be deleted', async () => (await inbox()) === 0, 15_000);
});

test('a next_batch from one reader is good on the other: ~300 messages, each exactly once, in order', {
  timeout: 120_000,
}, async () => {
  const user = '@ivy:test';
  const rooms = ['!a:test', '!b:test', '!c:test'];
  const noise = '!noise:test';
  const poster = '@poster:test';
  for (const room of rooms) await writer.join(room, user);
  await writer.join(noise, poster);
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
      if (n % 25 === 0) await sleep(20);
    }
  });
  const sender = Promise.all(workers).finally(() => {
    sending = false;
  });

  const responses: EventJson[][] = [];
  const seen = new Map<string, number>();
  const deadline = Date.now() + 90_000;
  let syncs = 0;
  while (sending || seen.size < COUNT) {
    assert.ok(Date.now() < deadline, `only ${seen.size} of ${COUNT} events after 90 s`);
    const answer = await sync(readers[syncs++ % 2] as AppProcess, user, token, 3_000);
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
  }
  await sender;
  for (const reader of readers) {
    const answer = await sync(reader, user, token, 300);
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
  const clientDeadline = Date.now() + 90_000;
  const client = (async () => {
    let token = firstToken;
    while (!stopClient || received.length < posted.length) {
      if (Date.now() > clientDeadline)
        throw new Error(`the client got ${received.length} of ${posted.length} events within 90 s`);
      let answer: Synced;
      try {
        answer = await sync(r2, user, token, 2_000);
      } catch (error) {
        if (r2.running && !(error instanceof TypeError)) throw error; // not a network error: a real failure
        failures++;
        await sleep(100);
        continue;
      }
      received.push(...eventsOf(answer));
      token = answer.next_batch;
    }
  })();

  for (let n = 0; n < 15; n++) {
    await post(n);
    await sleep(20);
  }
  await sleep(300); // a long-poll is in flight on reader 2
  assert.equal(await r2.kill('SIGKILL'), null, 'killed, not exited');
  const downAt = posted.length;
  for (let n = 15; n < 45; n++) await post(n); // committed while reader 2 is down
  await sleep(500);
  await r2.start();
  log(`reader 2 restarted on ${r2.url} (slot ${r2.name}) after ${posted.length - downAt} messages`);
  for (let n = 45; n < 60; n++) {
    await post(n);
    await sleep(20);
  }
  await applied(await lastPosition(), [r2]);
  stopClient = true;
  await client;

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
  const { chunk } = (await ok(r2.url, 'GET', `/rooms/${enc(room)}/messages?limit=1`)) as {
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
    ['/sync', 400],
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
  for (const reader of readers) {
    for (const [route, status] of cases) {
      const answer = await call(reader.url, 'GET', route);
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
