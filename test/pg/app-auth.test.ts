/**
 * Authentication and authorisation of the reference application, end to end on the real `slotstream writer`
 * and `slotstream reader` processes: every endpoint but /register, /wait, /health and /metrics needs a bearer
 * token (401 without one, or with an unknown one); a user acts only as themselves (403 for a body, query or
 * path naming someone else) and only in rooms they have joined; the readers' internal to-device deletion is
 * only for the token's user; a logout counts at once on the writer, and on a reader once that reader has
 * applied its position (the token cache is kept fresh by the stream); closed registration needs the
 * registration token; and sockets that send their headers too slowly are closed.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import {
  Accounts,
  AppDeployment,
  type AppProcess,
  call,
  enc,
  type Json,
  ok,
  qs,
  WriterClient,
} from '../support/app-processes.ts';
import { query } from '../support/pg.ts';
import { waitFor } from '../support/replication.ts';

/** Short, so the slow-header test need not wait long; a request's headers arrive at once anyway. */
const HEADERS_TIMEOUT_MS = 1_000;
const REGISTRATION_TOKEN = 'registration-token-of-app-auth';

const app = await AppDeployment.create('app_auth');
const writerProc = await app.writer('writer', { headersTimeoutMs: HEADERS_TIMEOUT_MS });
const writer = new WriterClient(() => writerProc.url);
const reader = await app.reader(app.slot('auth_r1'), {
  writerUrl: writerProc.url,
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
});

const ROOM = '!auth:test';
const [alice, bob, mallory] = ['@alice:test', '@bob:test', '@mallory:test'];
await writer.join(ROOM, alice);
await writer.join(ROOM, bob);
const hello = await writer.send(ROOM, alice, { body: 'members only' });
await wait(reader, hello.position);
await writer.token(mallory); // registered, in no room

/** `reader` has applied writer position `position`. */
async function wait(on: AppProcess, position: string): Promise<void> {
  await ok(on.url, 'GET', `/wait?${qs({ position, timeout: 20_000 })}`);
}

async function head(): Promise<string> {
  const [row] = await query<{ position: string }>(app.databaseUrl, 'SELECT position::text FROM stream_head');
  return row?.position as string;
}

/** The answer must be `status` with error `code`. */
function refused(answer: { status: number; body: Json }, status: number, code: string, what: string): void {
  assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.error, code, `${what}: ${JSON.stringify(answer.body)}`);
}

/** Every endpoint that needs a token, with a body where it takes one. */
const guarded: { on: () => string; method: string; route: string; body?: Json }[] = [
  { on: () => writerProc.url, method: 'POST', route: '/logout' },
  { on: () => writerProc.url, method: 'POST', route: `/rooms/${enc(ROOM)}/join`, body: { user_id: alice } },
  { on: () => writerProc.url, method: 'POST', route: `/rooms/${enc(ROOM)}/leave`, body: { user_id: alice } },
  {
    on: () => writerProc.url,
    method: 'POST',
    route: `/rooms/${enc(ROOM)}/send`,
    body: { sender: alice, type: 'm.room.message', content: {} },
  },
  {
    on: () => writerProc.url,
    method: 'PUT',
    route: `/rooms/${enc(ROOM)}/send/m.room.message/txn1`,
    body: { sender: alice, content: {} },
  },
  {
    on: () => writerProc.url,
    method: 'POST',
    route: `/rooms/${enc(ROOM)}/receipt`,
    body: { user_id: alice, event_id: hello.event_id },
  },
  {
    on: () => writerProc.url,
    method: 'PUT',
    route: `/rooms/${enc(ROOM)}/typing/${enc(alice)}`,
    body: { typing: true },
  },
  { on: () => writerProc.url, method: 'PUT', route: `/users/${enc(alice)}/account_data/m.t`, body: { a: 1 } },
  {
    on: () => writerProc.url,
    method: 'POST',
    route: `/users/${enc(alice)}/to_device`,
    body: { device_id: 'D', type: 'm.t', content: {} },
  },
  {
    on: () => writerProc.url,
    method: 'POST',
    route: '/_slotstream/to_device/delete',
    body: { user_id: alice, upto: '1000' },
  },
  { on: () => reader.url, method: 'GET', route: `/sync?${qs({ user_id: alice })}` },
  { on: () => reader.url, method: 'GET', route: `/rooms/${enc(ROOM)}/messages` },
  { on: () => reader.url, method: 'GET', route: `/events/${enc(hello.event_id)}` },
  { on: () => reader.url, method: 'GET', route: `/users/${enc(alice)}/rooms` },
  { on: () => reader.url, method: 'GET', route: `/users/${enc(alice)}/account_data/m.t` },
];

