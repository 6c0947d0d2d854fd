/** app/http metrics endpoint and logger factory. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createLogger,
  createMetricsRegistry,
  metricsHandler,
  Router,
  startHttpServer,
} from '../../app/http/index.ts';

test('GET /metrics: Prometheus text with the registry content type and the default process metrics', async (t) => {
  const registry = createMetricsRegistry({ process: 'reader_1' });
  const router = new Router().route('GET', '/metrics', metricsHandler(registry));
  const server = await startHttpServer({
    port: 0,
    router,
    logger: createLogger('test', { level: 'silent' }),
  });
  t.after(() => server.close());
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), registry.contentType);
  assert.match(registry.contentType, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^# HELP process_cpu_user_seconds_total /m);
  assert.match(text, /^nodejs_eventloop_lag_seconds\{process="reader_1"\} /m);
  assert.match(text, /^process_resident_memory_bytes\{process="reader_1"\} \d+/m);
});

test('registries are independent: two in one process do not collide', async () => {
  const a = createMetricsRegistry();
  const b = createMetricsRegistry();
  assert.notEqual(a, b);
  assert.match(await a.metrics(), /process_cpu_user_seconds_total/);
  assert.match(await b.metrics(), /process_cpu_user_seconds_total/);
});

test('createLogger: JSON lines with name, ISO time and level; LOG_LEVEL picks the level', (t) => {
  const lines: Record<string, unknown>[] = [];
  const destination = { write: (line: string) => void lines.push(JSON.parse(line)) };
  const previous = process.env.LOG_LEVEL;
  t.after(() => {
    if (previous === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previous;
  });

  delete process.env.LOG_LEVEL;
  const info = createLogger('writer', { destination });
  assert.equal(info.level, 'info');
  info.debug('hidden');
  info.info({ port: 8008 }, 'listening');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.name, 'writer');
  assert.equal(lines[0]?.msg, 'listening');
  assert.equal(lines[0]?.port, 8008);
  assert.equal(lines[0]?.level, 30);
  assert.match(String(lines[0]?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  process.env.LOG_LEVEL = 'debug';
  assert.equal(createLogger('reader_1', { destination }).level, 'debug');
  assert.equal(createLogger('reader_1', { destination, level: 'warn' }).level, 'warn', 'the option wins');
  process.env.LOG_LEVEL = 'verbose';
  assert.throws(
    () => createLogger('reader_1'),
    /invalid log level "verbose" \(LOG_LEVEL\): use one of fatal/,
  );
});
