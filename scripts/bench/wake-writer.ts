/**
 * The wake benchmark's writer (a child of scripts/bench/wake.ts, never run by hand): single-row
 * transactions, each inserting one event into a random room, paced open-loop at the target rate with up to
 * `connections` in flight.
 *
 *   slotstream, notify-async  through StreamWriter, which batches the transactions that arrive while one is
 *               being written (one database transaction, one asynchronous commit, then a wait for the
 *               flush); with notify-async, each also calls pg_notify before its commit step.
 *   notify      plain transactions, one per event, as a LISTEN/NOTIFY application writes: BEGIN; INSERT
 *               the event; SELECT pg_notify; COMMIT, with the session's synchronous_commit (on), so that
 *               the notification goes out only once the commit is flushed. The event goes to a copy of
 *               the events table (NOTIFY_EVENTS, same columns and indexes) with its position from a
 *               sequence (NOTIFY_POSITIONS), not from stream_head: that is what such an application has,
 *               stream_head's row lock, held through a synchronous COMMIT, would add a serialisation of its
 *               own to the one NOTIFY brings (its commit-order lock, also held through COMMIT), and the
 *               events table refuses positions slotstream_allocate did not hand out.
 *
 * Timestamps (CLOCK_MONOTONIC, see wake-protocol.ts): knex emits 'query' synchronously just before it hands
 * a statement to the connection, which writes it to the socket at once (the connection is otherwise idle
 * inside a transaction); a StreamWriter transaction's COMMIT is that of the batch that carried it.
 */
import knexFactory, { type Knex } from 'knex';
import { eventsStream } from '../../app/streams.ts';
import { knexConfig } from '../../src/migrations/knex-config.ts';
import { StreamWriter } from '../../src/writer/stream-writer.ts';
import { prng } from '../../test/support/prng.ts';
import {
  CHANNEL,
  NOTIFY_EVENTS,
  NOTIFY_POSITIONS,
  notifyPayload,
  nowNs,
  roomId,
  txNumber,
  type WriterGo,
  type WriterResult,
  type WriterStart,
} from './wake-protocol.ts';

/** Writes transaction `i`, one event in `room`; resolves once it is durable, with the event's position. */
type WriteOne = (i: number, room: number) => Promise<string>;

/** Transaction `i`'s event, the same whatever the method (its position aside). */
function eventRow(options: WriterStart, i: number, room: number) {
  return {
    event_id: `$w${i}-${options.writer}-${options.seed}-${options.method}`,
    room_id: roomId(room),
    type: 'm.room.message',
    state_key: null,
    sender: '@writer:bench',
    content: { body: `message ${i}` },
    origin_server_ts: 1764151200000 + i,
  };
}

const notifyArgs = (options: WriterStart, i: number, room: number) => [
  CHANNEL,
  notifyPayload(room, txNumber(i, options.writer, options.writers)),
];

function streamWriterTransactions(knex: Knex, options: WriterStart): WriteOne {
  const writer = new StreamWriter(knex);
  return async (i, room) => {
    const { position } = await writer.transaction(async (tx) => {
      if (options.method === 'notify-async')
        await tx.knex.raw('SELECT pg_notify(?, ?)', notifyArgs(options, i, room));
      tx.insert(eventsStream, eventRow(options, i, room));
    });
    return position.toString();
  };
}

/** It returns the event's position as `position`, the name run() finds a transaction's COMMIT by. */
const INSERT_EVENT = `INSERT INTO ${NOTIFY_EVENTS}
  (stream_ordering, event_id, room_id, type, state_key, sender, content, origin_server_ts)
  VALUES (nextval('${NOTIFY_POSITIONS}'), ?, ?, ?, ?, ?, ?, ?)
  RETURNING stream_ordering::text AS position`;

function plainTransactions(knex: Knex, options: WriterStart): WriteOne {
  return (i, room) =>
    knex.transaction(async (trx) => {
      const row = eventRow(options, i, room);
      const { rows } = await trx.raw<{ rows: { position: string }[] }>(INSERT_EVENT, [
        row.event_id,
        row.room_id,
        row.type,
        row.state_key,
        row.sender,
        JSON.stringify(row.content),
        row.origin_server_ts,
      ]);
      await trx.raw('SELECT pg_notify(?, ?)', notifyArgs(options, i, room));
      return (rows[0] as { position: string }).position;
    });
}

