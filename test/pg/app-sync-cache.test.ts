/**
 * /sync from the change caches, end to end: a reader answers an up-to-date /sync, and a window in which
 * nothing of the user's changed, without a database query (by its own /metrics counter), while a change
 * to one of the user's rooms still shows up; and under a seeded random workload (joins, leaves, messages,
 * receipts, account data, to-device, typing, a window over the 1,000-event cut) every /sync answer of the
 * caching reader is exactly that of a `--no-caches` reader, which queries every stream on every request.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AppDeployment,
  type AppProcess,
  call,
  type Json,
  ok,
  qs,
  WriterClient,
} from '../support/app-processes.ts';
import { prng } from '../support/prng.ts';

const app = await AppDeployment.create('app_sync_cache');
const writerProc = await app.writer();
const writer = new WriterClient(() => writerProc.url);
// No --writer-url: delivered to-device messages stay, so both readers keep answering the same.
const [cached, baseline] = (await Promise.all([
  app.reader(app.slot('sc_cached')),
  app.reader(app.slot('sc_baseline'), { noCaches: true }),
])) as [AppProcess, AppProcess];

async function sync(reader: AppProcess, user: string, since?: string): Promise<Json> {
  const route = `/sync?${qs({ user_id: user, since, timeout: 0 })}`;
  const answer = await call(reader.url, 'GET', route, undefined, await writer.token(user));
  assert.equal(answer.status, 200, `${reader.name} /sync for ${user}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Both readers have applied writer position `position` (read your writes). */
async function applied(position: string): Promise<void> {
  await Promise.all(
    [cached, baseline].map((r) => ok(r.url, 'GET', `/wait?${qs({ position, timeout: 20_000 })}`)),
  );
}

/** The reader's count of /sync requests served and the database queries they issued, from /metrics. */
async function syncCounts(reader: AppProcess): Promise<{ requests: number; queries: number }> {
  const res = await fetch(new URL('/metrics', reader.url));
  const text = await res.text();
  const value = (metric: string) => {
    const match = new RegExp(`^${metric}\\{[^}]*route="/sync"[^}]*\\} (\\d+)$`, 'm').exec(text);
    return Number(match?.[1] ?? 0);
  };
  return { requests: value('slotstream_requests_total'), queries: value('slotstream_db_queries_total') };
}

/** The queries one /sync issued on the caching reader, and its answer. */
async function counted(user: string, since: string): Promise<{ queries: number; body: Json }> {
  const before = await syncCounts(cached);
  const body = await sync(cached, user, since);
  const after = await syncCounts(cached);
  assert.equal(after.requests, before.requests + 1, 'one /sync counted');
  return { queries: after.queries - before.queries, body };
}

const roomsOf = (body: Json) => body.rooms as { join: Record<string, { timeline: { events: Json[] } }> };

test('an up-to-date /sync, and a window where nothing of the user changed, issue no query; a change shows', {
  timeout: 60_000,
}, async () => {
  const [alice, bob, carol] = ['@alice:sc', '@bob:sc', '@carol:sc'];
  const [mine, shared, elsewhere] = ['!mine:sc', '!shared:sc', '!elsewhere:sc'];
  await writer.join(mine, alice);
  await writer.join(shared, alice);
  await writer.join(shared, bob);
  await applied((await writer.join(elsewhere, carol)).position);

  const initial = await sync(cached, alice);
  const token = initial.next_batch as string;
  await sync(cached, alice, token); // caches the memberships: the first read of them queries
  const upToDate = await counted(alice, token);
  assert.equal(upToDate.queries, 0, `an up-to-date /sync issued ${upToDate.queries} queries`);
  assert.deepEqual(roomsOf(upToDate.body).join, {});

  // Another user's room moves on: alice's window is no longer empty, but nothing in it is hers.
  await applied((await writer.send(elsewhere, carol, { body: 'not for alice' })).position);
  const unrelated = await counted(alice, token);
  assert.equal(unrelated.queries, 0, `a window with nothing of alice's issued ${unrelated.queries} queries`);
  assert.notEqual(unrelated.body.next_batch, token, 'the window did move');
  assert.deepEqual(unrelated.body, await sync(baseline, alice, token));

  // A message in one of her rooms: its row shows up, the same as the baseline reader's, read from that
  // room's timeline (loaded once, then cached: the same window again costs nothing).
  const sent = await writer.send(shared, bob, { body: 'hello alice' });
  await applied(sent.position);
  const changed = await counted(alice, token);
  const events = roomsOf(changed.body).join[shared]?.timeline.events ?? [];
  assert.deepEqual(
    events.map((e) => e.event_id),
    [sent.event_id],
  );
  assert.deepEqual(Object.keys(roomsOf(changed.body).join), [shared], 'only the room that changed');
  assert.deepEqual(changed.body, await sync(baseline, alice, token));
  const again = await counted(alice, token);
  assert.deepEqual(again.body, changed.body);
  assert.equal(again.queries, 0, `the same window again issued ${again.queries} queries`);

  // And the baseline reader queries on every request.
  const before = await syncCounts(baseline);
  await sync(baseline, alice, changed.body.next_batch as string);
  assert.ok((await syncCounts(baseline)).queries > before.queries, 'the baseline queried');
});

