/** The reader runtime and the writer API, wired to the reference application's streams, for tests. */

import { after } from 'node:test';
import knexFactory, { type Knex } from 'knex';
import { type ChatCaches, defineChatCaches } from '../../app/caches.ts';
import { migrateChat } from '../../app/schema.ts';
import { CHAT_STREAMS } from '../../app/streams.ts';
import { CacheRegistry } from '../../src/cache/registry.ts';
import { knexConfig } from '../../src/migrations/knex-config.ts';
import { CacheRules } from '../../src/reader/cache-rules.ts';
import { StreamReader, type StreamReaderOptions } from '../../src/reader/stream-reader.ts';
import type { StreamUpdate } from '../../src/streams/define.ts';
import { StreamSet } from '../../src/streams/stream-set.ts';
import { StreamWriter, type StreamWriterOptions } from '../../src/writer/stream-writer.ts';
import { stopBeforeDrop } from './cleanup.ts';
import { freshDatabase } from './pg.ts';

export const chatStreams = (): StreamSet => new StreamSet(CHAT_STREAMS);

/** A fresh, migrated database for this test file. Call at the top level of the file. */
export async function migratedDatabase(label: string): Promise<string> {
  const url = await freshDatabase(label);
  await migrateChat(url);
  return url;
}

/** A knex instance closed after the test (or file) that made it, before its database is dropped. */
export function knexFor(url: string, poolSize = 4): Knex {
  const config = knexConfig(url);
  const knex = knexFactory({ ...config, pool: { min: 0, max: poolSize } });
  after(stopBeforeDrop(() => knex.destroy()));
  return knex;
}

export function writerFor(
  url: string,
  options: StreamWriterOptions & { poolSize?: number } = {},
): StreamWriter {
  return new StreamWriter(knexFor(url, options.poolSize), options);
}

export interface TestReader {
  reader: StreamReader;
  caches: ChatCaches;
  updates: StreamUpdate[];
}

/** A reader on `slot` with the chat caches, recording every update it is handed (unless told not to). */
export async function startReader(
  url: string,
  slot: string,
  options: Partial<StreamReaderOptions> & { record?: boolean } = {},
): Promise<TestReader> {
  const rules = new CacheRules(new CacheRegistry());
  const caches = defineChatCaches(rules);
  const updates: StreamUpdate[] = [];
  const reader = await StreamReader.start({
    connectionString: url,
    slot,
    streams: chatStreams(),
    caches: rules,
    onUpdate: options.record === false ? undefined : (update) => void updates.push(update),
    onWarning: (error) => {
      throw error;
    },
    ...options,
  });
  // Closed at the end of the test that started it, or before its database is dropped, whichever is first.
  after(stopBeforeDrop(() => reader.close()));
  return { reader, caches, updates };
}

/** Events made by this process so far: what keeps their ids apart. */
let eventCount = 0;

export function event(room: string, n: number, extra: Record<string, unknown> = {}) {
  return {
    event_id: `$e${n}-${process.pid}-${++eventCount}`,
    room_id: room,
    type: 'm.room.message',
    state_key: null,
    sender: '@alice:test',
    content: { body: `message ${n}` },
    origin_server_ts: 1764151200000 + n,
    ...extra,
  };
}
