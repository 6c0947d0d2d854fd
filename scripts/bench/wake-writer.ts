/**
 * The wake benchmark's writer (a child of scripts/bench/wake.ts, never run by hand): single-row
 * transactions through StreamWriter, each inserting one event into a random room, paced open-loop at the
 * target rate with up to `connections` in flight. StreamWriter batches the transactions that arrive while
 * one is being written (one database transaction, one commit). With `notify`, each transaction also calls
 * pg_notify(CHANNEL, room_id) before its commit step.
 *
 * Timestamps (CLOCK_MONOTONIC, see wake-protocol.ts): knex emits 'query' synchronously just before it hands
 * a statement to the connection, which writes it to the socket at once (the connection is otherwise idle
 * inside a transaction); a transaction's COMMIT is that of the batch that carried it.
 */
import knexFactory from 'knex';
import { eventsStream } from '../../app/streams.ts';
import { knexConfig } from '../../src/migrations/knex-config.ts';
import { StreamWriter } from '../../src/writer/stream-writer.ts';
import { prng } from '../../test/support/prng.ts';
import {
  CHANNEL,
  nowNs,
  roomId,
  type WriterGo,
  type WriterResult,
  type WriterStart,
} from './wake-protocol.ts';

async function run(options: WriterStart): Promise<WriterResult> {
  const { rate, total, connections, method } = options;
  const knex = knexFactory({ ...knexConfig(options.url), pool: { min: connections, max: connections } });
  try {
    const writer = new StreamWriter(knex);
    // Open every connection before the clock starts.
    await Promise.all(Array.from({ length: connections }, () => knex.raw('SELECT 1')));
    const go = new Promise<WriterGo>((resolve) => {
      process.on('message', (message: WriterGo) => {
        if (message.type === 'go') resolve(message);
      });
    });
    process.send?.({ type: 'ready' });
    const { t0Ns } = await go;

    // A batch's COMMIT is found by its knex transaction id, and that id by the batch's position, which the
    // commit step's last statement returns.
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
      writer
        .transaction(async (tx) => {
          if (method === 'notify') await tx.knex.raw('SELECT pg_notify(?, ?)', [CHANNEL, roomId(room)]);
          tx.insert(eventsStream, {
            event_id: `$w${i}-${options.writer}-${options.seed}-${method}`,
            room_id: roomId(room),
            type: 'm.room.message',
            state_key: null,
            sender: '@writer:bench',
            content: { body: `message ${i}` },
            origin_server_ts: 1764151200000 + i,
          });
        })
        .then(({ position }) => {
          result.commitReturnedNs[i] = nowNs();
          result.position[i] = Number(position);
          const txid = txOfPosition.get(String(position));
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
