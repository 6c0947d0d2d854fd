/**
 * The reference application's writer process against real PostgreSQL: every endpoint of docs/http-api.md's writer
 * table writes what it says at increasing positions a reader can wait for; typing stops by itself when its
 * timeout runs out; every kind of bad input gets 400 `{error, message}` and leaves the database as it was
 * (bad input changes nothing); and the real `slotstream writer` command serves and stops cleanly.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createLogger } from '../../app/http/index.ts';
import type { TypingRow } from '../../app/streams.ts';
import { startWriterApp } from '../../app/writer/index.ts';
import type { StreamUpdate } from '../../src/streams/define.ts';
import { Accounts, metric } from '../support/app-processes.ts';
import { stopBeforeDrop } from '../support/cleanup.ts';
import { RunningCli } from '../support/cli.ts';
import { query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';
import { migratedDatabase, startReader } from '../support/runtime.ts';

const url = await migratedDatabase('app_writer');
const app = await startWriterApp({
  connectionString: url,
  port: 0,
  logger: createLogger('writer', { level: 'silent' }),
});
after(stopBeforeDrop(() => app.close()));
/** The users of these tests, registered on the writer the first time one acts. */
const accounts = new Accounts(() => app.url);

/** Every update the reader was handed, in order. */
const seen: StreamUpdate[] = [];
const { reader } = await startReader(url, 'app_writer', {
  onUpdate: (update) => void seen.push(update),
});

type Json = Record<string, unknown>;

interface Answer {
  status: number;
  body: Json;
  headers: Headers;
}

/**
 * A request as `user` (their access token; none for `/health` and `/metrics`), with a JSON body (an object),
 * or a raw one (a string or bytes, sent as they are).
 */
async function call(method: string, path: string, body?: unknown, user?: string): Promise<Answer> {
  const raw = typeof body === 'string' || body instanceof Uint8Array;
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (user !== undefined) headers.authorization = `Bearer ${await accounts.token(user)}`;
  const res = await fetch(new URL(path, app.url), {
    method,
    headers,
    body: body === undefined ? undefined : raw ? (body as string | Uint8Array) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json), headers: res.headers };
}

