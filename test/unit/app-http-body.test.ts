/** app/http request bodies: the 64 KiB limit, not-JSON bodies, and what a refused upload does to its socket. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import {
  createLogger,
  type HttpServer,
  RequestAbortedError,
  Router,
  requireObject,
  startHttpServer,
} from '../../app/http/index.ts';

let server: HttpServer;
let handled = 0;
/** What `body()` rejected with on /slow-upload. */
let uploadFailure: ((reason: unknown) => void) | undefined;

before(async () => {
  const router = new Router()
    .route('POST', '/echo', async ({ body }) => {
      handled++;
      const json = requireObject(await body());
      // A second call gives the same value without reading again.
      assert.equal(await body(), json);
      return { body: { size: JSON.stringify(json).length } };
    })
    .route('POST', '/slow-upload', async ({ body }) => {
      try {
        return { body: await body() };
      } catch (err) {
        uploadFailure?.(err);
        throw err;
      }
    })
    .route('POST', '/ignore', () => ({ body: { ignored: true } }))
    .route('GET', '/ping', () => ({ body: { pong: true } }));
  server = await startHttpServer({ port: 0, router, logger: createLogger('test', { level: 'silent' }) });
});

after(() => server.close());

/** A JSON object whose serialisation is exactly `bytes` long. */
function jsonOfSize(bytes: number): string {
  const text = JSON.stringify({ pad: 'x'.repeat(bytes - 10) });
  assert.equal(text.length, bytes);
  return text;
}

type Body = RequestInit['body'];

async function post(path: string, body: Body, init: RequestInit = {}) {
  const res = await fetch(server.url + path, { method: 'POST', body, ...init });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

async function pingStillWorks() {
  const res = await fetch(`${server.url}/ping`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { pong: true });
}

test('a body of exactly 65,536 bytes is accepted', async () => {
  const res = await post('/echo', jsonOfSize(65_536));
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { size: 65_536 });
});

test('65,537 bytes is 400 M_TOO_LARGE with Connection: close, and the server serves the next request', async () => {
  const before = handled;
  const res = await post('/echo', jsonOfSize(65_537));
  assert.equal(res.status, 400);
  assert.equal(res.json.error, 'M_TOO_LARGE');
  assert.match(String(res.json.message), /65536 bytes/);
  assert.equal(res.headers.get('connection'), 'close');
  assert.equal(handled, before + 1);
  await pingStillWorks();
});

test('a chunked upload (no Content-Length) is cut off once it passes the limit', async () => {
  // 10 MB offered in 10 kB chunks; the server answers without waiting for the rest.
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= 10_000_000) return controller.close();
      sent += 10_000;
      controller.enqueue(new Uint8Array(10_000).fill(0x20));
    },
  });
  const res = await post('/echo', stream, { duplex: 'half' } as RequestInit);
  assert.equal(res.status, 400);
  assert.equal(res.json.error, 'M_TOO_LARGE');
  assert.ok(sent < 10_000_000, `the client was not made to send everything (sent ${sent})`);
  await pingStillWorks();
});

test('a large upload with Content-Length is refused before it is read, and the client gets the 400', async () => {
  const res = await post('/echo', new Uint8Array(20_000_000).fill(0x20));
  assert.equal(res.status, 400);
  assert.equal(res.json.error, 'M_TOO_LARGE');
  await pingStillWorks();
});

test('a refused upload does not leave its socket open', async () => {
  const socket = connect(server.port, '127.0.0.1');
  let response = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    response += chunk;
  });
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  // Announce 100 kB, send only 1 kB, and keep the connection open: the server must answer and close anyway.
  socket.write(
    `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n${' '.repeat(1000)}`,
  );
  await ended;
  assert.match(response, /^HTTP\/1\.1 400 /);
  assert.match(response, /\r\nConnection: close\r\n/i);
  assert.match(response, /"error":"M_TOO_LARGE"/);
});

test('empty, whitespace-only, invalid JSON and invalid UTF-8 bodies are 400 M_NOT_JSON', async () => {
  const cases: [string, Body, RegExp][] = [
    ['empty', '', /empty/],
    ['whitespace', ' \n\t', /empty/],
    ['syntax', '{"a":', /not valid JSON/],
    ['trailing garbage', '{"a":1} x', /not valid JSON/],
    ['not UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /UTF-8/],
  ];
  for (const [name, body, message] of cases) {
    const res = await post('/echo', body);
    assert.equal(res.status, 400, name);
    assert.equal(res.json.error, 'M_NOT_JSON', name);
    assert.match(String(res.json.message), message, name);
  }
});

test('JSON of the wrong shape is 400 M_BAD_JSON', async () => {
  for (const body of ['[]', '"text"', 'null', '42']) {
    const res = await post('/echo', body);
    assert.equal(res.status, 400, body);
    assert.equal(res.json.error, 'M_BAD_JSON', body);
    assert.match(String(res.json.message), /request body must be a JSON object/);
  }
});

test('a body the handler never reads does not stop the connection from serving the next request', async () => {
  const res = await post('/ignore', jsonOfSize(1000));
  assert.deepEqual(res.json, { ignored: true });
  await pingStillWorks();
});

test('a client that disconnects mid-upload makes body() reject with RequestAbortedError', async () => {
  const failed = new Promise<unknown>((resolve) => {
    uploadFailure = resolve;
  });
  const socket = connect(server.port, '127.0.0.1');
  socket.write('POST /slow-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"partial":');
  await new Promise((r) => setTimeout(r, 50));
  socket.destroy();
  const reason = await failed;
  assert.ok(reason instanceof RequestAbortedError);
  assert.equal(reason.why, 'client-closed');
  await pingStillWorks();
});
