/**
 * The writer while its database is unreachable: requests are answered 503 M_UNAVAILABLE with Retry-After,
 * never with the driver's text, and writes go through again once the database is back, with no restart.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createLogger } from '../../app/http/index.ts';
import { startWriterApp } from '../../app/writer/app.ts';
import { WriterClient } from '../support/app-processes.ts';
import { EndpointProxy } from '../support/endpoint-proxy.ts';
import { waitFor } from '../support/replication.ts';
import { migratedDatabase } from '../support/runtime.ts';

const url = await migratedDatabase('app_outage');
/** A port nothing listens on: connections to it are refused at once, as to a server that is down. */
const NOWHERE = 'postgres://postgres@127.0.0.1:1/none';

test('while the database is unreachable the writer answers 503 with Retry-After, then writes again', async () => {
  const proxy = await EndpointProxy.start(url);
  after(() => proxy.close());
  const app = await startWriterApp({
    connectionString: proxy.url(url),
    port: 0,
    logger: createLogger('writer', { level: 'silent' }),
  });
  after(() => app.close());
  const room = '!outage:test';
  const writer = new WriterClient(() => app.url);
  await writer.join(room, '@a:test');
  const token = await writer.token('@a:test');
  const send = () =>
    fetch(`${app.url}/rooms/${encodeURIComponent(room)}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ sender: '@a:test', type: 'm.room.message', content: { body: 'hi' } }),
    });
  assert.equal((await send()).status, 200);

  proxy.moveTo(NOWHERE); // open connections are cut, new ones refused
  for (let i = 0; i < 3; i++) {
    const res = await send();
    const text = await res.text();
    assert.equal(res.status, 503, text);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.deepEqual(JSON.parse(text), {
      error: 'M_UNAVAILABLE',
      message: 'the database is unavailable: retry shortly',
    });
  }

  proxy.moveTo(url);
  await waitFor('a write to go through again', async () => (await send()).status === 200);
});