async function ok(method: string, path: string, body?: unknown, user?: string): Promise<Json> {
  const answer = await call(method, path, body, user);
  assert.equal(answer.status, 200, `${method} ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** `user` joins `room`. */
function join(room: string, user: string): Promise<Json> {
  return ok('POST', `/rooms/${enc(room)}/join`, { user_id: user }, user);
}

const enc = encodeURIComponent;

async function head(): Promise<bigint> {
  const [row] = await query<{ position: string }>(url, 'SELECT position FROM stream_head');
  return BigInt(row?.position ?? -1);
}

/** A decimal position string, as the API returns them. */
function position(value: unknown): bigint {
  assert.equal(typeof value, 'string', `a position is a decimal string, got ${JSON.stringify(value)}`);
  assert.match(value as string, /^[0-9]+$/);
  return BigInt(value as string);
}

const EVENT_ID = /^\$[A-Za-z0-9_-]{24}$/;

test('join, send, receipt, leave: events and receipts at increasing positions, read back by a reader', async () => {
  const room = '!happy:test';
  await join(room, '@bob:test');
  const before = await head();
  const t0 = Date.now();

  const joined = await ok('POST', `/rooms/${enc(room)}/join`, { user_id: '@alice:test' }, '@alice:test');
  assert.deepEqual(Object.keys(joined).sort(), ['event_id', 'position']);
  assert.match(joined.event_id as string, EVENT_ID);
  const joinPos = position(joined.position);
  assert.ok(joinPos > before);

  const sent = await ok(
    'POST',
    `/rooms/${enc(room)}/send`,
    {
      sender: '@alice:test',
      type: 'm.room.message',
      content: { body: 'hello', nested: { list: [1, 'two', null, true] } },
    },
    '@alice:test',
  );
  assert.deepEqual(Object.keys(sent).sort(), ['event_id', 'position', 'stream_ordering']);
  assert.match(sent.event_id as string, EVENT_ID);
  const sendPos = position(sent.position);
  assert.equal(position(sent.stream_ordering), sendPos, 'one row in the transaction: its position');
  assert.ok(sendPos > joinPos);

  const receipt = await ok(
    'POST',
    `/rooms/${enc(room)}/receipt`,
    { user_id: '@bob:test', event_id: sent.event_id },
    '@bob:test',
  );
  assert.deepEqual(Object.keys(receipt), ['position']);
  const receiptPos = position(receipt.position);
  assert.ok(receiptPos > sendPos);

  // A second receipt of the same user in the room replaces the first, at a new position.
  const again = await ok(
    'POST',
    `/rooms/${enc(room)}/receipt`,
    { user_id: '@bob:test', event_id: joined.event_id },
    '@bob:test',
  );
  const againPos = position(again.position);
  assert.ok(againPos > receiptPos);

  const left = await ok('POST', `/rooms/${enc(room)}/leave`, { user_id: '@alice:test' }, '@alice:test');
  const leavePos = position(left.position);
  assert.ok(leavePos > againPos);
  assert.equal(await head(), leavePos, 'stream_head is the last position handed out');
  const t1 = Date.now();

  const events = await query(
    url,
    'SELECT event_id, room_id, type, state_key, sender, content, origin_server_ts::text AS ts, stream_ordering::text AS so FROM events WHERE room_id = $1 AND sender = $2 ORDER BY stream_ordering',
    [room, '@alice:test'],
  );
  assert.deepEqual(
    events.map((e) => [e.event_id, e.type, e.state_key, e.sender, e.content, e.so]),
    [
      [
        joined.event_id,
        'm.room.member',
        '@alice:test',
        '@alice:test',
        { membership: 'join' },
        String(joinPos),
      ],
      [
        sent.event_id,
        'm.room.message',
        null,
        '@alice:test',
        { body: 'hello', nested: { list: [1, 'two', null, true] } },
        String(sendPos),
      ],
      [
        left.event_id,
        'm.room.member',
        '@alice:test',
        '@alice:test',
        { membership: 'leave' },
        String(leavePos),
      ],
    ],
  );
  for (const e of events) assert.ok(Number(e.ts) >= t0 && Number(e.ts) <= t1, 'origin_server_ts is now');

  const receipts = await query(
    url,
    'SELECT room_id, user_id, receipt_type, event_id, stream_id::text AS stream_id, ts::text AS ts FROM receipts',
  );
  assert.equal(receipts.length, 1, 'the receipt was upserted, not added');
  assert.deepEqual(
    { ...receipts[0], ts: undefined },
    {
      room_id: room,
      user_id: '@bob:test',
      receipt_type: 'm.read',
      event_id: joined.event_id,
      stream_id: String(againPos),
      ts: undefined,
    },
  );
  assert.ok(Number(receipts[0]?.ts) >= t0 && Number(receipts[0]?.ts) <= t1);

  // The writer's positions are the readers' positions: waiting for one reads the write.
  await reader.waitForPosition(leavePos, 10_000);
  const applied = seen.filter(
    (u) =>
      u.stream === 'events' &&
      (u.row as Json | null)?.room_id === room &&
      (u.row as Json | null)?.sender === '@alice:test',
  );
  assert.deepEqual(
    applied.map((u) => [(u.row as Json | null)?.event_id, u.position]),
    [
      [joined.event_id, joinPos],
      [sent.event_id, sendPos],
      [left.event_id, leavePos],
    ],
  );
});

test('account data is upserted per (user, type); to-device messages are queued and deleted up to a position', async () => {
  const user = '@carol:test';
  const path = `/users/${enc(user)}/account_data/${enc('m.push_rules')}`;
  await accounts.token(user);
  await accounts.token('@dave:test');
  const first = position((await ok('PUT', path, { rules: ['a'] }, user)).position);
  const second = position((await ok('PUT', path, { rules: ['a', 'b'], on: true }, user)).position);
  assert.ok(second > first);
  const data = await query(url, 'SELECT user_id, type, content, stream_id::text AS s FROM account_data');
  assert.deepEqual(data, [
    { user_id: user, type: 'm.push_rules', content: { rules: ['a', 'b'], on: true }, s: String(second) },
  ]);

  const inbox = `/users/${enc(user)}/to_device`;
  const m1 = position(
    (await ok('POST', inbox, { device_id: 'PHONE', type: 'm.key.request', content: { n: 1 } }, user))
      .position,
  );
  const m2 = position(
    (await ok('POST', inbox, { device_id: 'LAPTOP', type: 'm.key.request', content: { n: 2 } }, user))
      .position,
  );
  const dave = '@dave:test';
  await ok('POST', `/users/${enc(dave)}/to_device`, { device_id: 'D', type: 'x', content: {} }, dave);
  assert.ok(m2 > m1 && m1 > second);
  const rows = await query(
    url,
    'SELECT stream_id::text AS s, device_id, sender, type, content FROM device_inbox WHERE user_id = $1 ORDER BY stream_id',
    [user],
  );
  assert.deepEqual(rows, [
    { s: String(m1), device_id: 'PHONE', sender: null, type: 'm.key.request', content: { n: 1 } },
    { s: String(m2), device_id: 'LAPTOP', sender: null, type: 'm.key.request', content: { n: 2 } },
  ]);

  const remove = (upto: bigint) =>
    ok('POST', '/_slotstream/to_device/delete', { user_id: user, upto: String(upto) }, user);
  const del1 = await remove(m1);
  assert.equal(del1.deleted, 1);
  const del1Pos = position(del1.position);
  assert.ok(del1Pos > m2, 'a delete is a write of its own, with a position');
  const del2 = await remove(del1Pos);
  assert.equal(del2.deleted, 1);
  const del3 = await remove(del1Pos);
  assert.equal(del3.deleted, 0);
  assert.equal(
    position(del3.position),
    position(del2.position),
    'nothing left to delete: no writer transaction, no new position',
  );
  const left = await query(url, 'SELECT user_id FROM device_inbox');
  assert.deepEqual(left, [{ user_id: '@dave:test' }], "another user's messages stay");
  assert.equal(await head(), position(del3.position));

  await reader.waitForPosition(position(del2.position), 10_000);
  const deletes = seen.filter((u) => u.stream === 'to_device' && u.op === 'delete');
  assert.deepEqual(
    deletes.map((u) => u.old?.stream_id),
    [m1, m2],
    'readers see the deletes',
  );
});

test('concurrent writes: distinct row positions, batched transactions share theirs, stream_head is the highest', async () => {
  await join('!busy:test', '@e:test');
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      ok(
        'POST',
        `/rooms/${enc('!busy:test')}/send`,
        { sender: '@e:test', type: 'm.room.message', content: { i } },
        '@e:test',
      ),
    ),
  );
  const orderings = answers.map((a) => position(a.stream_ordering));
  assert.equal(new Set(orderings).size, 30, 'every event has a position of its own');
  const positions = answers.map((a) => position(a.position));
  for (const [i, p] of positions.entries())
    assert.ok(p >= (orderings[i] as bigint), "a transaction's position is at or after its rows'");
  let max = 0n;
  for (const p of positions) if (p > max) max = p;
  assert.equal(await head(), max);
  const [count] = await query<{ n: string }>(
    url,
    "SELECT count(*) AS n FROM events WHERE room_id = '!busy:test' AND type = 'm.room.message'",
  );
  assert.equal(count?.n, '30');
});

test('health reports the stream head; metrics carry the writer label and per-endpoint counts', async () => {
  const health = await ok('GET', '/health');
  assert.equal(health.status, 'ok');
  assert.equal(position(health.position), await head());

  const res = await fetch(new URL('/metrics', app.url));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  assert.match(
    text,
    /slotstream_writer_requests_total\{[^}]*endpoint="send"[^}]*status="200"[^}]*process="writer"[^}]*\} 3\d/,
  );
  assert.match(text, /slotstream_writer_write_seconds_count\{[^}]*endpoint="join"[^}]*\} [1-9]/);
  assert.match(text, /process_cpu_user_seconds_total\{process="writer"\}/);
});

function typingOf(userId: string): TypingRow[] {
  return seen.flatMap((update) =>
    update.stream === 'typing' && (update.row as TypingRow).user_id === userId
      ? [update.row as TypingRow]
      : [],
  );
}

/** The writer's metric `name` (its /metrics): what it counts and what it has left to do, without timing it. */
const writerMetric = (name: string) => metric(app.url, name);

/**
 * Everything the writer emitted before now has reached the reader: a write made now (`user` joins `room`),
 * waited for on the reader, comes after it in the WAL. Then what the reader has not seen was not emitted.
 */
async function readerHasAllUpToNow(room: string, user: string): Promise<void> {
  const joined = await join(room, user);
  await reader.waitForPosition(position(joined.position), 10_000);
}

test('typing: emitted at once, and stopped by the writer when its timeout runs out', async () => {
  const room = '!typing:test';
  const user = '@typer:test';
  await join(room, user);
  const expired = await writerMetric('slotstream_writer_typing_expired_total');
  const started = Date.now();
  assert.deepEqual(
    await ok('PUT', `/rooms/${enc(room)}/typing/${enc(user)}`, { typing: true, timeout_ms: 300 }, user),
    {},
  );
  const rows = await waitFor(
    'typing to start and stop',
    async () => typingOf(user).length >= 2 && typingOf(user),
    10_000,
  );
  const [start, stop] = rows as [TypingRow, TypingRow];
  assert.deepEqual(
    { ...start, ts: 0 },
    { room_id: room, user_id: user, typing: true, timeout_ms: 300, ts: 0 },
  );
  assert.ok(start.ts >= started);
  assert.deepEqual({ ...stop, ts: 0 }, { room_id: room, user_id: user, typing: false, timeout_ms: 0, ts: 0 });
  // A lower bound only, on the writer's own clock (load can only make it later): not before the timeout.
  assert.ok(stop.ts - start.ts >= 290, `stopped ${stop.ts - start.ts} ms after it started`);
  // Stopped once: that expiry counted, no timer left that could stop it again, nothing more emitted for it.
  await waitFor(
    'the expiry to be counted',
    async () => (await writerMetric('slotstream_writer_typing_expired_total')) === expired + 1,
    10_000,
  );
  assert.equal(await writerMetric('slotstream_writer_typing_active'), 0, 'no typing timer left');
  await readerHasAllUpToNow(room, '@typer-after:test');
  assert.equal(typingOf(user).length, 2, 'stopped once');
});

test('typing: a renewal replaces the timer, typing:false clears it, timeout_ms defaults to 30 s', async () => {
  const room = '!typing2:test';
  const renewer = '@renewer:test';
  const path = (u: string) => `/rooms/${enc(room)}/typing/${enc(u)}`;
  const [stopper, defaulted] = ['@stopper:test', '@default:test'];
  for (const user of [renewer, stopper, defaulted]) await join(room, user);
  // The first timeout outlasts the test: only the renewal's, replacing it, can stop the typing.
  await ok('PUT', path(renewer), { typing: true, timeout_ms: 120_000 }, renewer);
  await ok('PUT', path(renewer), { typing: true, timeout_ms: 300 }, renewer);
  const rows = await waitFor(
    'the renewed typing to stop',
    async () => typingOf(renewer).length >= 3 && typingOf(renewer),
    10_000,
  );
  assert.deepEqual(
    rows.map((r) => [r.typing, r.timeout_ms]),
    [
      [true, 120_000],
      [true, 300],
      [false, 0],
    ],
  );
  // A lower bound only, on the writer's clock: the renewal's timeout ran out, not less.
  const renewedFor = (rows[2]?.ts ?? 0) - (rows[1]?.ts ?? 0);
  assert.ok(renewedFor >= 290, `stopped ${renewedFor} ms after the renewal, before its 300 ms timeout`);
  assert.equal(
    await writerMetric('slotstream_writer_typing_active'),
    0,
    "the first PUT's timer went with it",
  );

  await ok('PUT', path(stopper), { typing: true, timeout_ms: 300 }, stopper);
  await ok('PUT', path(stopper), { typing: false }, stopper);
  await ok('PUT', path(defaulted), { typing: true }, defaulted);
  // typing:false cleared the stopper's timer: the default one's is the only one left, and nothing after the
  // stop was emitted for the stopper by the time a later write reaches the reader.
  assert.equal(await writerMetric('slotstream_writer_typing_active'), 1, "only the defaulted user's timer");
  await readerHasAllUpToNow(room, '@typing2-after:test');
  assert.deepEqual(
    typingOf(stopper).map((r) => [r.typing, r.timeout_ms]),
    [
      [true, 300],
      [false, 0],
    ],
    'typing:false stopped it and cleared the timer: no second stop',
  );
  assert.deepEqual(
    typingOf(defaulted).map((r) => [r.typing, r.timeout_ms]),
    [[true, 30_000]],
  );
  await ok('PUT', path(defaulted), { typing: false, timeout_ms: 5 }, defaulted);
});

interface BadCase {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  status?: number;
  error: string;
  /** Whose access token the request bears: @a:test's unless said. */
  as?: string;
}

const bigBody = JSON.stringify({ sender: '@a:test', type: 't', content: { pad: 'x'.repeat(70_000) } });
const deep = JSON.parse(`${'{"a":'.repeat(100)}1${'}'.repeat(100)}`);

const R = enc('!bad:test');
/** An event of another room, made by the bad-input test before it runs its cases. */
let otherRoomEvent = '';
const U = enc('@badtyper:test');
const badCases: BadCase[] = [
  {
    name: 'join: bad room id',
    method: 'POST',
    path: '/rooms/nope/join',
    body: { user_id: '@a:test' },
    error: 'M_INVALID_PARAM',
  },
  {
    name: 'join: room id with an encoded slash',
    method: 'POST',
    path: '/rooms/!a%2Fb:test/join',
    body: { user_id: '@a:test' },
    error: 'M_INVALID_PARAM',
  },
  {
    name: 'join: bad percent-encoding',
    method: 'POST',
    path: '/rooms/!a%FF:test/join',
    body: { user_id: '@a:test' },
    error: 'M_INVALID_PARAM',
  },
  {
    name: 'join: bad user id',
    method: 'POST',
    path: `/rooms/${R}/join`,
    body: { user_id: 'alice' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'join: upper-case user id',
    method: 'POST',
    path: `/rooms/${R}/join`,
    body: { user_id: '@Alice:test' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'join: user id over 255 bytes',
    method: 'POST',
    path: `/rooms/${R}/join`,
    body: { user_id: `@${'a'.repeat(260)}:test` },
    error: 'M_BAD_JSON',
  },
  {
    name: 'join: user_id null',
    method: 'POST',
    path: `/rooms/${R}/join`,
    body: { user_id: null },
    error: 'M_BAD_JSON',
  },
  {
    name: 'leave: user_id a number',
    method: 'POST',
    path: `/rooms/${R}/leave`,
    body: { user_id: 7 },
    error: 'M_BAD_JSON',
  },
  { name: 'join: body an array', method: 'POST', path: `/rooms/${R}/join`, body: [], error: 'M_BAD_JSON' },
  {
    name: 'join: body not JSON',
    method: 'POST',
    path: `/rooms/${R}/join`,
    body: '{user_id:',
    error: 'M_NOT_JSON',
  },
  { name: 'join: empty body', method: 'POST', path: `/rooms/${R}/join`, body: '', error: 'M_NOT_JSON' },
  {
    name: 'send: missing content',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 't' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: content a string',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 't', content: 'hi' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: content an array',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 't', content: [1] },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: content null',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 't', content: null },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: sender null',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: null, type: 't', content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: bad sender',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a', type: 't', content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: empty type',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: '', content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: type a number',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 1, content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: type over 255 bytes',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 'é'.repeat(128), content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: m.room.member refused',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 'm.room.member', content: { membership: 'join' } },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: NUL inside content',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 't', content: { a: ['x\u0000y'] } },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: NUL in a content key',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 't', content: { 'k\u0000': 1 } },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: lone surrogate in content',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: '{"sender":"@a:test","type":"t","content":{"a":"\\ud800"}}',
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: number beyond a double',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: '{"sender":"@a:test","type":"t","content":{"a":1e400}}',
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: content nested 100 deep',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: { sender: '@a:test', type: 't', content: deep },
    error: 'M_BAD_JSON',
  },
  {
    name: 'send: body over 64 KiB',
    method: 'POST',
    path: `/rooms/${R}/send`,
    body: bigBody,
    error: 'M_TOO_LARGE',
  },
  {
    name: 'receipt: unknown event',
    method: 'POST',
    path: `/rooms/${R}/receipt`,
    body: { user_id: '@a:test', event_id: '$nosuchevent' },
    error: 'M_NOT_FOUND',
  },
  {
    name: "receipt: another room's event",
    method: 'POST',
    path: `/rooms/${R}/receipt`,
    body: () => ({ user_id: '@a:test', event_id: otherRoomEvent }),
    error: 'M_NOT_FOUND',
  },
  {
    name: 'receipt: bad event id',
    method: 'POST',
    path: `/rooms/${R}/receipt`,
    body: { user_id: '@a:test', event_id: 'nodollar' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'receipt: user_id a number',
    method: 'POST',
    path: `/rooms/${R}/receipt`,
    body: { user_id: 1, event_id: '$x' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: typing missing',
    method: 'PUT',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { timeout_ms: 100 },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: typing a string',
    method: 'PUT',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: 'true' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: timeout_ms 0',
    method: 'PUT',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: true, timeout_ms: 0 },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: timeout_ms over 120000',
    method: 'PUT',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: true, timeout_ms: 120_001 },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: timeout_ms not an integer',
    method: 'PUT',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: true, timeout_ms: 1.5 },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: timeout_ms a string',
    method: 'PUT',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: true, timeout_ms: '300' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: bad timeout_ms with typing false',
    method: 'PUT',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: false, timeout_ms: -1 },
    error: 'M_BAD_JSON',
  },
  {
    name: 'typing: bad user id in the path',
    method: 'PUT',
    path: `/rooms/${R}/typing/badtyper`,
    as: '@badtyper:test',
    body: { typing: true },
    error: 'M_INVALID_PARAM',
  },
  {
    name: 'typing: bad room id in the path',
    method: 'PUT',
    path: `/rooms/bad/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: true },
    error: 'M_INVALID_PARAM',
  },
  {
    name: 'account data: body an array',
    method: 'PUT',
    path: `/users/${enc('@a:test')}/account_data/t`,
    body: [1],
    error: 'M_BAD_JSON',
  },
  {
    name: 'account data: body a string',
    method: 'PUT',
    path: `/users/${enc('@a:test')}/account_data/t`,
    body: '"x"',
    error: 'M_BAD_JSON',
  },
  {
    name: 'account data: control character in the type',
    method: 'PUT',
    path: `/users/${enc('@a:test')}/account_data/a%01b`,
    body: {},
    error: 'M_INVALID_PARAM',
  },
  {
    name: 'account data: bad user id',
    method: 'PUT',
    path: '/users/a/account_data/t',
    body: {},
    error: 'M_INVALID_PARAM',
  },
  {
    name: 'to-device: missing device_id',
    method: 'POST',
    path: `/users/${enc('@a:test')}/to_device`,
    body: { type: 't', content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device: device_id a number',
    method: 'POST',
    path: `/users/${enc('@a:test')}/to_device`,
    body: { device_id: 1, type: 't', content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device: device_id too long',
    method: 'POST',
    path: `/users/${enc('@a:test')}/to_device`,
    body: { device_id: 'D'.repeat(256), type: 't', content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device: missing type',
    method: 'POST',
    path: `/users/${enc('@a:test')}/to_device`,
    body: { device_id: 'D', content: {} },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device: content not an object',
    method: 'POST',
    path: `/users/${enc('@a:test')}/to_device`,
    body: { device_id: 'D', type: 't', content: 3 },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device delete: upto a number',
    method: 'POST',
    path: '/_slotstream/to_device/delete',
    body: { user_id: '@a:test', upto: 5 },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device delete: upto not digits',
    method: 'POST',
    path: '/_slotstream/to_device/delete',
    body: { user_id: '@a:test', upto: '-1' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device delete: upto beyond int8',
    method: 'POST',
    path: '/_slotstream/to_device/delete',
    body: { user_id: '@a:test', upto: '9223372036854775808' },
    error: 'M_BAD_JSON',
  },
  {
    name: 'to-device delete: user_id not a user id',
    method: 'POST',
    path: '/_slotstream/to_device/delete',
    body: { user_id: 'a', upto: '1' },
    error: 'M_BAD_JSON',
  },
  { name: 'unknown route', method: 'GET', path: '/nope', status: 404, error: 'M_NOT_FOUND' },
  {
    name: 'unknown room action',
    method: 'POST',
    path: `/rooms/${R}/kick`,
    body: { user_id: '@a:test' },
    status: 404,
    error: 'M_NOT_FOUND',
  },
  {
    name: 'wrong method on send',
    method: 'GET',
    path: `/rooms/${R}/send`,
    status: 405,
    error: 'M_UNRECOGNIZED',
  },
  {
    name: 'wrong method on typing',
    method: 'POST',
    path: `/rooms/${R}/typing/${U}`,
    as: '@badtyper:test',
    body: { typing: true },
    status: 405,
    error: 'M_UNRECOGNIZED',
  },
];

async function snapshot(): Promise<Record<string, string>> {
  const [row] = await query<Record<string, string>>(
    url,
    `SELECT (SELECT position::text FROM stream_head) AS head,
            (SELECT count(*)::text FROM events) AS events,
            (SELECT count(*)::text FROM receipts) AS receipts,
            (SELECT count(*)::text FROM account_data) AS account_data,
            (SELECT count(*)::text FROM device_inbox) AS device_inbox,
            (SELECT coalesce(max(stream_id), 0)::text FROM receipts) AS receipts_max`,
  );
  return row as Record<string, string>;
}

test('bad input: 400 with {error, message} (404, 405 for routes), and the database is unchanged', async () => {
  const a = '@a:test';
  await join('!other:test', a);
  const other = await ok(
    'POST',
    `/rooms/${enc('!other:test')}/send`,
    { sender: a, type: 't', content: {} },
    a,
  );
  otherRoomEvent = other.event_id as string;
  await join('!bad:test', a);
  await join('!bad:test', '@badtyper:test');
  const mine = await ok('POST', `/rooms/${R}/send`, { sender: a, type: 't', content: {} }, a);
  // A receipt to overwrite: a refused receipt that wrote anyway would move its stream_id.
  await ok('POST', `/rooms/${R}/receipt`, { user_id: a, event_id: mine.event_id }, a);
  const before = await snapshot();
  for (const c of badCases) {
    const body = typeof c.body === 'function' ? (c.body as () => unknown)() : c.body;
    const answer = await call(c.method, c.path, body, c.as ?? a);
    assert.equal(answer.status, c.status ?? 400, `${c.name}: ${JSON.stringify(answer.body)}`);
    assert.deepEqual(Object.keys(answer.body).sort(), ['error', 'message'], c.name);
    assert.equal(answer.body.error, c.error, `${c.name}: ${answer.body.message}`);
    assert.equal(typeof answer.body.message, 'string');
    assert.ok((answer.body.message as string).length > 0);
    if (answer.status === 405) assert.ok(answer.headers.get('allow'), `${c.name}: Allow header`);
  }
  assert.deepEqual(await snapshot(), before, 'nothing was written, no position was taken');

  // Nor was any typing emitted: a good one afterwards is the first the reader sees for that user.
  await ok('PUT', `/rooms/${R}/typing/${U}`, { typing: false }, '@badtyper:test');
  const rows = await waitFor(
    'the good typing notification',
    async () => typingOf('@badtyper:test').length > 0 && typingOf('@badtyper:test'),
    10_000,
  );
  assert.deepEqual(
    rows.map((r) => r.typing),
    [false],
  );
});

test('`slotstream writer` serves the API and stops cleanly on SIGTERM', async () => {
  const cli = new RunningCli(['writer', '--port', '0', '--database-url', url]);
  try {
    await cli.waitForStderr(/writer listening on http:\/\/127\.0\.0\.1:\d+\n/);
    const base = /writer listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.stderr)?.[1] as string;
    const token = await new Accounts(() => base).token('@cli:test');
    const res = await fetch(`${base}/rooms/${enc('!cli:test')}/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ user_id: '@cli:test' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    const [row] = await query(url, 'SELECT stream_ordering::text AS so FROM events WHERE event_id = $1', [
      body.event_id,
    ]);
    assert.equal(row?.so, body.position);
    const health = (await (await fetch(`${base}/health`)).json()) as Json;
    assert.equal(health.status, 'ok');
    assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr);
    assert.equal(cli.stderr.trim(), `writer listening on ${base}`, 'nothing else on stderr');
  } finally {
    await cli.stop('SIGKILL');
  }
});

test('a send with a transaction id, retried, returns the first event; at once too; another id is another event', async () => {
  const route = (txn: string) => `/rooms/${enc('!txn:test')}/send/m.room.message/${enc(txn)}`;
  const [t, u] = ['@t:test', '@u:test'];
  await join('!txn:test', t);
  await join('!txn:test', u);
  const body = { sender: t, content: { body: 'once' } };
  const first = await ok('PUT', route('t1'), body, t);
  const retry = await ok('PUT', route('t1'), body, t);
  assert.deepEqual(retry, first, 'the retry answers with the first event');
  const racing = await Promise.all(Array.from({ length: 6 }, () => ok('PUT', route('t2'), body, t)));
  assert.equal(new Set(racing.map((r) => r.event_id)).size, 1, 'six at once: one event');
  const other = await ok('PUT', route('t3'), body, t);
  assert.notEqual(other.event_id, first.event_id);
  const [count] = await query<{ n: string }>(
    url,
    "SELECT count(*) AS n FROM events WHERE room_id = '!txn:test' AND type = 'm.room.message'",
  );
  assert.equal(count?.n, '3');
  // Another sender's t1 is its own.
  const theirs = await ok('PUT', route('t1'), { ...body, sender: u }, u);
  assert.notEqual(theirs.event_id, first.event_id);
  const refused = await call('PUT', `/rooms/${enc('!txn:test')}/send/m.room.member/t9`, body, t);
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error, 'M_INVALID_PARAM');
});
