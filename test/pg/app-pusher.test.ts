/**
 * The pusher role end to end: a real `slotstream reader --push-url` process POSTs every new event to a
 * local webhook (node:http) that records what it accepted. Delivery is at least once: every event posted on
 * the real writer reaches the webhook, through a webhook outage (500s, retried with backoff), through a
 * SIGKILL of the pusher in the middle of a delivery (restarted, it pushes again whatever its cursor had not
 * stored), and through an outage during which its slot is lost (the reader resets; the pusher catches up
 * from the events table). The slot itself is acknowledged as the reader applies, webhook or not.
 * Duplicates are allowed and counted.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn, parseLsn } from '../../src/replication/lsn.ts';
import { AppDeployment, ok, WriterClient, within } from '../support/app-processes.ts';
import { adminUrl, burnWal, query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';

/** A webhook that records every POSTed event, and can be told to fail or to answer slowly. */
class Webhook {
  /** Event ids answered 2xx, in order, duplicates included. */
  readonly accepted: string[] = [];
  /** Every request: the event id and the status it got (0: the client went away before the answer). */
  readonly attempts: { event_id: string; status: number; at: number }[] = [];
  /** Requests received but not answered yet. */
  pending = 0;
  /** Answer 500 while set. */
  failing = false;
  /** Hold each answer this long. */
  delayMs = 0;
  readonly bodies = new Map<string, Record<string, unknown>>();
  /** Resolved (and cleared) when the next request arrives, before it is answered. */
  #arrival: (() => void) | undefined;
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

  /** Resolves when the next request has arrived and is being held (`delayMs`). */
  nextRequest(): Promise<void> {
    return new Promise((resolve) => {
      this.#arrival = resolve;
    });
  }

  /** Distinct event ids accepted. */
  get seen(): Set<string> {
    return new Set(this.accepted);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {}); // a pusher killed mid-request: nobody to answer
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.pending++;
    let eventId = '';
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      eventId = String(body.event_id);
      this.#arrival?.();
      this.#arrival = undefined;
      if (this.delayMs > 0) await sleep(this.delayMs);
      // Decided after the delay: a request held while the webhook turns bad gets the bad answer.
      const status = req.method !== 'POST' ? 405 : this.failing ? 500 : 200;
      const gone = res.destroyed || req.socket.destroyed;
      this.attempts.push({ event_id: eventId, status: gone ? 0 : status, at: Date.now() });
      if (gone) return;
      if (status === 200) {
        this.accepted.push(eventId);
        this.bodies.set(eventId, body);
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{}' : '{"error":"M_UNKNOWN","message":"webhook down"}');
    } catch {
      res.writeHead(400).end();
    } finally {
      this.pending--;
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

async function allSeen(ids: readonly string[], what: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${what}: ${ids.filter((id) => !webhook.seen.has(id)).length} of ${ids.length} events not pushed yet (pusher output: ${pusher.output(1500)})`,
    async () => ids.every((id) => webhook.seen.has(id)),
    timeoutMs,
  );
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
  const orderings = webhook.accepted.map((id) => BigInt(webhook.bodies.get(id)?.stream_ordering as string));
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

test('kill -9 the pusher mid-delivery, restart it on its slot: every event still reaches the webhook', {
  timeout: 90_000,
}, async () => {
  // A slow webhook: the pusher is always in the middle of a delivery.
  webhook.delayMs = 150;
  const acceptedBefore = webhook.accepted.length;
  const ids = await post(30, 'crash');
  await waitFor('a few deliveries', async () => webhook.accepted.length - acceptedBefore >= 5);
  // Then failing as well, and killed while a request is held.
  webhook.failing = true;
  await waitFor('a failed attempt', async () => webhook.attempts.slice(-3).some((a) => a.status === 500));
  // Killed while the webhook holds one of its requests (the next retry comes within the backoff's 10 s).
  await within(webhook.nextRequest(), 15_000, 'the next retry');
  assert.equal(webhook.pending, 1, 'a request is in flight');
  assert.equal(await pusher.kill('SIGKILL'), null);
  const atKill = ids.filter((id) => webhook.seen.has(id)).length;
  assert.ok(atKill < ids.length, `killed mid-way: ${atKill} of ${ids.length} delivered`);

  // More events while it is down; then the webhook recovers and the pusher comes back on its slot.
  const whileDown = await post(10, 'down');
  webhook.failing = false;
  webhook.delayMs = 0;
  await pusher.start();
  const health = await ok(pusher.url, 'GET', '/health');
  assert.equal(health.slot, pusherSlot);
  const later = await post(5, 'after');
  await allSeen([...ids, ...whileDown, ...later], 'every event after the restart', 60_000);
  log(
    `kill -9 mid-delivery: ${atKill} of ${ids.length} delivered at the kill; all ${
      ids.length + whileDown.length + later.length
    } after the restart; ${duplicates()} duplicates in all`,
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
  await query(adminUrl(), "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  await query(adminUrl(), 'SELECT pg_reload_conf()');
  try {
    ids.push(...(await post(500, 'slot lost')));
    await waitFor(
      "the pusher's slot to be lost",
      async () => {
        await burnWal(app.databaseUrl);
        return (await pusherSlotState())?.wal_status === 'lost';
      },
      60_000,
    );
  } finally {
    await query(adminUrl(), 'ALTER SYSTEM RESET max_slot_wal_keep_size');
    await query(adminUrl(), 'SELECT pg_reload_conf()');
  }

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
  const orderings = firsts.map((id) => BigInt(webhook.bodies.get(id)?.stream_ordering as string));
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