test('without a token, every endpoint but /register, /wait, /health and /metrics is 401 M_MISSING_TOKEN', async () => {
  const before = await head();
  for (const { on, method, route, body } of guarded) {
    const answer = await call(on(), method, route, body);
    refused(answer, 401, 'M_MISSING_TOKEN', `${method} ${route}`);
    // Another scheme is no bearer token either.
    const res = await fetch(new URL(route, on()), {
      method,
      headers: { authorization: 'Basic YWxpY2U6c2VjcmV0', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.equal(res.status, 401, `${method} ${route} with Basic`);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await res.json()) as Json).error, 'M_MISSING_TOKEN');
  }
  assert.equal(await head(), before, 'nothing was written');
  // The public endpoints answer anyone.
  await ok(writerProc.url, 'GET', '/health');
  await ok(reader.url, 'GET', '/health');
  await ok(reader.url, 'GET', `/wait?${qs({ position: '1', timeout: 1_000 })}`);
  for (const url of [writerProc.url, reader.url])
    assert.equal((await fetch(new URL('/metrics', url))).status, 200);
});

test('an unknown token is 401 M_UNKNOWN_TOKEN everywhere', async () => {
  const before = await head();
  // One of the right form that was never issued, and one of no form at all.
  for (const token of ['A'.repeat(43), 'not-a-token']) {
    for (const { on, method, route, body } of guarded) {
      const answer = await call(on(), method, route, body, token);
      refused(answer, 401, 'M_UNKNOWN_TOKEN', `${method} ${route} with ${token}`);
    }
  }
  assert.equal(await head(), before, 'nothing was written');
});

test("a sender, user_id or path naming someone else is 403 M_FORBIDDEN; left out, it is the token's user", async () => {
  const asAlice = await writer.token(alice);
  const before = await head();
  const cases: [string, string, string, Json | undefined][] = [
    [
      'POST',
      writerProc.url,
      `/rooms/${enc(ROOM)}/send`,
      { sender: bob, type: 'm.room.message', content: {} },
    ],
    ['PUT', writerProc.url, `/rooms/${enc(ROOM)}/send/m.room.message/t1`, { sender: bob, content: {} }],
    ['POST', writerProc.url, `/rooms/${enc(ROOM)}/join`, { user_id: bob }],
    ['POST', writerProc.url, `/rooms/${enc(ROOM)}/leave`, { user_id: bob }],
    ['POST', writerProc.url, `/rooms/${enc(ROOM)}/receipt`, { user_id: bob, event_id: hello.event_id }],
    ['GET', reader.url, `/sync?${qs({ user_id: bob })}`, undefined],
  ];
  for (const [method, base, route, body] of cases)
    refused(await call(base, method, route, body, asAlice), 403, 'M_FORBIDDEN', `${method} ${route}`);
  assert.equal(await head(), before, 'nothing was written');

  const sent = await ok(
    writerProc.url,
    'POST',
    `/rooms/${enc(ROOM)}/send`,
    { type: 'm.room.message', content: { body: 'no sender given' } },
    asAlice,
  );
  await wait(reader, sent.position as string);
  const event = await ok(reader.url, 'GET', `/events/${enc(sent.event_id as string)}`, undefined, asAlice);
  assert.equal(event.sender, alice);
  const synced = (await ok(reader.url, 'GET', '/sync', undefined, asAlice)) as { rooms: { join: Json } };
  assert.ok(ROOM in synced.rooms.join, "/sync without user_id is the caller's");
});

