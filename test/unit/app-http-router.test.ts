/** app/http router and responses, through a real server on port 0: routes, 404/405, params, JSON out. */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, test } from 'node:test';
import { createLogger, HttpError, type HttpServer, Router, startHttpServer } from '../../app/http/index.ts';

let server: HttpServer;
interface Seen {
  params: Record<string, string>;
  query: Record<string, string[]>;
}
/** What the last handler saw: its decoded params and query. */
let seen: Seen | undefined;
/** `seen` read through a function, so that TypeScript does not narrow it after `seen = undefined`. */
const lastSeen = (): Seen | undefined => seen;

before(async () => {
  const remember: Parameters<Router['route']>[2] = ({ params, query }) => {
    const q: Record<string, string[]> = {};
    for (const key of new Set(query.keys())) q[key] = query.getAll(key);
    seen = { params, query: q };
    return { body: { ok: true } };
  };
  const router = new Router()
    .route('POST', '/rooms/:roomId/send', remember)
    .route('POST', '/rooms/:roomId/join', remember)
    .route('PUT', '/rooms/:roomId/typing/:userId', remember)
    .route('GET', '/users/:userId/rooms', remember)
    .route('PUT', '/users/:userId/rooms', remember)
    .route('GET', '/sync', remember)
    .route('GET', '/big', () => ({ body: { position: 2n ** 64n + 1n, list: [1n, -5n], nested: { n: 3 } } }))
    .route('POST', '/created', () => ({ status: 201, headers: { 'X-Thing': 'yes' }, body: {} }))
    .route('GET', '/empty', () => ({ status: 204, body: undefined }))
    .route('GET', '/text', () => ({ text: 'hello\n', contentType: 'text/plain; charset=utf-8' }))
    .route('GET', '/teapot', () => {
      throw new HttpError(418, 'M_TEAPOT', 'short and stout');
    })
    .route('GET', '/boom', () => {
      const err = new Error('insert into "events" values ($1) - a driver error with SQL in it');
      Object.assign(err, { password: 'hunter2' });
      throw err;
    })
    .route('GET', '/db-down', () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    })
    .route('GET', '/db-restarting', () => {
      throw Object.assign(new Error('the database system is starting up'), { code: '57P03' });
    })
    .route('GET', '/undefined-body', () => ({ body: undefined }))
    .route('GET', '/self', ({ res }) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('by hand');
      return undefined;
    });
  server = await startHttpServer({ port: 0, router, logger: createLogger('test', { level: 'silent' }) });
});

after(() => server.close());

async function call(method: string, path: string, body?: string) {
  seen = undefined;
  const res = await fetch(server.url + path, { method, body });
  const text = await res.text();
  const json = res.headers.get('content-type') === 'application/json' && text ? JSON.parse(text) : undefined;
  return { status: res.status, headers: res.headers, text, json };
}

test('a known route answers with JSON and the content type', async () => {
  const res = await call('POST', '/rooms/!abc:example.org/send', '{}');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.deepEqual(res.json, { ok: true });
  assert.deepEqual(lastSeen()?.params, { roomId: '!abc:example.org' });
});

test('an unknown path is 404 M_NOT_FOUND; so are a trailing slash, an extra segment and an empty parameter', async () => {
  for (const path of ['/nope', '/rooms/!a:b/send/', '/rooms/!a:b/send/x', '/rooms//send', '/', '/sync/']) {
    const res = await call('GET', path);
    assert.equal(res.status, 404, path);
    assert.equal(res.json.error, 'M_NOT_FOUND', path);
    assert.equal(typeof res.json.message, 'string');
    assert.deepEqual(Object.keys(res.json), ['error', 'message']);
  }
});

test('a known path with another method is 405 M_UNRECOGNIZED with Allow listing the methods', async () => {
  let res = await call('GET', '/rooms/!a:b/send');
  assert.equal(res.status, 405);
  assert.equal(res.json.error, 'M_UNRECOGNIZED');
  assert.equal(res.headers.get('allow'), 'POST');
  res = await call('DELETE', '/users/@u:x/rooms');
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, PUT');
  assert.match(res.json.message, /DELETE is not supported/);
});

