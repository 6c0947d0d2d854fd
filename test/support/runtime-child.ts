/**
 * The entry of a StreamReader process (see runtime-process.ts, its parent side): the reader runtime with
 * the chat caches, wired as test/support/runtime.ts wires it, alone in its process so that its memory can
 * be measured. Driven over IPC (advanced serialization, so bigints travel as they are).
 *
 * argv: connectionString slot [logFile]
 * With logFile, appends one JSON line per event row handed to the reader (`{"p","id","room","content"}`),
 * with a synchronous write before its transaction is applied, and `{"applied":P}` each time the reader's
 * position moves: a kill -9 leaves on disk how far the process had received and applied (reader-log.ts
 * reads reader-process.ts's log, a slot's raw transactions; this is the runtime's).
 * Sends `{ type: 'ready', status }` once the reader has started (its slot exists: writes from then on are
 * decoded), then answers each request `{ id, cmd, ... }` with `{ type: 'reply', id, value }` or
 * `{ type: 'reply', id, error }`. A waiter's outcome comes later as `{ type: 'waited', waiter, result }`.
 * If the reader stops on its own, sends `{ type: 'failed', error }` and exits with 1.
 */
import { appendFileSync } from 'node:fs';
import { defineChatCaches } from '../../app/caches.ts';
import { eventsStream } from '../../app/streams.ts';
import { CacheRegistry } from '../../src/cache/registry.ts';
import { CacheRules } from '../../src/reader/cache-rules.ts';
import { StreamReader } from '../../src/reader/stream-reader.ts';
import type { SubscriptionStatus } from '../../src/replication/events.ts';
import { chatStreams } from './runtime.ts';

export type ChildRequest =
  | {
      cmd: 'populate';
      /** getEvent([id]) for each id; getRoomTimeline([room, limit]); getRoomsForUser([user]); getAccountData([user, type]). */
      events?: string[];
      timelines?: Array<[room: string, limit: string]>;
      users?: string[];
      accountData?: Array<[user: string, type: string]>;
    }
  | { cmd: 'wait'; waiter: string; keys: string[]; timeoutMs: number }
  | { cmd: 'waitForPosition'; position: bigint; timeoutMs: number }
  | { cmd: 'stats' }
  | { cmd: 'close' };

/** What `stats` (and `waitForPosition`, and `close`) answer. */
export interface ChildStats {
  reader: StreamReader['stats'];
  /** `registry.stats`: every cache with its size and counters. */
  caches: CacheRegistry['stats'];
  /** Key waiters registered on the ordered-position notifier. */
  waiters: number;
  statuses: SubscriptionStatus[];
  warnings: string[];
  /** process.resourceUsage().maxRSS: this process's peak resident set, in kilobytes. */
  maxRssKb: number;
}

export type ChildMessage =
  | { type: 'ready'; status: SubscriptionStatus | undefined }
  | { type: 'reply'; id: number; value?: unknown; error?: string }
  | { type: 'waited'; waiter: string; result: string }
  | { type: 'failed'; error: string };

/** Resolves once the message is handed to the IPC channel. */
const send = (message: ChildMessage) =>
  new Promise<void>((resolve) => {
    process.send?.(message, undefined, undefined, () => resolve());
  });

const [connectionString = '', slot = '', logFile] = process.argv.slice(2);
const log = (record: object) =>
  logFile &&
  appendFileSync(logFile, `${JSON.stringify(record, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\n`);
if (process.send === undefined) throw new Error('runtime-child.ts runs under fork(), with an IPC channel');

const rules = new CacheRules(new CacheRegistry());
const caches = defineChatCaches(rules);
const statuses: SubscriptionStatus[] = [];
const warnings: string[] = [];

const reader = await StreamReader.start({
  connectionString,
  slot,
  streams: chatStreams(),
  caches: rules,
  onUpdate: (update) => {
    if (eventsStream.is(update) && update.op === 'insert')
      log({
        p: update.position,
        id: update.row.event_id,
        room: update.row.room_id,
        content: update.row.content,
      });
  },
  onStatus: (status) => void statuses.push(status),
  onWarning: (error) => void warnings.push(error.message),
});
reader.done.then(
  () => {},
  (error: unknown) => {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    void send({ type: 'failed', error: text }).then(() => process.exit(1));
  },
);

function stats(): ChildStats {
  return {
    reader: reader.stats,
    caches: rules.registry.stats,
    waiters: reader.notifier.stats.waiters,
    statuses,
    warnings,
    maxRssKb: process.resourceUsage().maxRSS,
  };
}

async function handle(request: ChildRequest): Promise<unknown> {
  switch (request.cmd) {
    case 'populate': {
      for (const id of request.events ?? []) await caches.getEvent.getOrLoad([id], () => null);
      for (const key of request.timelines ?? []) await caches.getRoomTimeline.getOrLoad(key, () => []);
      for (const user of request.users ?? []) await caches.getRoomsForUser.getOrLoad([user], () => []);
      for (const key of request.accountData ?? []) await caches.getAccountData.getOrLoad(key, () => ({}));
      return rules.registry.stats;
    }
    case 'wait': {
      // Registered before the reply, with the token of everything applied so far.
      const result = reader.wait({ keys: request.keys, since: reader.token, timeoutMs: request.timeoutMs });
      result.then(
        (kind) => void send({ type: 'waited', waiter: request.waiter, result: kind }),
        (error: unknown) =>
          void send({ type: 'waited', waiter: request.waiter, result: `error: ${String(error)}` }),
      );
      return { token: reader.token };
    }
    case 'waitForPosition':
      await reader.waitForPosition(request.position, request.timeoutMs);
      return stats();
    case 'stats':
      return stats();
    case 'close':
      await reader.close();
      return stats();
  }
}

process.on('message', (message: { id: number } & ChildRequest) => {
  handle(message).then(
    async (value) => {
      await send({ type: 'reply', id: message.id, value });
      // Pending waiters' timers would keep us alive: a closed reader's process has nothing left to do.
      if (message.cmd === 'close') process.exit(0);
    },
    (error: unknown) => void send({ type: 'reply', id: message.id, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));

await send({ type: 'ready', status: statuses.filter((s) => s.event === 'connected').at(-1) });

// Each move of the position, logged as soon as the reader makes it (the waiter it wakes resolves first).
if (logFile)
  void (async () => {
    for (let at = reader.position; ; at = reader.position) {
      log({ applied: at });
      await reader.waitForPosition(at + 1n, 2 ** 31 - 1);
    }
  })().catch(() => {}); // the reader closed