test('only members send, receipt, type, leave and read a room; anyone may join', async () => {
  const asMallory = await writer.token(mallory);
  const before = await head();
  const writes: [string, string, Json][] = [
    ['POST', `/rooms/${enc(ROOM)}/send`, { type: 'm.room.message', content: { body: 'spam' } }],
    ['PUT', `/rooms/${enc(ROOM)}/send/m.room.message/m1`, { content: { body: 'spam' } }],
    ['POST', `/rooms/${enc(ROOM)}/receipt`, { event_id: hello.event_id }],
    ['PUT', `/rooms/${enc(ROOM)}/typing/${enc(mallory)}`, { typing: true }],
    ['POST', `/rooms/${enc(ROOM)}/leave`, {}],
  ];
  for (const [method, route, body] of writes)
    refused(await call(writerProc.url, method, route, body, asMallory), 403, 'M_FORBIDDEN', route);
  assert.equal(await head(), before, 'nothing was written');
  const reads = [`/rooms/${enc(ROOM)}/messages`, `/events/${enc(hello.event_id)}`];
  for (const route of reads)
    refused(await call(reader.url, 'GET', route, undefined, asMallory), 403, 'M_FORBIDDEN', route);

  // Joined, she may: the reader knows once it has applied her join.
  const joined = await writer.join(ROOM, mallory);
  await wait(reader, joined.position);
  for (const route of reads) await ok(reader.url, 'GET', route, undefined, asMallory);
  await writer.send(ROOM, mallory, { body: 'hello, I am in' });
  const left = await writer.leave(ROOM, mallory);
  await wait(reader, left.position);
  for (const route of reads)
    refused(
      await call(reader.url, 'GET', route, undefined, asMallory),
      403,
      'M_FORBIDDEN',
      `${route} after leaving`,
    );
});

test("another user's account data, to-device inbox, typing and room list are 403 M_FORBIDDEN", async () => {
  const asAlice = await writer.token(alice);
  const before = await head();
  const cases: [string, string, string, Json | undefined][] = [
    ['PUT', writerProc.url, `/users/${enc(bob)}/account_data/m.t`, { stolen: true }],
    ['POST', writerProc.url, `/users/${enc(bob)}/to_device`, { device_id: 'D', type: 'm.t', content: {} }],
    ['PUT', writerProc.url, `/rooms/${enc(ROOM)}/typing/${enc(bob)}`, { typing: true }],
    ['GET', reader.url, `/users/${enc(bob)}/account_data/m.t`, undefined],
    ['GET', reader.url, `/users/${enc(bob)}/rooms`, undefined],
  ];
  for (const [method, base, route, body] of cases)
    refused(await call(base, method, route, body, asAlice), 403, 'M_FORBIDDEN', `${method} ${route}`);
  assert.equal(await head(), before, 'nothing was written');
});

test("to_device/delete for another user is 403, and that user's undelivered messages stay", async () => {
  const inbox = async () =>
    (await query(app.databaseUrl, 'SELECT stream_id FROM device_inbox WHERE user_id = $1', [bob])).length;
  let last = '0';
  for (let n = 0; n < 3; n++) last = (await writer.toDevice(bob, 'PHONE', 'm.key', { n })).position;
  assert.equal(await inbox(), 3);
  const route = '/_slotstream/to_device/delete';
  const answer = await call(
    writerProc.url,
    'POST',
    route,
    { user_id: bob, upto: last },
    await writer.token(alice),
  );
  refused(answer, 403, 'M_FORBIDDEN', 'alice deleting bob’s messages');
  refused(
    await call(writerProc.url, 'POST', route, { user_id: bob, upto: last }),
    401,
    'M_MISSING_TOKEN',
    route,
  );
  assert.equal(await inbox(), 3, "bob's undelivered messages are all there");
  // Bob's own syncs prove their delivery: the reader asks the writer, with bob's token, to delete them.
  const asBob = await writer.token(bob);
  await wait(reader, last);
  const first = await ok(reader.url, 'GET', '/sync', undefined, asBob);
  assert.equal((first.to_device as Json[]).length, 3);
  await ok(reader.url, 'GET', `/sync?${qs({ since: first.next_batch as string })}`, undefined, asBob);
  await waitFor('the reader to have the delivered messages deleted', async () => (await inbox()) === 0);
});

test('logout: the token is refused at once by the writer, and by a reader once it has applied the position', async () => {
  const carol = '@carol:test';
  const registered = await writer.accounts.register(carol);
  const token = registered.access_token;
  // Once the reader has applied the registration (which would make a token cached before it stale), it
  // keeps the token cached: asking again costs no query.
  await wait(reader, registered.position);
  const rooms = `/users/${enc(carol)}/rooms`;
  await ok(reader.url, 'GET', rooms, undefined, token);
  const queries = async () => {
    const text = await (await fetch(new URL('/metrics', reader.url))).text();
    const line = /^slotstream_db_queries_total\{[^}]*route="\/users\/:userId\/rooms"[^}]*\} (\d+)$/m.exec(
      text,
    );
    return Number(line?.[1]);
  };
  const cached = await queries();
  await ok(reader.url, 'GET', rooms, undefined, token);
  assert.equal(await queries(), cached, 'token and room list from the caches');

  const { position } = await writer.logout(carol);
  refused(
    await call(writerProc.url, 'POST', '/logout', undefined, token),
    401,
    'M_UNKNOWN_TOKEN',
    'logout again',
  );
  refused(
    await call(writerProc.url, 'POST', `/rooms/${enc(ROOM)}/join`, {}, token),
    401,
    'M_UNKNOWN_TOKEN',
    'the writer after logout',
  );
  await wait(reader, position);
  refused(
    await call(reader.url, 'GET', rooms, undefined, token),
    401,
    'M_UNKNOWN_TOKEN',
    'the reader after /wait',
  );
  refused(
    await call(reader.url, 'GET', '/sync', undefined, token),
    401,
    'M_UNKNOWN_TOKEN',
    '/sync after /wait',
  );
  // The user id stays taken.
  const again = await call(writerProc.url, 'POST', '/register', { user_id: carol });
  refused(again, 409, 'M_USER_IN_USE', 'registering a logged-out user');
});

