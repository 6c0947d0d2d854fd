/**
 * The pusher role end to end: a real `slotstream reader --push-url` process POSTs every new event to a
 * local webhook (node:http) that records what it accepted. Delivery is at least once: every event posted on
 * the real writer reaches the webhook, through a webhook outage (500s, retried with backoff), through a
 * SIGKILL of the pusher in its window, after the webhook accepted events and before its cursor recorded
 * them (restarted, it pushes those again, and nothing else twice), and through an outage during which its
 * slot is lost (the reader resets; the pusher catches up from the events table). The slot itself is
 * acknowledged as the reader applies, webhook or not. Duplicates are allowed and counted.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { formatLsn, parseLsn } from '../../src/replication/lsn.ts';
import { AppDeployment, ok, WriterClient, within } from '../support/app-processes.ts';
import { burnWal, needsOwnCluster, query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';
import { withServerSetting } from '../support/server-setting.ts';

/** A webhook that records every POSTed event, and can be told to fail or to hold its answer. */
class Webhook {
  /** Event ids answered 2xx, in order, duplicates included. */
  readonly accepted: string[] = [];
  /** Every request: the event id and the status it got (0: not answered, the client gone or dropped). */
  readonly attempts: { event_id: string; status: number }[] = [];
  /** Answer 500 while set. */
  failing = false;
  /** Each event's body as last accepted. */
  readonly bodies = new Map<string, Record<string, unknown>>();
  /**
   * Runs on each request once it has arrived, before it is answered (the pusher waits for the answer
   * meanwhile); a request it returns false for is dropped unanswered.
   */
  beforeAnswer: ((eventId: string) => Promise<boolean>) | undefined;
  readonly #server = createServer((req, res) => void this.#handle(req, res));
  url = '';

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/push`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Distinct event ids accepted. */
  get seen(): Set<string> {
    return new Set(this.accepted);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {}); // a pusher killed mid-request: nobody to answer
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let eventId = '';
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      eventId = String(body.event_id);
      const answer = (await this.beforeAnswer?.(eventId)) ?? true;
      const status = req.method !== 'POST' ? 405 : this.failing ? 500 : 200;
      const gone = !answer || res.destroyed || req.socket.destroyed;
      this.attempts.push({ event_id: eventId, status: gone ? 0 : status });
      if (gone) {
        res.destroy();
        return;
      }
      if (status === 200) {
        this.accepted.push(eventId);
        this.bodies.set(eventId, body);
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{}' : '{"error":"M_UNKNOWN","message":"webhook down"}');
    } catch {
      res.writeHead(400).end();
    }
  }
}

const app = await AppDeployment.create('app_pusher');
const webhook = await new Webhook().listen();
after(() => webhook.close());
const writerProc = await app.writer();
const writer = new WriterClient(() => writerProc.url);
const pusherSlot = app.slot('e2e_pusher');
const pusher = await app.reader(pusherSlot, { pushUrl: webhook.url });

const room = '!push:test';
const poster = '@pusher:test';

/** Posts `count` messages (4 at a time); their event ids in posting order. */
async function post(count: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const n = next++;
        ids.push((await writer.send(room, poster, { body: `${label} ${n}`, n })).event_id);
      }
    }),
  );
  return ids;
}

/** `wait`, failing with `detail()` and the pusher's recent output as they are when it fails. */
async function showingPusher<T>(wait: Promise<T>, detail = () => ''): Promise<T> {
  try {
    return await wait;
  } catch (error) {
    const message = `${(error as Error).message}${detail()} (pusher output: ${pusher.output(1500)})`;
    throw new Error(message, { cause: error });
  }
}

async function allSeen(ids: readonly string[], what: string, timeoutMs = 30_000): Promise<void> {
  const missing = () => ids.filter((id) => !webhook.seen.has(id)).length;
  await showingPusher(
    waitFor(what, async () => missing() === 0, timeoutMs),
    () => `: ${missing()} of ${ids.length} events not pushed yet`,
  );
}

/** An accepted event's stream ordering, from its body. */
function orderingOf(eventId: string): bigint {
  const ordering = webhook.bodies.get(eventId)?.stream_ordering;
  assert.equal(typeof ordering, 'string', `${eventId} was accepted with a stream_ordering`);
  return BigInt(ordering as string);
}

const duplicates = () => webhook.accepted.length - webhook.seen.size;
const failedAttempts = () => webhook.attempts.filter((a) => a.status === 500).length;
const log = (line: string) => console.log(`# ${line}`);

test('every event posted on the writer reaches the webhook', { timeout: 60_000 }, async () => {
  const joined = await writer.join(room, poster);
  const ids = [joined.event_id, ...(await post(40, 'hello'))];
  await allSeen(ids, 'the first events');
  // What the webhook got is the event as the API shows it.
  const body = webhook.bodies.get(joined.event_id);
  assert.deepEqual(body, {
    event_id: joined.event_id,
    room_id: room,
    sender: poster,
    type: 'm.room.member',
    state_key: poster,
    content: { membership: 'join' },
    origin_server_ts: body?.origin_server_ts,
    stream_ordering: body?.stream_ordering,
  });
  // Pushed in stream order: stream orderings increase along what was accepted.
  const orderings = webhook.accepted.map(orderingOf);
  orderings.forEach((o, i) => {
    if (i > 0) assert.ok((orderings[i - 1] as bigint) < o, 'pushed in stream order');
  });
  log(`${ids.length} events pushed, ${duplicates()} duplicates`);
});

test('a webhook answering 500 for a while: events are retried and arrive once it recovers', {
  timeout: 60_000,
}, async () => {
  webhook.failing = true;
  const failedBefore = failedAttempts();
  const ids = await post(10, 'outage');
  await waitFor('the pusher to retry', async () => {
    const failed = failedAttempts() - failedBefore;
    return failed >= 3;
  });
  assert.ok(
    ids.every((id) => !webhook.seen.has(id)),
    'nothing accepted while the webhook fails',
  );
  const failedIds = new Set(webhook.attempts.filter((a) => a.status === 500).map((a) => a.event_id));
  const recoveredAt = Date.now();
  webhook.failing = false;
  await allSeen(ids, 'the events of the outage');
  const retried = [...failedIds].filter((id) => webhook.seen.has(id));
  assert.ok(retried.length > 0, 'an event that got a 500 was accepted later: retried');
  log(
    `outage: ${failedAttempts() - failedBefore} failed attempts; all ${
      ids.length
    } events accepted ${Date.now() - recoveredAt} ms after recovery`,
  );
});

/** The pusher's row in slotstream_cursors: every event at or below it is recorded as pushed. */
async function storedCursor(): Promise<bigint> {
  const [row] = await query<{ position: string }>(
    app.databaseUrl,
    'SELECT position::text AS position FROM slotstream_cursors WHERE name = $1',
    [pusherSlot],
  );
  assert.ok(row, `the pusher has a cursor named ${pusherSlot}`);
  return BigInt(row.position);
}

/** The pusher killed in its window: events accepted by the webhook that its cursor had not recorded. */
interface WindowKill {
  /** The stored cursor, read while the pusher waited for an answer and so could not move it. */
  cursor: bigint;
  /** Events the webhook had accepted above that cursor, in the order it accepted them, with their bodies. */
  window: { event_id: string; body: Record<string, unknown> }[];
  /** The request held unanswered when the pusher was killed. */
  held: string;
  /** webhook.accepted.length at the kill. */
  acceptedAt: number;
  exit: number | null;
}

test('kill -9 the pusher after the webhook accepted events its cursor has not recorded: they come again, none lost', {
  timeout: 90_000,
}, async () => {
  // The window: StreamCursor stores the cursor only once deliver() has returned, i.e. once the webhook has
  // answered 2xx to every event of the batch. So when a request arrives and an event accepted earlier is
  // above the stored cursor, that event is in the batch being delivered: the pusher got its 2xx (it sent
  // the next event only then) but has not recorded it, and cannot until this request is answered. Killing
  // it then, holding the request, lands in the window every time; the cursor row read just before says so.
  const acceptedBefore = webhook.accepted.length;
  const posting = post(30, 'window');
  const killed = new Promise<WindowKill>((resolve, reject) => {
    webhook.beforeAnswer = async (eventId) => {
      try {
        // The first request waits until every event is written, so that they come in batches of many.
        await posting;
        const cursor = await storedCursor();
        const above = [...new Set(webhook.accepted)].filter((id) => orderingOf(id) > cursor);
        // The window opens with the batch's first 2xx; a few events in it show that all of them come again.
        if (above.length < 3) return true;
        const window = above.map((id) => ({ event_id: id, body: webhook.bodies.get(id) ?? {} }));
        const acceptedAt = webhook.accepted.length;
        resolve({ cursor, window, held: eventId, acceptedAt, exit: await pusher.kill('SIGKILL') });
      } catch (error) {
        reject(error);
      }
      return false;
    };
  });
  const [ids, kill] = await showingPusher(
    Promise.all([posting, within(killed, 60_000, 'the pusher killed in its window')]),
  ).finally(() => {
    webhook.beforeAnswer = undefined;
  });
  assert.equal(kill.exit, null, 'killed by SIGKILL');

  // The window happened: the webhook had accepted these events before the kill, and the cursor, the same
  // now the pusher is dead as while it waited, had not passed any of them.
  assert.ok(
    kill.window.length > 0,
    'the webhook accepted events the cursor had not recorded when the pusher died',
  );
  assert.equal(await storedCursor(), kill.cursor, 'the cursor did not move after it was read');
  const accepted = new Set(webhook.accepted.slice(0, kill.acceptedAt));
  for (const { event_id } of kill.window) {
    assert.ok(accepted.has(event_id), `${event_id} was accepted before the kill`);
    assert.ok(orderingOf(event_id) > kill.cursor, `${event_id} is above the cursor ${kill.cursor}`);
  }
  assert.ok(!accepted.has(kill.held), 'the held request was not accepted');
  assert.ok(
    ids.some((id) => !webhook.seen.has(id)),
    'killed mid-way: some events of the batch were not pushed yet',
  );

  // More events while it is down; then the pusher comes back on its slot.
  const whileDown = await post(5, 'down');
  await pusher.start();
  const health = await ok(pusher.url, 'GET', '/health');
  assert.equal(health.slot, pusherSlot);
  await allSeen([...ids, ...whileDown], 'every event after the restart', 60_000);
  // None lost, each first delivered in stream order.
  const firsts = [...new Set(webhook.accepted.slice(acceptedBefore))];
  assert.deepEqual(new Set(firsts), new Set([...ids, ...whileDown]), 'every event, and only these');
  const firstOrderings = firsts.map(orderingOf);
  assert.ok(
    firstOrderings.every((o, i) => i === 0 || (firstOrderings[i - 1] as bigint) < o),
    'first deliveries in stream order',
  );

  // From its cursor: first the window again (at least once), then the held event and the rest, in stream
  // order; nothing at or below the cursor again, and nothing else twice.
  const since = webhook.accepted.slice(kill.acceptedAt);
  const windowIds = kill.window.map((w) => w.event_id);
  assert.deepEqual(
    since.slice(0, windowIds.length + 1),
    [...windowIds, kill.held],
    'the window, then the rest',
  );
  const orderings = since.map(orderingOf);
  assert.ok(
    orderings.every((o, i) => i === 0 || (orderings[i - 1] as bigint) < o),
    'pushed in stream order after the restart',
  );
  const redelivered = since.filter((id) => accepted.has(id));
  assert.deepEqual(redelivered, windowIds, 'redelivered: exactly the window');
  // Each redelivery is the same event as the first delivery, event_id included: a webhook can deduplicate.
  for (const { event_id, body } of kill.window) assert.deepEqual(webhook.bodies.get(event_id), body);
  log(
    `kill -9 in the window: cursor at ${kill.cursor}, ${redelivered.length} accepted event(s) above it ` +
      `redelivered, ${kill.held} held; all ${ids.length + whileDown.length} events pushed after the restart`,
  );
});

/** The pusher slot's row in pg_replication_slots, and whether it is confirmed up to `lsn`. */
async function pusherSlotState(lsn = '0/0') {
  const [row] = await query<{ confirmed: string; past: boolean; wal_status: string }>(
    app.databaseUrl,
    `SELECT confirmed_flush_lsn::text AS confirmed, confirmed_flush_lsn >= $2::pg_lsn AS past, wal_status
       FROM pg_replication_slots WHERE slot_name = $1`,
    [pusherSlot, lsn],
  );
  return row;
}

test("webhook down while 1,000 events are written and the pusher's slot is lost meanwhile: every event arrives, in order", {
  timeout: 240_000,
  skip: needsOwnCluster('changes max_slot_wal_keep_size, a server-wide setting'),
}, async () => {
  webhook.failing = true;
  const acceptedBefore = webhook.accepted.length;
  const failedBefore = failedAttempts();

  // 500 events with the pusher up: its slot is confirmed past each hundred soon after it is written, though
  // the webhook accepts nothing (a pusher that acknowledged only what the webhook accepted would hold the
  // slot here, pinning WAL for the whole outage).
  const ids: string[] = [];
  const confirmed: bigint[] = [];
  for (let round = 0; round < 5; round++) {
    ids.push(...(await post(100, `outage ${round}`)));
    const [wal] = await query<{ lsn: string }>(app.databaseUrl, 'SELECT pg_current_wal_lsn()::text AS lsn');
    const lsn = wal?.lsn ?? '0/0';
    const slot = await waitFor(
      `the pusher's slot confirmed past ${lsn} while the webhook is down`,
      async () => {
        const state = await pusherSlotState(lsn);
        return state?.past ? state : undefined;
      },
    );
    confirmed.push(parseLsn(slot.confirmed));
  }
  assert.ok(
    confirmed.every((lsn, i) => i === 0 || (confirmed[i - 1] as bigint) < lsn),
    `confirmed_flush_lsn advanced round after round: ${confirmed.map(formatLsn).join(', ')}`,
  );
  assert.equal(webhook.accepted.length, acceptedBefore, 'nothing accepted while the webhook is down');
  assert.ok(failedAttempts() > failedBefore, 'the pusher kept trying');
  const metrics = await (await fetch(new URL('/metrics', pusher.url))).text();
  const lag = Number(/^slotstream_push_lag_positions(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(lag >= 500, `the pusher reports what it has yet to push: ${lag} positions`);

  // The pusher dies, and 500 more events are written while it is down; its slot is lost meanwhile (WAL
  // removed past max_slot_wal_keep_size), so no slot will ever decode them.
  assert.equal(await pusher.kill('SIGKILL'), null);
  await withServerSetting('max_slot_wal_keep_size', '1MB', async () => {
    ids.push(...(await post(500, 'slot lost')));
    await waitFor(
      "the pusher's slot to be lost",
      async () => {
        await burnWal(app.databaseUrl);
        return (await pusherSlotState())?.wal_status === 'lost';
      },
      60_000,
    );
  });

  // Back on its slot: the reader resets (a new slot, from now on), and the pusher, still failing for a
  // while, retries from its cursor; then the webhook recovers and takes everything.
  await pusher.start();
  await waitFor('the reset', async () => (await ok(pusher.url, 'GET', '/health')).resets === 1);
  const failedAtRestart = failedAttempts();
  await waitFor('the restarted pusher to retry', async () => failedAttempts() > failedAtRestart);
  const recoveredAt = Date.now();
  webhook.failing = false;
  await allSeen(ids, 'every event of the outage', 60_000);

  const wanted = new Set(ids);
  const firsts = [...new Set(webhook.accepted.filter((id) => wanted.has(id)))];
  assert.equal(firsts.length, ids.length, 'none missing');
  const orderings = firsts.map(orderingOf);
  assert.ok(
    orderings.every((o, i) => i === 0 || (orderings[i - 1] as bigint) < o),
    'first deliveries in stream order',
  );
  const repeated = webhook.accepted.filter((id) => wanted.has(id)).length - ids.length;
  log(
    `outage with a lost slot: ${ids.length} events, all accepted ${Date.now() - recoveredAt} ms after recovery, ` +
      `${repeated} duplicates; slot confirmed at ${confirmed.map(formatLsn).join(', ')} while down`,
  );
});