async function run(options: WriterStart): Promise<WriterResult> {
  const { rate, total, connections } = options;
  const knex = knexFactory({ ...knexConfig(options.url), pool: { min: connections, max: connections } });
  try {
    const write =
      options.method === 'notify'
        ? plainTransactions(knex, options)
        : streamWriterTransactions(knex, options);
    // Open every connection before the clock starts.
    await Promise.all(Array.from({ length: connections }, () => knex.raw('SELECT 1')));
    const go = new Promise<WriterGo>((resolve) => {
      process.on('message', (message: WriterGo) => {
        if (message.type === 'go') resolve(message);
      });
    });
    process.send?.({ type: 'ready' });
    const { t0Ns } = await go;

    // A transaction's COMMIT is found by its knex transaction id, and that id by its position, which a
    // statement of it returns as `position` (StreamWriter: the commit step's last, for the whole batch).
    const committedAt = new Map<string, number>();
    const txOfPosition = new Map<string, string>();
    knex.on('query', (query: { sql?: string; __knexTxId?: string }) => {
      if (query.sql === 'COMMIT;' && query.__knexTxId !== undefined)
        committedAt.set(query.__knexTxId, nowNs());
    });
    knex.on(
      'query-response',
      (response: { rows?: { position?: unknown }[] }, query: { __knexTxId?: string }) => {
        const position = response.rows?.[0]?.position;
        if (typeof position === 'string' && query.__knexTxId !== undefined)
          txOfPosition.set(position, query.__knexTxId);
      },
    );

    const random = prng(options.seed);
    const result: WriterResult = {
      type: 'result',
      warmup: options.warmup,
      position: new Array(total).fill(0),
      room: new Array(total).fill(0),
      dueNs: new Array(total).fill(0),
      startNs: new Array(total).fill(0),
      commitIssuedNs: new Array(total).fill(0),
      commitReturnedNs: new Array(total).fill(0),
      cpuSeconds: 0,
      loopBusy: 0,
    };
    const intervalNs = 1e9 / rate;
    const t0 = t0Ns + (options.writer / options.writers) * intervalNs;
    const cpu = process.cpuUsage();
    const elu = performance.eventLoopUtilization();

    let next = 0;
    let inFlight = 0;
    let finished = 0;
    let timer: NodeJS.Timeout | undefined;
    let failure: unknown;
    let done!: () => void;
    const allDone = new Promise<void>((resolve) => {
      done = resolve;
    });

    const launch = (i: number) => {
      const room = Math.floor(random() * options.rooms);
      result.room[i] = room;
      result.dueNs[i] = t0 + i * intervalNs;
      result.startNs[i] = nowNs();
      inFlight++;
      write(i, room)
        .then((position) => {
          result.commitReturnedNs[i] = nowNs();
          result.position[i] = Number(position);
          const txid = txOfPosition.get(position);
          const at = txid === undefined ? undefined : committedAt.get(txid);
          if (at === undefined) throw new Error(`transaction ${i}: its COMMIT was not seen`);
          result.commitIssuedNs[i] = at;
        })
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          inFlight--;
          if (++finished === total) done();
          else pump();
        });
    };

    /** Starts every transaction that is due, as connections allow; sleeps until the next one is due. */
    const pump = () => {
      if (failure !== undefined) return done();
      const now = nowNs();
      while (next < total && inFlight < connections && t0 + next * intervalNs <= now) launch(next++);
      if (next < total && inFlight < connections && timer === undefined) {
        const waitMs = Math.max(0, (t0 + next * intervalNs - now) / 1e6);
        timer = setTimeout(() => {
          timer = undefined;
          pump();
        }, waitMs);
      }
    };
    pump();
    await allDone;
    clearTimeout(timer);
    if (failure !== undefined) throw failure;
    const used = process.cpuUsage(cpu);
    result.cpuSeconds = (used.user + used.system) / 1e6;
    result.loopBusy = performance.eventLoopUtilization(elu).utilization;
    return result;
  } finally {
    await knex.destroy();
  }
}

process.once('message', (message: WriterStart) => {
  if (message.type !== 'start') return;
  run(message).then(
    (result) => {
      process.send?.(result, () => process.disconnect?.());
    },
    (error: unknown) => {
      console.error('wake-writer:', error);
      process.exit(1);
    },
  );
});
