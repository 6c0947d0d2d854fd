/**
 * The pusher role end to end: a real `slotstream reader --push-url` process POSTs every new event to a
 * local webhook (node:http) that records what it accepted. Delivery is at least once: every event posted on
 * the real writer reaches the webhook, through a webhook outage (500s, retried with backoff) and through a
 * SIGKILL of the pusher in the middle of a delivery (restarted on the same slot, it pushes again whatever
 * the slot had not been acknowledged for). Duplicates are allowed and counted.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppDeployment, ok, WriterClient, within } from '../support/app-processes.ts';
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
  // Pushed in commit order (the slot's): stream orderings increase along what was accepted.
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
  const failedBefore = webhook.attempts.filter((a) => a.status === 500).length;
  const ids = await post(10, 'outage');
  await waitFor('the pusher to retry', async () => {
    const failed = webhook.attempts.filter((a) => a.status === 500).length - failedBefore;
    return failed >= 3;
  });
  await sleep(1_000);
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
    `outage: ${webhook.attempts.filter((a) => a.status === 500).length - failedBefore} failed attempts; all ${
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
