/**
 * StreamCursor on a stream of its own (`notes`, created here; nothing of the chat application): every row
 * reaches deliver(), in position order and in bounded batches, from the head at the cursor's creation;
 * the cursor is stored and a restart resumes after it; an upsert moves a row and delivers it again; a
 * deliver() that throws is retried with nothing skipped, and a connection ended under it is replaced; and
 * rows committed while the reader's slot was dropped — which the reader never decodes — are still
 * delivered, read from the table after the reset.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { migrateLatest } from '../../src/migrations/migrator.ts';
import {
  CursorTableMissingError,
  PositionIndexMissingError,
  StreamCursor,
  StreamCursorOptionError,
  type StreamCursorOptions,
} from '../../src/reader/stream-cursor.ts';
import { StreamReader, type StreamReaderOptions } from '../../src/reader/stream-reader.ts';
import type { RowOf } from '../../src/streams/columns.ts';
import { tableStream } from '../../src/streams/define.ts';
import { CREATE_STREAM_HEAD } from '../../src/streams/stream-head.ts';
import { StreamSet } from '../../src/streams/stream-set.ts';
import { stopBeforeDrop } from '../support/cleanup.ts';
import { freshDatabase, query } from '../support/pg.ts';
import { prng } from '../support/prng.ts';
import { waitFor } from '../support/replication.ts';
import { writerFor } from '../support/runtime.ts';

const notes = tableStream({
  name: 'notes',
  position: 'position',
  columns: { id: 'text', author: 'text', body: 'text', tags: 'jsonb?', position: 'int8' },
});
type Note = RowOf<typeof notes.columns>;
const PUBLICATION = 'notes';

const url = await freshDatabase('stream_cursor');
await migrateLatest(url);
await query(
  url,
  `CREATE TABLE notes (id text PRIMARY KEY, author text NOT NULL, body text NOT NULL, tags jsonb,
  position bigint NOT NULL UNIQUE)`,
);
await query(url, 'ALTER TABLE notes REPLICA IDENTITY FULL'); // what a reader of the stream needs (deletes)
await migrateLatest(url, { streams: [notes], publication: PUBLICATION });
const writer = writerFor(url);
const random = prng(20261201);

/** Writes `count` notes by `author` in one transaction; their ids. */
async function write(author: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${author}-${i}-${random().toString(36).slice(2, 8)}`);
  await writer.transaction((tx) => {
    for (const [n, id] of ids.entries()) tx.insert(notes, { id, author, body: `note ${id}`, tags: { n } });
  });
  return ids;
}

async function startReader(slot: string, onUpdate?: StreamReaderOptions['onUpdate']): Promise<StreamReader> {
  const reader = await StreamReader.start({
    connectionString: url,
    slot,
    publication: PUBLICATION,
    streams: new StreamSet([notes]),
    onUpdate,
    subscription: { backoff: { initialMs: 50, maxMs: 500 } },
  });
  after(stopBeforeDrop(() => reader.close()));
  return reader;
}

/** A cursor whose deliver() records each accepted batch; closed after the file. */
async function follow(
  options: Omit<StreamCursorOptions<typeof notes.columns>, 'connectionString' | 'stream' | 'deliver'> & {
    deliver?: StreamCursorOptions<typeof notes.columns>['deliver'];
  },
) {
  const batches: Note[][] = [];
  const cursor = await StreamCursor.start({
    connectionString: url,
    stream: notes,
    backoff: { initialMs: 10, maxMs: 100 },
    ...options,
    deliver: async (rows, signal) => {
      await options.deliver?.(rows, signal);
      batches.push([...rows]);
    },
  });
  after(stopBeforeDrop(() => cursor.close()));
  const delivered = () => batches.flat();
  return { cursor, batches, delivered };
}

const storedCursor = async (name: string) =>
  (
    await query<{ position: string }>(url, 'SELECT position FROM slotstream_cursors WHERE name = $1', [name])
  )[0]?.position;

const positions = (rows: readonly Note[]) => rows.map((r) => r.position);
const increasing = (values: readonly bigint[]) =>
  values.every((v, i) => i === 0 || (values[i - 1] as bigint) < v);

const reader = await startReader('stream_cursor_main');

test('every row from the head on, in position order and in batches; the cursor is stored and resumed', async () => {
  const before = await write('early', 3);
  const { cursor, batches, delivered } = await follow({ reader, name: 'sink', batchSize: 7 });
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    ids.push(...(await write('alice', 1 + Math.floor(random() * 6))));
    // A transaction with no notes still takes a position: the cursor must pass it without a row.
    if (random() < 0.4) await writer.transaction((tx) => tx.invalidate('elsewhere', null));
  }
  await waitFor('every note delivered', async () => delivered().length >= ids.length);
  assert.deepEqual(
    delivered().map((r) => r.id),
    ids,
    'each note once, in the order written (one writer, so position order)',
  );
  assert.ok(increasing(positions(delivered())), 'in position order');
  assert.ok(
    delivered().every((r) => !before.includes(r.id)),
    'rows committed before the cursor existed are not delivered',
  );
  assert.ok(
    batches.every((b) => b.length >= 1 && b.length <= 7),
    'batches of at most batchSize',
  );
  // Rows as a reader decodes them: int8 a bigint, jsonb parsed.
  const first = delivered()[0] as Note;
  assert.equal(typeof first.position, 'bigint');
  assert.deepEqual(first.tags, { n: 0 });

  // The cursor catches up with the reader and is stored where its last batch ended.
  await waitFor('no lag', async () => cursor.stats.lag === 0n);
  assert.equal(cursor.stats.delivered, ids.length);
  assert.equal(cursor.stats.retries, 0);
  // Stored at the end of its last batch: the last note, or past it when the read reached positions without
  // notes (an invalidation-only transaction) too.
  const stored = BigInt((await storedCursor('sink')) ?? -1);
  const lastNote = positions(delivered()).at(-1) as bigint;
  assert.ok(stored >= lastNote && stored <= reader.position, `stored ${stored}, last note ${lastNote}`);

  // An upsert moves a delivered row to a new position: delivered again, as it is now.
  const moved = ids[0] as string;
  await writer.transaction((tx) =>
    tx.insert(notes, { id: moved, author: 'alice', body: 'edited', tags: null }, { onConflict: ['id'] }),
  );
  await waitFor('the edited note', async () => delivered().length === ids.length + 1);
  assert.deepEqual(
    { id: delivered().at(-1)?.id, body: delivered().at(-1)?.body, tags: delivered().at(-1)?.tags },
    { id: moved, body: 'edited', tags: null },
  );

  // Closed and started again under the same name: nothing again, only what is new.
  await cursor.close();
  const later = await write('bob', 2);
  const again = await follow({ reader, name: 'sink', batchSize: 7 });
  await waitFor('the new notes', async () => again.delivered().length >= 2);
  assert.deepEqual(
    again.delivered().map((r) => r.id),
    later,
  );

  // A new cursor from position 0 delivers the whole table, rows older than any cursor included.
  const backfill = await follow({ reader, name: 'backfill', from: 0n });
  const [table] = await query<{ ids: string[] }>(
    url,
    'SELECT array_agg(id ORDER BY position) AS ids FROM notes',
  );
  await waitFor('the whole table', async () => backfill.delivered().length >= (table?.ids.length ?? 0));
  assert.deepEqual(
    backfill.delivered().map((r) => r.id),
    table?.ids,
  );
  assert.ok(before.every((id) => table?.ids.includes(id)));
});

test('a deliver() that fails a few times is retried with the same rows: nothing skipped, nothing reordered', async () => {
  let calls = 0;
  const attempts: string[][] = [];
  const retries: { during: string; delayMs: number }[] = [];
  const { cursor, delivered } = await follow({
    reader,
    name: 'flaky',
    batchSize: 4,
    deliver: (rows) => {
      attempts.push(rows.map((r) => r.id));
      calls++;
      if (calls === 2 || calls === 3 || calls === 5) throw new Error(`sink unavailable (call ${calls})`);
    },
    onRetry: ({ during, delayMs }) => void retries.push({ during, delayMs }),
  });
  const ids = [...(await write('carol', 5)), ...(await write('carol', 6))];
  await waitFor('every note delivered', async () => delivered().length >= ids.length);
  assert.deepEqual(
    delivered().map((r) => r.id),
    ids,
  );
  assert.equal(cursor.stats.retries, 3);
  assert.deepEqual(
    retries.map((r) => r.during),
    ['deliver', 'deliver', 'deliver'],
  );
  // A failed call is followed by the very same rows.
  for (const failed of [2, 3, 5]) assert.deepEqual(attempts[failed], attempts[failed - 1]);
});

test('its connection ended under it (a server restart, a failover): it reconnects and misses nothing', async () => {
  const retries: string[] = [];
  const { cursor, delivered } = await follow({
    reader,
    name: 'reconnecting',
    onRetry: ({ during }) => void retries.push(during),
  });
  const first = await write('gina', 3);
  await waitFor('the first notes', async () => delivered().length >= 3);
  const ended = await query(
    url,
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'slotstream cursor reconnecting'",
  );
  assert.equal(ended.length, 1, "the cursor's session, found by its application_name");
  const second = await write('gina', 4);
  await waitFor('the notes written after', async () => delivered().length >= 7);
  assert.deepEqual(
    delivered().map((r) => r.id),
    [...first, ...second],
  );
  assert.ok(cursor.stats.reconnects >= 1, `reconnected (${cursor.stats.reconnects})`);
  assert.ok(retries.length >= 1 && retries.every((during) => during === 'database'));
});

test("rows committed while the reader's slot was dropped are delivered from the table after the reset", {
  timeout: 60_000,
}, async () => {
  const slot = 'stream_cursor_dropped';
  let stall: (() => void) | undefined;
  let stalled: () => void = () => {};
  const isStalled = new Promise<void>((resolve) => {
    stalled = resolve;
  });
  const decoded: string[] = [];
  const held = await startReader(slot, async (update) => {
    const row = update.row as Note | null;
    if (row === null) return;
    decoded.push(row.id);
    if (row.author === 'stall') {
      stalled();
      await new Promise<void>((resolve) => {
        stall = resolve;
      });
    }
  });
  const { delivered } = await follow({ reader: held, name: 'after_reset' });
  const first = await write('dave', 3);
  await waitFor('the first notes', async () => delivered().length >= 3);

  // The reader is held in the middle of a transaction, its walsender ended and its slot dropped.
  const stalledIds = await write('stall', 1);
  await isStalled;
  await query(url, 'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1', [
    slot,
  ]);
  await waitFor('the slot to be inactive', async () => {
    const [row] = await query<{ active: boolean }>(
      url,
      'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    return row?.active === false;
  });
  await query(url, 'SELECT pg_drop_replication_slot($1)', [slot]);
  // Committed while no slot exists: no slot will ever decode these.
  const unseen = await write('erin', 20);
  stall?.();

  await waitFor('the reset', async () => held.stats.resets === 1);
  const tail = await write('frank', 2);
  const all = [...first, ...stalledIds, ...unseen, ...tail];
  await waitFor('every note delivered', async () => delivered().length >= all.length);
  assert.deepEqual(
    delivered().map((r) => r.id),
    all,
  );
  assert.ok(
    unseen.every((id) => !decoded.includes(id)),
    'the reader never decoded the notes written while its slot was gone',
  );
});

test('a cursor kept on another server (a reader on a standby keeps it on the primary) is stored there', async () => {
  // Another database stands in for the primary: it has slotstream's schema, not the notes.
  const elsewhere = await freshDatabase('stream_cursor_store');
  await migrateLatest(elsewhere);
  const { cursor, delivered } = await follow({
    reader,
    name: 'kept_elsewhere',
    cursorConnectionString: elsewhere,
  });
  const ids = await write('carol', 3);
  await waitFor('the notes delivered', async () => delivered().length >= ids.length);
  await waitFor('the cursor stored', async () => {
    const [row] = await query<{ position: string }>(
      elsewhere,
      "SELECT position FROM slotstream_cursors WHERE name = 'kept_elsewhere'",
    );
    return row !== undefined && BigInt(row.position) === cursor.position;
  });
  assert.equal(await storedCursor('kept_elsewhere'), undefined, 'nothing stored where the rows are read');
});

test('start refuses what cannot work, with an error saying what to do', async () => {
  await query(url, 'CREATE TABLE scraps (id text PRIMARY KEY, position bigint NOT NULL)');
  const scraps = tableStream({
    name: 'scraps',
    position: 'position',
    columns: { id: 'text', position: 'int8' },
  });
  const base = { connectionString: url, reader, name: 'refused', deliver: () => {} };
  await assert.rejects(StreamCursor.start({ ...base, stream: scraps }), (error: unknown) => {
    assert.ok(error instanceof PositionIndexMissingError);
    assert.match(error.message, /CREATE INDEX CONCURRENTLY ON public\.scraps \("position"\)/);
    return true;
  });
  await assert.rejects(StreamCursor.start({ ...base, stream: notes, batchSize: 0 }), StreamCursorOptionError);

  // A database whose slotstream schema predates the cursors.
  const old = await freshDatabase('stream_cursor_old');
  for (const sql of CREATE_STREAM_HEAD) await query(old, sql);
  await query(
    old,
    'CREATE TABLE notes (id text, author text, body text, tags jsonb, position bigint PRIMARY KEY)',
  );
  await assert.rejects(
    StreamCursor.start({ ...base, connectionString: old, stream: notes }),
    (error: unknown) => error instanceof CursorTableMissingError && /slotstream migrate/.test(error.message),
  );
});
