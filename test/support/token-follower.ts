/**
 * "No gaps in tokens" as a client sees it, for the tests that prove it (gap.test.ts, and on a standby
 * standby-reader.test.ts): writer connections committing events concurrently, and a client following a
 * reader's tokens the way /sync does, reading each window (since, next_batch] from the database.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { eventsStream } from '../../app/streams.ts';
import type { StreamReader } from '../../src/reader/stream-reader.ts';
import type { StreamToken } from '../../src/streams/token.ts';
import type { StreamWriter } from '../../src/writer/stream-writer.ts';
import { prng } from './prng.ts';
import { event } from './runtime.ts';

/** What `writeEvents` wrote: the highest position, and how the writers batched the transactions. */
export interface EventsWritten {
  finalPosition: bigint;
  transactions: number;
  /** Distinct transaction positions: one per database transaction, so fewer than `transactions` when batched. */
  batches: number;
}

/**
 * `target` events in transactions of 1 to 3 from `connections` concurrent clients spread over `writers`
 * (each batches its clients' transactions; the writers race each other for the allocation lock), each
 * event into a random room of `rooms`, with random work before each commit step.
 */
export async function writeEvents(
  writers: readonly StreamWriter[],
  options: { connections: number; target: number; rooms: readonly string[] },
): Promise<EventsWritten> {
  const { connections, target, rooms } = options;
  let written = 0;
  let transactions = 0;
  const positions = new Set<bigint>();
  const clients = Array.from({ length: connections }, async (_, w) => {
    const rnd = prng(w + 1);
    const writer = writers[w % writers.length] as StreamWriter;
    while (written < target) {
      const rows = Math.min(1 + Math.floor(rnd() * 3), target - written);
      written += rows;
      const { position } = await writer.transaction(async (tx) => {
        for (let i = 0; i < rows; i++)
          tx.insert(eventsStream, event(rooms[Math.floor(rnd() * rooms.length)] as string, i));
        // Work before the commit step, during which other clients queue or other writers commit.
        await sleep(rnd() < 0.3 ? Math.floor(rnd() * 4) : 0);
      });
      transactions++;
      positions.add(position);
    }
  });
  await Promise.all(clients);
  let finalPosition = 0n;
  for (const p of positions) if (p > finalPosition) finalPosition = p;
  return { finalPosition, transactions, batches: positions.size };
}

/**
 * Follows tokens until `writing` has settled and the reader has applied its final position, as a /sync
 * client would: wait for an update on `keys` after the token, take the reader's token as next_batch, read
 * the window from `url` (the server the reader decodes). Returns how often each event was read.
 */
export async function followTokens(
  url: string,
  reader: StreamReader,
  keys: readonly string[],
  writing: Promise<bigint>,
): Promise<Map<string, number>> {
  let finalPosition: bigint | undefined;
  // A failed write ends the following too; the caller sees the failure by awaiting `writing`.
  writing.then(
    (position) => {
      finalPosition = position;
    },
    () => {
      finalPosition = 0n;
    },
  );
  const client = new pg.Client(url);
  await client.connect();
  const seen = new Map<string, number>();
  let since: StreamToken = reader.token;
  try {
    for (;;) {
      const finished = finalPosition !== undefined && reader.position >= finalPosition;
      if (!finished) await reader.wait({ keys, since, timeoutMs: 200 });
      const next = reader.token;
      const { rows } = await client.query<{ event_id: string }>(
        'SELECT event_id FROM events WHERE stream_ordering > $1 AND stream_ordering <= $2',
        [since.position.toString(), next.position.toString()],
      );
      for (const row of rows) seen.set(row.event_id, (seen.get(row.event_id) ?? 0) + 1);
      since = next;
      if (finished) return seen;
    }
  } finally {
    await client.end();
  }
}

/** The events of `rooms` in `url` that `seen` never read, and those it read more than once. */
export async function unevenReads(
  url: string,
  rooms: readonly string[],
  seen: ReadonlyMap<string, number>,
): Promise<{ total: number; missing: string[]; repeated: string[] }> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows } = await client.query<{ event_id: string }>(
      'SELECT event_id FROM events WHERE room_id = ANY($1)',
      [rooms],
    );
    return {
      total: rows.length,
      missing: rows.map((r) => r.event_id).filter((id) => !seen.has(id)),
      repeated: [...seen].filter(([, n]) => n > 1).map(([id]) => id),
    };
  } finally {
    await client.end();
  }
}
