/** app/http server lifecycle: abort signals for long-polls, graceful close, request logs, listening. */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import {
  createLogger,
  type HttpServer,
  RequestAbortedError,
  Router,
  startHttpServer,
} from '../../app/http/index.ts';
import { within } from '../support/wait-for.ts';

/** A logger that keeps its lines, parsed. */
function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('test', {
    level: 'debug',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

/** What a long-poll does with its signal (as Notifier.wait does): reject with the signal's reason. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** A promise and the function that resolves it. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A bound on what should happen at once: it fails the test naming the wait, it measures nothing. */
const BOUND_MS = 10_000;

const waitFor = async (condition: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), `timed out waiting for ${what}`);
};

test('the signal aborts when the client disconnects mid long-poll, freeing the waiter', async (t) => {
  const { logger, lines } = captureLogger();
  const started = deferred();
  const aborted = deferred<unknown>();
  const router = new Router().route('GET', '/sync', async ({ signal }) => {
    started.resolve();
    try {
      return await untilAborted(signal);
    } catch (reason) {
      aborted.resolve(reason);
      throw reason;
    }
  });
  const server = await startHttpServer({ port: 0, router, logger });
  t.after(() => server.close());

  const client = new AbortController();
  const poll = fetch(`${server.url}/sync?timeout=300000`, { signal: client.signal });
  await started.promise;
  client.abort();
  await assert.rejects(poll, { name: 'AbortError' });
  const reason = await aborted.promise;
  assert.ok(reason instanceof RequestAbortedError);
  assert.equal(reason.why, 'client-closed');
  // One debug line, no error line: a client going away is not a failure.
  await waitFor(() => lines.some((l) => l.msg === 'request'), 'the request line');
  const line = lines.find((l) => l.msg === 'request');
  assert.equal(line?.aborted, 'client-closed');
  assert.equal(line?.url, '/sync?timeout=300000');
  assert.ok(!lines.some((l) => (l.level as number) >= 40), 'no warning or error logged');
});

test('the signal does not abort when the response is sent normally', async (t) => {
  let signal: AbortSignal | undefined;
  const closed = deferred();
  const router = new Router().route('GET', '/quick', (ctx) => {
    signal = ctx.signal;
    // The server aborts on 'close' if at all, in a listener added before this one: by this one, it has decided.
    ctx.res.once('close', () => closed.resolve());
    return { body: {} };
  });
  const server = await startHttpServer({
    port: 0,
    router,
    logger: createLogger('test', { level: 'silent' }),
  });
  t.after(() => server.close());
  assert.equal((await fetch(`${server.url}/quick`)).status, 200);
  await closed.promise;
  assert.equal(signal?.aborted, false);
});

test('close() ends pending long-polls through their signals and lets other requests finish', async () => {
  const { logger, lines } = captureLogger();
  const polling = deferred();
  const answering = deferred();
  const slowStarted = deferred();
  const router = new Router()
    // Propagates the abort: the server answers 503 so the client retries elsewhere.
    .route('GET', '/wait', ({ signal }) => {
      polling.resolve();
      return untilAborted(signal);
    })
    // Catches it and answers normally, as /sync would with an empty batch.
    .route('GET', '/sync', async ({ signal }) => {
      answering.resolve();
      await untilAborted(signal).catch(() => {});
      return { body: { next_batch: 's7' } };
    })
    // Ignores the signal but finishes within the grace period.
    .route('POST', '/send', async () => {
      slowStarted.resolve();
      await new Promise((r) => setTimeout(r, 300));
      return { body: { event_id: '$e' } };
    });
  // A grace no test waits out: close() resolving at all shows it did not wait for it.
  const server = await startHttpServer({ port: 0, router, logger, shutdownGraceMs: 600_000 });

  const wait = fetch(`${server.url}/wait?position=9&timeout=300000`);
  const sync = fetch(`${server.url}/sync?since=s6&timeout=300000`);
  const send = fetch(`${server.url}/send`, { method: 'POST', body: '{}' });
  await Promise.all([polling.promise, answering.promise, slowStarted.promise]);

  const closed = server.close();
  assert.equal(server.close(), closed, 'close() is idempotent');

  const waitRes = await wait;
  assert.equal(waitRes.status, 503);
  assert.equal(waitRes.headers.get('connection'), 'close');
  assert.deepEqual(Object.keys((await waitRes.json()) as object), ['error', 'message']);
  const syncRes = await sync;
  assert.equal(syncRes.status, 200);
  assert.deepEqual(await syncRes.json(), { next_batch: 's7' });
  assert.equal(syncRes.headers.get('connection'), 'close');
  const sendRes = await send;
  assert.equal(sendRes.status, 200);
  assert.deepEqual(await sendRes.json(), { event_id: '$e' });

  await within(closed, BOUND_MS, 'close() to end without waiting for its grace');
  // A shutdown abort is expected: no error lines.
  assert.ok(!lines.some((l) => (l.level as number) >= 50), 'no error logged');
  // No longer listening.
  await assert.rejects(fetch(`${server.url}/sync`));
});