test('path parameters are percent-decoded after matching, so %2F stays inside its parameter', async () => {
  const res = await call(
    'PUT',
    `/rooms/${encodeURIComponent('!r/x:s')}/typing/${encodeURIComponent('@a/b+c:s')}`,
    '{}',
  );
  assert.equal(res.status, 200);
  assert.deepEqual(lastSeen()?.params, { roomId: '!r/x:s', userId: '@a/b+c:s' });
  // Literal segments are not decoded: an encoded "send" is not "send".
  assert.equal((await call('POST', '/rooms/!a:b/s%65nd', '{}')).status, 404);
  // %2e%2e is an ordinary parameter value, not a "..": the server resolves no dot segments. (Sent with
  // node:http, because fetch's URL parser would resolve it on the client side.)
  seen = undefined;
  await new Promise((resolve, reject) =>
    get({ host: '127.0.0.1', port: server.port, path: '/users/%2e%2e/rooms' }, (res) =>
      res.resume().on('end', resolve),
    ).on('error', reject),
  );
  assert.deepEqual(lastSeen()?.params, { userId: '..' });
  // Unicode round-trips.
  await call('GET', `/users/${encodeURIComponent('@é☃:x')}/rooms`);
  assert.deepEqual(lastSeen()?.params, { userId: '@é☃:x' });
});

test('a malformed escape in a parameter is 400 M_INVALID_PARAM naming the parameter', async () => {
  for (const bad of ['%', '%zz', '%E0%A4%A', '%FF']) {
    const res = await call('GET', `/users/${bad}/rooms`);
    assert.equal(res.status, 400, bad);
    assert.equal(res.json.error, 'M_INVALID_PARAM', bad);
    assert.match(res.json.message, /userId/);
    assert.equal(lastSeen(), undefined, 'the handler is not called');
  }
});

test('the query is parsed with URLSearchParams: decoding, + as space, repeats kept', async () => {
  await call('GET', '/sync?user_id=%40u%2Bx%3Aexample.org&since=s1&timeout=30000&x=a+b&x=c');
  assert.deepEqual(lastSeen()?.query, {
    user_id: ['@u+x:example.org'],
    since: ['s1'],
    timeout: ['30000'],
    x: ['a b', 'c'],
  });
  await call('GET', '/sync');
  assert.deepEqual(lastSeen()?.query, {});
});

test('bigints in a response body are JSON strings, exactly', async () => {
  const res = await call('GET', '/big');
  assert.equal(res.text, '{"position":"18446744073709551617","list":["1","-5"],"nested":{"n":3}}');
});

test('status and headers from the handler; 204 has no body', async () => {
  const created = await call('POST', '/created', '{}');
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('x-thing'), 'yes');
  assert.deepEqual(created.json, {});
  const empty = await call('GET', '/empty');
  assert.equal(empty.status, 204);
  assert.equal(empty.text, '');
});

test('text results keep their own content type; a handler may write the response itself', async () => {
  const text = await call('GET', '/text');
  assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(text.text, 'hello\n');
  const self = await call('GET', '/self');
  assert.equal(self.status, 200);
  assert.equal(self.text, 'by hand');
});

test('an HttpError is answered as thrown', async () => {
  const res = await call('GET', '/teapot');
  assert.equal(res.status, 418);
  assert.deepEqual(res.json, { error: 'M_TEAPOT', message: 'short and stout' });
});

test('an unexpected error is 500 M_UNKNOWN with none of its text: no message (it may hold SQL), stack or properties', async () => {
  const res = await call('GET', '/boom');
  assert.equal(res.status, 500);
  assert.deepEqual(res.json, { error: 'M_UNKNOWN', message: 'internal server error' });
  assert.doesNotMatch(res.text, /hunter2|at |\.ts|insert/);
  const undef = await call('GET', '/undefined-body');
  assert.equal(undef.status, 500);
  assert.equal(undef.json.error, 'M_UNKNOWN');
});

test('a database that is down or restarting is 503 M_UNAVAILABLE with Retry-After, not the driver text', async () => {
  for (const path of ['/db-down', '/db-restarting']) {
    const res = await call('GET', path);
    assert.equal(res.status, 503, path);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.deepEqual(res.json, {
      error: 'M_UNAVAILABLE',
      message: 'the database is unavailable: retry shortly',
    });
  }
});

test('route() refuses malformed patterns and duplicates at once', () => {
  const r = new Router().route('GET', '/a/:id', () => ({ body: {} }));
  assert.throws(() => r.route('GET', '/a/:id', () => ({ body: {} })), /already defined/);
  assert.throws(() => r.route('GET', 'a/b', () => ({ body: {} })), /must start with/);
  assert.throws(() => r.route('GET', '/a/:x/:x', () => ({ body: {} })), /repeated parameter/);
  assert.throws(() => r.route('GET', '/a/:', () => ({ body: {} })), /bad parameter name/);
  // Same pattern, other method: fine.
  r.route('POST', '/a/:id', () => ({ body: {} }));
});