test('register: a token of 43 base64url characters, stored hashed; a taken id is 409, a bad one 400', async () => {
  const dave = '@dave:test';
  const registered = await new Accounts(() => writerProc.url).register(dave);
  assert.equal(registered.user_id, dave);
  assert.match(registered.access_token, /^[A-Za-z0-9_-]{43}$/);
  const rows = await query(app.databaseUrl, 'SELECT token_hash FROM access_tokens WHERE user_id = $1', [
    dave,
  ]);
  assert.equal(rows.length, 1);
  assert.notEqual(rows[0]?.token_hash, registered.access_token);
  assert.match(String(rows[0]?.token_hash), /^[0-9a-f]{64}$/);
  refused(await call(writerProc.url, 'POST', '/register', { user_id: dave }), 409, 'M_USER_IN_USE', 'again');
  refused(await call(writerProc.url, 'POST', '/register', { user_id: 'Dave' }), 400, 'M_BAD_JSON', 'bad id');
  refused(await call(writerProc.url, 'POST', '/register', {}), 400, 'M_BAD_JSON', 'no id');
});

test('closed registration: without the registration token 401, with another 403, with it the user is registered', async () => {
  const closed = await app.writer('closed_writer', { registrationToken: REGISTRATION_TOKEN });
  const route = '/register';
  const erin = { user_id: '@erin:test' };
  refused(await call(closed.url, 'POST', route, erin), 401, 'M_MISSING_TOKEN', 'no token');
  refused(
    await call(closed.url, 'POST', route, erin, await writer.token(alice)),
    403,
    'M_FORBIDDEN',
    'a user token',
  );
  refused(
    await call(closed.url, 'POST', route, erin, `${REGISTRATION_TOKEN}x`),
    403,
    'M_FORBIDDEN',
    'a wrong one',
  );
  const registered = await ok(closed.url, 'POST', route, erin, REGISTRATION_TOKEN);
  // A token like any other, on any process of the deployment.
  const token = registered.access_token as string;
  const joined = await ok(writerProc.url, 'POST', `/rooms/${enc(ROOM)}/join`, {}, token);
  await wait(reader, joined.position as string);
  await ok(reader.url, 'GET', `/rooms/${enc(ROOM)}/messages`, undefined, token);
  await closed.stop();
});

/**
 * Sockets that send a request line and then a header byte now and then, never finishing their headers. Resolves
 * with what each received before the server closed it.
 */
function dribble(url: string, sockets: number): Promise<string[]> {
  const { hostname, port } = new URL(url);
  return Promise.all(
    Array.from(
      { length: sockets },
      () =>
        new Promise<string>((resolve) => {
          let received = '';
          const socket = connect(Number(port), hostname, () =>
            socket.write('GET /health HTTP/1.1\r\nX-Slow: '),
          );
          const timer = setInterval(() => socket.write('x'), 100);
          socket.on('data', (chunk: Buffer) => {
            received += chunk.toString();
          });
          socket.on('error', () => {}); // a reset after the 408: closed either way
          socket.on('close', () => {
            clearInterval(timer);
            resolve(received);
          });
        }),
    ),
  );
}

test('sockets that send their headers too slowly are answered 408 and closed, on the writer and a reader', {
  timeout: 60_000,
}, async () => {
  for (const proc of [writerProc, reader]) {
    const answers = await dribble(proc.url, 10);
    for (const answer of answers) assert.match(answer, /^HTTP\/1\.1 408 /, `${proc.name}: ${answer}`);
    await ok(proc.url, 'GET', '/health'); // and it serves on
  }
});