test('close() destroys connections still busy when the grace period ends', async () => {
  const started = deferred();
  const router = new Router().route('GET', '/stuck', async () => {
    started.resolve();
    return new Promise<never>(() => {}); // ignores its signal: a handler bug
  });
  const server = await startHttpServer({
    port: 0,
    router,
    logger: createLogger('test', { level: 'silent' }),
    shutdownGraceMs: 200,
  });
  const stuck = fetch(`${server.url}/stuck`);
  await started.promise;
  const t0 = performance.now();
  await within(server.close(), BOUND_MS, 'close() to end once its grace has run out');
  // A lower bound only, on the server's own timer: it let the request have its grace.
  const took = performance.now() - t0;
  assert.ok(took >= 190, `close() took ${took} ms, less than its 200 ms grace`);
  await assert.rejects(stuck);
});

test('close() closes idle keep-alive connections at once', async () => {
  const router = new Router().route('GET', '/ping', () => ({ body: {} }));
  // A keep-alive timeout no test waits out: the idle socket closing at all shows close() closed it.
  const server = await startHttpServer({
    port: 0,
    router,
    logger: createLogger('test', { level: 'silent' }),
    timeouts: { keepAliveMs: 600_000 },
  });
  const agent = new Agent({ keepAlive: true });
  let socketClosed = false;
  await new Promise<void>((resolve, reject) => {
    request(`${server.url}/ping`, { agent }, (res) => {
      res.socket.once('close', () => {
        socketClosed = true;
      });
      res.resume().on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
  assert.equal(socketClosed, false, 'the connection is kept alive');
  await within(server.close(), BOUND_MS, 'close() to end without waiting for the keep-alive timeout');
  await waitFor(() => socketClosed, 'the idle socket to close');
  agent.destroy();
});

test('one debug line per request; an unexpected error is logged at error level with its stack', async (t) => {
  const { logger, lines } = captureLogger();
  const router = new Router()
    .route('GET', '/ok', () => ({ body: {} }))
    .route('GET', '/boom', () => {
      throw new Error('kaput');
    });
  const server = await startHttpServer({ port: 0, router, logger });
  t.after(() => server.close());
  await (await fetch(`${server.url}/ok`)).text();
  await (await fetch(`${server.url}/missing`)).text();
  await (await fetch(`${server.url}/boom`)).text();
  await waitFor(() => lines.filter((l) => l.msg === 'request').length === 3, 'three request lines');
  const requests = lines.filter((l) => l.msg === 'request');
  assert.deepEqual(
    requests.map((l) => [l.level, l.method, l.url, l.status, l.code]),
    [
      [20, 'GET', '/ok', 200, undefined],
      [20, 'GET', '/missing', 404, 'M_NOT_FOUND'],
      [20, 'GET', '/boom', 500, 'M_UNKNOWN'],
    ],
  );
  assert.ok(
    requests.every((l) => typeof l.ms === 'number' && l.name === 'test' && typeof l.time === 'string'),
  );
  const errors = lines.filter((l) => l.level === 50);
  assert.equal(errors.length, 1);
  const err = errors[0]?.err as { message: string; stack: string };
  assert.equal(err.message, 'kaput');
  assert.match(err.stack, /app-http-server\.test\.ts/);
});

test('listens on 127.0.0.1 by default; a port in use is a clear error; a bad port is refused', async (t) => {
  const logger = createLogger('test', { level: 'silent' });
  const router = new Router();
  const server: HttpServer = await startHttpServer({ port: 0, router, logger });
  t.after(() => server.close());
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);
  assert.ok(server.port > 0);
  await assert.rejects(startHttpServer({ port: server.port, router, logger }), /in use by another process/);
  await assert.rejects(startHttpServer({ port: 70000, router, logger }), RangeError);
});

test('a client slower than the timeouts to send its request gets 408 and is closed; a long-poll answered after them is not cut', async (t) => {
  const release = deferred();
  const polling = deferred();
  const router = new Router().route('GET', '/poll', async () => {
    polling.resolve();
    await release.promise;
    return { body: { answered: true } };
  });
  const server = await startHttpServer({
    port: 0,
    router,
    logger: createLogger('test', { level: 'silent' }),
    timeouts: { headersMs: 100, requestMs: 100 },
  });
  t.after(() => server.close());
  const poll = fetch(`${server.url}/poll`);
  await polling.promise;

  // Opened after the poll was in: once the server has timed it out, the poll is past both timeouts too.
  const received = await new Promise<string>((resolve) => {
    let text = '';
    const socket = connect(server.port, '127.0.0.1', () => socket.write('GET /poll HTTP/1.1\r\nX-Slow: '));
    const dribble = setInterval(() => socket.write('x'), 20);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(dribble);
      resolve(text);
    });
  });
  assert.match(received, /^HTTP\/1\.1 408 /);

  release.resolve();
  const answer = await poll;
  assert.equal(answer.status, 200);
  assert.deepEqual(await answer.json(), { answered: true });
  // Headers longer than the whole request would mean no headers timeout: refused.
  const logger = createLogger('test', { level: 'silent' });
  const timeouts = { headersMs: 2, requestMs: 1 };
  await assert.rejects(startHttpServer({ port: 0, router, logger, timeouts }), RangeError);
});