test('under a random workload, every /sync answer equals the no-caches reader’s', {
  timeout: 240_000,
}, async () => {
  const random = prng(20261130);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const users = Array.from({ length: 6 }, (_, i) => `@u${i}:rand`);
  const rooms = Array.from({ length: 4 }, (_, i) => `!r${i}:rand`);
  const lastEvent = new Map<string, string>();
  /** `${room} ${user}` of every user in a room now. */
  const members = new Set<string>();
  const tokens: string[] = ['s0_0'];
  let last = '0';
  const join = async (room: string, user: string) => {
    last = (await writer.join(room, user)).position;
    members.add(`${room} ${user}`);
  };

  const step = async (): Promise<void> => {
    const dice = random();
    const user = pick(users);
    const room = pick(rooms);
    // Leaving, messages, receipts and typing are for members: a user not in the room joins it instead.
    const inRoom = members.has(`${room} ${user}`);
    if (dice < 0.2 || (!inRoom && (dice < 0.75 || dice >= 0.95))) await join(room, user);
    else if (dice < 0.3) {
      last = (await writer.leave(room, user)).position;
      members.delete(`${room} ${user}`);
    } else if (dice < 0.65) {
      const sent = await writer.send(room, user, { body: `m${random()}` });
      lastEvent.set(room, sent.event_id);
      last = sent.position;
    } else if (dice < 0.75) {
      const event = lastEvent.get(room);
      if (event === undefined) return;
      last = (await writer.receipt(room, user, event)).position;
    } else if (dice < 0.85) last = (await writer.accountData(user, 'm.rand', { n: random() })).position;
    else if (dice < 0.95) last = (await writer.toDevice(user, 'DEV', 'm.rand', { n: random() })).position;
    else await writer.typing(room, user, random() < 0.7, 120_000); // stays until the test ends
  };

  /** Every user, from several earlier tokens and from none: both readers answer the same. */
  const compare = async (round: number) => {
    // A write after the last typing change: a reader that applied it has the typing before it too.
    await applied((await writer.accountData('@clock:rand', 'm.round', { round })).position);
    const found: string[] = [];
    for (const user of users) {
      const sinces = [undefined, 's0_0', ...Array.from({ length: 4 }, () => pick(tokens))];
      for (const since of sinces) {
        const [mine, theirs] = await Promise.all([sync(cached, user, since), sync(baseline, user, since)]);
        assert.deepEqual(mine, theirs, `round ${round}: ${user} since ${since}`);
        found.push(mine.next_batch as string);
      }
    }
    tokens.push(...found);
  };

  for (let round = 0; round < 8; round++) {
    for (let i = 0; i < 40; i++) await step();
    if (round === 4) {
      // More events than one window holds: the answer is cut, and the rest comes next time.
      const room = pick(rooms);
      if (!members.has(`${room} ${users[0]}`)) await join(room, users[0] as string);
      await Promise.all(
        Array.from({ length: 16 }, async (_, w) => {
          for (let i = w; i < 1_050; i += 16)
            last = (await writer.send(room, users[0] as string, { body: `bulk ${i}` })).position;
        }),
      );
    }
    await applied(last);
    await compare(round);
  }
});
